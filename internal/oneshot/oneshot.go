// Package oneshot is the program behind cmd/scan, the one-shot `atomic
// scan` scanner: it reads the git-url, git-sha and email-ids labels of each
// image atomic hands it, registers them with the analytics server and writes
// the results where atomic reads them. `scan install` and `scan uninstall`
// manage its atomic configuration.
package oneshot

import (
	"context"
	"io"

	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

// Exit codes, documented in the usage text.
const (
	exitOK           = 0
	exitUnsuccessful = 1 // only with --strict
	exitUsage        = 2
	exitWrite        = 3
	exitNotReady     = 4 // only with --strict: every unsuccessful scan was a report not ready yet
)

// Run is the whole program; it returns the exit code. getenv is the
// environment, so that tests pass their own.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "install":
			return runInstall(args[1:], getenv, stdout, stderr)
		case "uninstall":
			return runUninstall(args[1:], stdout, stderr)
		}
	}
	return runScan(ctx, args, getenv, stdout, stderr)
}

func versionString() string { return version.Get().String() }
