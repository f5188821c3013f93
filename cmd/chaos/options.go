package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// options are the harness's flags.
type options struct {
	only    string
	scans   int
	pgURL   string
	repo    string
	keep    bool
	quick   bool
	settle  time.Duration
	outage  time.Duration
	down    time.Duration
	dockerd string
}

// scenarioNames in the order they run.
var scenarioNames = []string{"crash-sqlite", "crash-postgres", "outage-refused", "outage-500", "docker-restart", "same-image", "slow-clients", "echoed-secrets"}

var errUsage = errors.New("usage")

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.only, "only", "", "scenarios to run, comma-separated: "+strings.Join(scenarioNames, ", ")+" (a prefix such as crash or outage runs each it starts); empty: all")
	fs.IntVar(&o.scans, "scans", 1000, "scans of each crash scenario")
	fs.StringVar(&o.pgURL, "postgres", getenv("SCANNER_TEST_POSTGRES_URL"), "PostgreSQL URL for crash-postgres (default $SCANNER_TEST_POSTGRES_URL); a schema of its own is made and dropped")
	fs.StringVar(&o.repo, "repo", ".", "the repository to build cmd/server and cmd/scan from")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, data dirs, answers) after the run")
	fs.BoolVar(&o.quick, "quick", false, "short outages and few scans: a smoke run of a minute or two")
	fs.DurationVar(&o.settle, "settle", 90*time.Second, "how long scans may take to all be final after the last fault ends")
	fs.DurationVar(&o.outage, "outage", 60*time.Second, "length of the analytics outages")
	fs.DurationVar(&o.down, "docker-down", 30*time.Second, "how long docker-restart keeps the second daemon stopped")
	fs.StringVar(&o.dockerd, "dockerd", "dockerd", "the dockerd binary of the second daemon")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if o.only != "" && len(selected(o.only)) == 0 {
		return o, fmt.Errorf("%w: -only %q names no scenario of %s", errUsage, o.only, strings.Join(scenarioNames, ", "))
	}
	if o.scans < 10 {
		return o, fmt.Errorf("%w: -scans must be at least 10", errUsage)
	}
	if o.quick {
		setIfUnset := func(name string, set func()) {
			seen := false
			fs.Visit(func(f *flag.Flag) { seen = seen || f.Name == name })
			if !seen {
				set()
			}
		}
		setIfUnset("scans", func() { o.scans = 100 })
		setIfUnset("outage", func() { o.outage = 15 * time.Second })
		setIfUnset("settle", func() { o.settle = 45 * time.Second })
		setIfUnset("docker-down", func() { o.down = 10 * time.Second })
	}
	if getenv("CI") == "true" && o.pgURL == "" && wants(o.only, "crash-postgres") {
		return o, errors.New("CI=true: crash-postgres needs PostgreSQL: set SCANNER_TEST_POSTGRES_URL or -postgres")
	}
	return o, nil
}

func selected(only string) []string {
	var out []string
	for _, n := range scenarioNames {
		if wants(only, n) {
			out = append(out, n)
		}
	}
	return out
}

// wants reports whether -only (a comma-separated list of names or their
// prefixes; empty for all) selects the scenario name.
func wants(only, name string) bool {
	if only == "" {
		return true
	}
	for _, p := range strings.Split(only, ",") {
		if p = strings.TrimSpace(p); p != "" && strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
