// Command scan is the one-shot `atomic scan` scanner: it reads the git-url,
// git-sha and email-ids labels of each image atomic hands it, registers them
// with the analytics server and writes the results where atomic reads them.
// `scan install` and `scan uninstall` manage its atomic configuration.
//
// Run `scan --help` for usage, environment and exit codes.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// Exit codes, documented in the usage text.
const (
	exitOK           = 0
	exitUnsuccessful = 1 // only with --strict
	exitUsage        = 2
	exitWrite        = 3
)

// version is set at build time with -ldflags "-X main.version=..."; without
// it the module's build information is used.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code. Tests call it
// directly with their own environment and output buffers.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
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

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "devel"
}
