package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

var errUsage = errors.New("usage")

// group is one numbered group of the table's rows, which -only selects.
type group int

const (
	groupLimit   group = 1 // raw inspects: the limit
	groupE2E     group = 2 // end to end and accept→finished
	groupAccept  group = 3 // POST /scan open loop and the rate search
	groupReads   group = 4 // stored scans: seeding, RSS, GET /scan lists
	groupOneShot group = 5 // the one-shot scan beside docker image inspect
	groupImage   group = 6 // the image's size
)

// groupNames are -only's names of the groups, in the table's order.
var groupNames = []string{groupLimit: "limit", groupE2E: "e2e", groupAccept: "accept",
	groupReads: "reads", groupOneShot: "oneshot", groupImage: "image"}

// parseGroups reads -only: names or numbers, comma-separated; empty selects
// every group.
func parseGroups(v string) (map[group]bool, error) {
	sel := map[group]bool{}
	if strings.TrimSpace(v) == "" {
		for g := groupLimit; g <= groupImage; g++ {
			sel[g] = true
		}
		return sel, nil
	}
	for _, f := range strings.Split(v, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if n, err := strconv.Atoi(f); err == nil && n >= int(groupLimit) && n <= int(groupImage) {
			sel[group(n)] = true
			continue
		}
		i := slices.Index(groupNames, f)
		if f == "" || i < int(groupLimit) {
			return nil, fmt.Errorf("%w: -only %q: %q is not a group (%s, or 1-6)", errUsage, v, f, strings.Join(groupNames[1:], ", "))
		}
		sel[group(i)] = true
	}
	return sel, nil
}

// options is what a run measures, and how long each part runs.
type options struct {
	quick        bool
	skipPostgres bool
	postgresURL  string
	scans        int // end-to-end scans per backend, each of its own reference
	workers      int
	tagsPerImage int
	stored       int // stored scans for the memory and list figures
	out          string
	serverBin    string
	scanBin      string
	image        string
	logLevel     string

	inspectDur  time.Duration // each concurrency of the inspect limit
	latencyDur  time.Duration // the 50 scans/s run
	acceptDur   time.Duration // the 500/s accept run
	stepDur     time.Duration // each step of the accept-rate search
	stepRates   []float64
	listReqs    int // requests per list filter
	oneShotRuns int
	drainMax    time.Duration // the wait for the seeded scans' backlog
	seedMax     time.Duration // the time seeding may take
	// budget is the whole run's time the drain wait keeps within: it
	// ends, at the latest, afterDrain before the budget is spent (the
	// figures of 4 and 5 and the cleanup take the rest). Zero: no bound
	// but drainMax.
	budget     time.Duration
	cpuProfile string
	pprofDir   string

	// only is -only as given, "" for every group; groups is what it
	// selects.
	only   string
	groups map[group]bool
}

// selected says whether -only selects g.
func (o options) selected(g group) bool { return o.groups[g] }

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "small counts and short runs (under a minute): a smoke test, not a measurement")
	fs.BoolVar(&o.skipPostgres, "skip-postgres", false, "measure SQLite only")
	fs.IntVar(&o.scans, "scans", 0, "end-to-end scans per backend, each of a distinct image reference (default 1500, -quick 100)")
	fs.IntVar(&o.workers, "workers", 16, "SCANNER_WORKERS of the server under test, and the inspect concurrency it is compared with")
	fs.IntVar(&o.tagsPerImage, "tags-per-image", defaultTagsPerImage, "references per image (an inspect's cost grows with the image's tags)")
	fs.IntVar(&o.stored, "stored", 0, "stored scans for the memory and list figures (default 100000, -quick 500)")
	fs.StringVar(&o.out, "out", "", "also write the table, as markdown, to this file")
	fs.StringVar(&o.serverBin, "server-bin", "", "a built server binary (default: go build ./cmd/server)")
	fs.StringVar(&o.scanBin, "scan-bin", "", "a built scan binary (default: go build ./cmd/scan)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the suite's own side (load generation, stand-in) to this file")
	fs.StringVar(&o.pprofDir, "server-pprof-dir", "", "profile the server under test (SCANNER_PPROF_ADDR) during the end-to-end and 500/s accept runs; CPU profiles go to this directory")
	fs.StringVar(&o.only, "only", "", "measure only these row groups, comma-separated: limit, e2e, accept, reads, oneshot, image, or their numbers 1-6 (e2e without limit still measures the inspects at concurrency 1 and -workers, its limits)")
	fs.StringVar(&o.logLevel, "server-log-level", "info", "SCANNER_LOG_LEVEL of the server under test (its log goes to a temporary file)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: bench [flags]\n\nEnvironment: SCANNER_BENCH_POSTGRES_URL (else SCANNER_TEST_POSTGRES_URL) for PostgreSQL,\nSCANNER_BENCH_IMAGE for the image-size figure, DOCKER_HOST etc. for the daemon.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if o.scans < 0 || o.stored < 0 || o.workers < 1 || o.tagsPerImage < 1 {
		return o, fmt.Errorf("%w: -scans and -stored must not be negative, -workers and -tags-per-image must be at least 1", errUsage)
	}
	var err error
	if o.groups, err = parseGroups(o.only); err != nil {
		return o, err
	}
	if o.quick {
		o.scans = cmp(o.scans, 100)
		o.stored = cmp(o.stored, 500)
		o.inspectDur = 500 * time.Millisecond
		o.latencyDur = time.Second
		o.acceptDur = time.Second
		o.stepDur = 500 * time.Millisecond
		o.stepRates = []float64{100, 250, 500, 1000}
		o.listReqs = 20
		o.oneShotRuns = 3
		o.drainMax = 30 * time.Second
		o.seedMax = 60 * time.Second
		o.budget = 0
	} else {
		o.scans = cmp(o.scans, 1500)
		o.stored = cmp(o.stored, 100_000)
		o.inspectDur = 3 * time.Second
		o.latencyDur = 10 * time.Second
		o.acceptDur = 10 * time.Second
		o.stepDur = 3 * time.Second
		o.stepRates = []float64{100, 250, 500, 1000, 1500, 2000, 3000, 4000}
		o.listReqs = 200
		o.oneShotRuns = 11
		o.drainMax = 5 * time.Minute
		o.seedMax = 2 * time.Minute
		o.budget = 10 * time.Minute
	}
	o.postgresURL = getenv("SCANNER_BENCH_POSTGRES_URL")
	if o.postgresURL == "" {
		o.postgresURL = getenv("SCANNER_TEST_POSTGRES_URL")
	}
	o.image = getenv("SCANNER_BENCH_IMAGE")
	return o, nil
}

// cmp returns v, or def when v is zero.
func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
