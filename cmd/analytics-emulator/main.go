// Command analytics-emulator serves an emulated fabric8 analytics server
// (package internal/emulator) for local stacks and end-to-end tests.
//
//	analytics-emulator                     serve, configured by EMULATOR_* variables
//	analytics-emulator healthcheck [URL]   exit 0 when URL answers 200
//	analytics-emulator --version           print the version and exit
//
// The healthcheck subcommand exists because the image has neither shell nor
// curl for a compose healthcheck to call.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "analytics-emulator:", err)
		os.Exit(1)
	}
}

// run is emulator.Main.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return emulator.Main(ctx, args, stdout, stderr)
}
