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
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

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

// harness is what every scenario shares.
type harness struct {
	opt       options
	log       io.Writer
	work      string // temp dir of this run
	runID     string
	serverBin string
	scanBin   string
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.log, "%s chaos: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// dir returns a fresh directory under the run's work dir.
func (h *harness) dir(name string) (string, error) {
	d := filepath.Join(h.work, name)
	return d, os.MkdirAll(d, 0o700)
}

func runHarness(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) ([]row, error) {
	opt, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "chaos-")
	if err != nil {
		return nil, err
	}
	h := &harness{opt: opt, log: stderr, work: work, runID: fmt.Sprintf("%d", os.Getpid())}
	global := &cleanups{log: stderr}
	defer global.run()
	if opt.keep {
		h.logf("work directory kept: %s", work)
	} else {
		global.add("remove "+work, func() error { return os.RemoveAll(work) })
	}
	start := time.Now()
	h.logf("building the server and the one-shot from %s", opt.repo)
	bin, err := h.dir("bin")
	if err != nil {
		return nil, err
	}
	if h.serverBin, h.scanBin, err = buildBinaries(ctx, opt.repo, bin); err != nil {
		return nil, err
	}
	if _, err := dockerCLI(ctx, "", 20*time.Second, nil, "version", "--format", "{{.Server.Version}}"); err != nil {
		return nil, fmt.Errorf("the Docker daemon does not answer: %w", err)
	}

	scenarios := map[string]func(context.Context, *cleanups) row{
		"crash-sqlite":   func(ctx context.Context, cl *cleanups) row { return h.crash(ctx, cl, false) },
		"crash-postgres": func(ctx context.Context, cl *cleanups) row { return h.crash(ctx, cl, true) },
		"outage-refused": func(ctx context.Context, cl *cleanups) row { return h.outage(ctx, cl, modeRefuse) },
		"outage-500":     func(ctx context.Context, cl *cleanups) row { return h.outage(ctx, cl, modeFail) },
		"docker-restart": h.dockerRestart,
		"same-image":     h.sameImage,
		"slow-clients":   h.slowClients,
		"echoed-secrets": h.echoedSecrets,
	}
	// The two outages only wait, so they run side by side: each has its
	// own stand-in and server.
	var rows []row
	names := selected(opt.only)
	for i := 0; i < len(names); i++ {
		name := names[i]
		if ctx.Err() != nil {
			rows = append(rows, row{name: name, notes: []string{"not run: interrupted"}, checks: []check{{name: "ran", ok: false}}})
			continue
		}
		group := []string{name}
		if name == "outage-refused" && i+1 < len(names) && names[i+1] == "outage-500" {
			group = append(group, names[i+1])
			i++
		}
		h.logf("scenario %s: start", strings.Join(group, " + "))
		results := make([]row, len(group))
		done := make(chan struct{}, len(group))
		for j, n := range group {
			go func() {
				defer func() { done <- struct{}{} }()
				cl := &cleanups{log: stderr}
				defer cl.run()
				results[j] = scenarios[n](ctx, cl)
				results[j].name = n
			}()
		}
		for range group {
			<-done
		}
		for _, r := range results {
			h.logf("scenario %s: %s in %s", r.name, map[bool]string{true: "met", false: "MISSED"}[r.passed()], r.took.Round(time.Second))
			rows = append(rows, r)
		}
	}
	h.logf("all done in %s", time.Since(start).Round(time.Second))
	return rows, nil
}

// check is one expectation of a scenario. needs names the issue-9 fix it
// waits for ("" when the server must meet it today), so that a run before
// the fixes says which misses are expected.
type check struct {
	name   string
	ok     bool
	needs  string
	detail string
}

// row is one scenario's line of the table.
type row struct {
	name                           string
	scans, succeeded, failed, lost int
	stuck, duplicates, reports     int
	skipped                        bool
	notes                          []string
	checks                         []check
	took                           time.Duration
}

func (r row) passed() bool {
	if r.skipped {
		return true
	}
	for _, c := range r.checks {
		if !c.ok {
			return false
		}
	}
	return len(r.checks) > 0
}

func (r *row) expect(name string, ok bool, needs string, detail string, args ...any) {
	r.checks = append(r.checks, check{name: name, ok: ok, needs: needs, detail: fmt.Sprintf(detail, args...)})
}

// fail records an error that kept the scenario from running to its end.
func (r *row) fail(err error) row {
	r.checks = append(r.checks, check{name: "ran to the end", ok: false, detail: err.Error()})
	return *r
}

func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tscans\tsucceeded\tfailed\tlost\tstuck\tduplicate registrations\terror reports delivered\tresult\tnotes")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.name, r.scans, r.succeeded, r.failed, r.lost, r.stuck,
			r.duplicates, r.reports, verdict(r), strings.Join(r.notes, "; "))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rows {
		for _, c := range r.checks {
			status := "ok    "
			if !c.ok {
				status = "MISSED"
			}
			needs := ""
			if !c.ok && c.needs != "" {
				needs = " [needs: " + c.needs + "]"
			}
			fmt.Fprintf(w, "%s %s: %s: %s%s\n", status, r.name, c.name, c.detail, needs)
		}
	}
}

func verdict(r row) string {
	switch {
	case r.skipped:
		return "skipped"
	case r.passed():
		return "pass"
	}
	return "FAIL"
}
