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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/probe"
	"github.com/centos-pipeline/analytics-scanner/internal/version"
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

// run maps arguments and the environment to the program.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	showVersion := flags.Bool("version", false, "")
	if err := flags.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return emulator.PrintUsage(stdout)
		}
		return fmt.Errorf("%w (see --help)", err)
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, "analytics-emulator", version.Get())
		return err
	}
	cfg, err := emulator.LoadProgramConfig()
	if err != nil {
		return err
	}
	switch cmd := flags.Arg(0); {
	case cmd == "":
		return emulator.Serve(ctx, cfg, stderr)
	case cmd == "healthcheck" && flags.NArg() <= 2:
		url := flags.Arg(1)
		if url == "" {
			if url, err = emulator.ReadinessURL(cfg.Addr); err != nil {
				return err
			}
		}
		if err := probe.Get(ctx, url, 5*time.Second); err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("unexpected arguments %q (see --help)", flags.Args())
	}
}
