package server

import (
	"context"
	"fmt"
	"io"

	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

// Main is the `server` command: it maps arguments and the environment to
// the program and its outcome to an exit status. cmd/server and the image's
// multi-call binary both run it.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) == 0:
		var cfg Config
		if cfg, err = LoadConfig(); err == nil {
			cfg.Version = version.Get().Short()
			err = Run(ctx, cfg, stderr)
		}
	case len(args) == 1 && (args[0] == "--dev" || args[0] == "-dev"):
		var cfg Config
		if cfg, err = LoadDevConfig(); err == nil {
			cfg.Version = version.Get().Short()
			cfg.DevOut = stdout
			err = Run(ctx, cfg, stderr)
		}
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help":
		return exitOf(PrintUsage(stdout), stderr)
	case args[0] == "-version" || args[0] == "--version" || args[0] == "version":
		fmt.Fprintln(stdout, "server", version.Get())
		return 0
	case args[0] == "healthcheck" && len(args) <= 2:
		url := ""
		if len(args) == 2 {
			url = args[1]
		} else if url, err = HealthcheckURL(); err != nil {
			break
		}
		if err = Healthcheck(ctx, url); err == nil {
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
