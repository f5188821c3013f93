// Command chaos is the fault harness of the scan service: it builds the
// real server and one-shot, runs them as a black box against a scriptable
// analytics stand-in, a real Docker daemon (and a second one it stops and
// starts), SQLite and PostgreSQL, injects faults (kill -9, outages, slow
// clients, an analytics server echoing credentials) and prints one table
// row per scenario. It exits 1 when any expectation is missed.
//
// Run it with scripts/chaos.sh, which checks the prerequisites first.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit status: 0 all expectations
// met, 1 some missed, 2 usage error or a prerequisite missing.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version") {
		fmt.Fprintln(stdout, "chaos", version.Get())
		return 0
	}
	rows, err := runHarness(ctx, args, getenv, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	printTable(stdout, rows)
	for _, r := range rows {
		if !r.passed() {
			return 1
		}
	}
	return 0
}
