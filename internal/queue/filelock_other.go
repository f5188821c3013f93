//go:build !unix

package queue

import "context"

// lockFile is a no-op where flock is missing: opening a new database from
// several processes at once may then fail once, and a restart succeeds.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
