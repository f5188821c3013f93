// Command scan is the one-shot `atomic scan` scanner: it reads the git-url,
// git-sha and email-ids labels of each image atomic hands it, registers them
// with the analytics server and writes the results where atomic reads them.
// `scan install` and `scan uninstall` manage its atomic configuration. The
// program is internal/oneshot.
//
// Run `scan --help` for usage, environment and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/centos-pipeline/analytics-scanner/internal/oneshot"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := oneshot.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
