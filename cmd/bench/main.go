// Command bench is the service's benchmark suite. It treats the service as
// a black box: it builds the real server and scan binaries, starts the
// server as a subprocess against a real Docker daemon (and PostgreSQL when
// one is given), with an analytics stand-in on loopback that answers at
// once, and prints one table in which every figure stands beside its limit
// measured in the same run, and beside its target from issue 13.
//
//	go run ./cmd/bench [-quick] [-skip-postgres] [-only GROUPS] [-scans N] [-workers N] [-stored N] [-out FILE]
//
// -only measures some of the table's row groups (limit, e2e, accept, reads,
// oneshot, image, or 1-6), so that one part can be measured again in a
// minute; the other rows say "not selected".
//
// PostgreSQL is SCANNER_BENCH_POSTGRES_URL, else SCANNER_TEST_POSTGRES_URL;
// SCANNER_BENCH_IMAGE names an image whose size is reported. Everything it
// creates (server processes, image tags, a PostgreSQL schema, temporary
// files) is removed at the end, on error and on interrupt too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run is the whole program; main only wires it to the process, so that the
// test runs the suite in-process. It returns the figures it printed.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (*results, error) {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version") {
		_, err := fmt.Fprintln(stdout, "bench", version.Get())
		return nil, err
	}
	o, err := parseOptions(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	s := &suite{o: o, log: stderr}
	defer s.cleanup()
	res, err := s.measure(ctx)
	if err != nil {
		return nil, err
	}
	table := res.markdown()
	fmt.Fprint(stdout, table)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(table), 0o644); err != nil {
			return res, err
		}
	}
	return res, nil
}
