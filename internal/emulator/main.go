package emulator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/probe"
	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

// Main is the `analytics-emulator` command (args[0] is its name): it maps
// arguments and the environment to the program. cmd/analytics-emulator and
// the image's multi-call binary both run it.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	showVersion := flags.Bool("version", false, "")
	if err := flags.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return PrintUsage(stdout)
		}
		return fmt.Errorf("%w (see --help)", err)
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, "analytics-emulator", version.Get())
		return err
	}
	cfg, err := LoadProgramConfig()
	if err != nil {
		return err
	}
	switch cmd := flags.Arg(0); {
	case cmd == "":
		return Serve(ctx, cfg, stderr)
	case cmd == "healthcheck" && flags.NArg() <= 2:
		url := flags.Arg(1)
		if url == "" {
			if url, err = ReadinessURL(cfg.Addr); err != nil {
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
