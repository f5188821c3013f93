// Command server is the scan-request REST service: POST /scan queues a scan
// of an image on a durable queue, workers inspect the image on the Docker
// daemon and register its labels with the analytics server, and every
// result is stored and served. See the README and openapi.yaml; the
// program is internal/server.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/centos-pipeline/analytics-scanner/internal/server"
	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run maps arguments and the environment to the program and its outcome to
// an exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) == 0:
		var cfg server.Config
		if cfg, err = server.LoadConfig(); err == nil {
			cfg.Version = version.Get().Short()
			err = server.Run(ctx, cfg, stderr)
		}
	case len(args) == 1 && (args[0] == "--dev" || args[0] == "-dev"):
		var cfg server.Config
		if cfg, err = server.LoadDevConfig(); err == nil {
			cfg.Version = version.Get().Short()
			cfg.DevOut = stdout
			err = server.Run(ctx, cfg, stderr)
		}
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help":
		return exitOf(server.PrintUsage(stdout), stderr)
	case args[0] == "-version" || args[0] == "--version" || args[0] == "version":
		fmt.Fprintln(stdout, "server", version.Get())
		return 0
	case args[0] == "healthcheck" && len(args) <= 2:
		url := ""
		if len(args) == 2 {
			url = args[1]
		} else if url, err = server.HealthcheckURL(); err != nil {
			break
		}
		if err = server.Healthcheck(ctx, url); err == nil {
			fmt.Fprintln(stdout, "ok")
		}
	case args[0] == "healthcheck":
		fmt.Fprintf(stderr, "server: usage: healthcheck takes one URL, not %q\n", args[1:])
		return 2
	default:
		// One line and a hint: the whole table of variables would bury it.
		fmt.Fprintf(stderr, "server: usage: unexpected argument %q\nRun 'server --help' for usage.\n", args[0])
		return 2
	}
	return exitOf(err, stderr)
}

func exitOf(err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintln(stderr, "server:", err)
		return 1
	}
	return 0
}
