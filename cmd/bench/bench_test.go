package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
)

// TestQuickRun runs the whole suite in -quick mode against the real daemon
// (and PostgreSQL when one is named) and checks that the table has every
// row, that each figure is a plausible measurement consistent with the
// others, and that nothing the suite started is left behind.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the suite's quick run takes about half a minute")
	}
	d := dockertest.New(t) // skips by hand without a daemon, fails in CI
	args := []string{"-quick", "-out", filepath.Join(t.TempDir(), "table.md")}
	withPostgres := os.Getenv("SCANNER_BENCH_POSTGRES_URL") != "" || os.Getenv("SCANNER_TEST_POSTGRES_URL") != ""
	if !withPostgres {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL is required in CI: set SCANNER_TEST_POSTGRES_URL")
		}
		t.Log("no SCANNER_TEST_POSTGRES_URL: the PostgreSQL rows are skipped (set CI=true to make this a failure)")
		args = append(args, "-skip-postgres")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	res, err := run(ctx, args, os.Getenv, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	t.Logf("table:\n%s", stdout.String())
	file, err := os.ReadFile(args[2])
	if err != nil {
		t.Fatal(err)
	}
	if string(file) != stdout.String() {
		t.Error("-out does not hold the table printed on stdout")
	}

	rows := parseTable(t, stdout.String())
	want := []string{"1a", "1b", "1c", "1d", "1s", "2a", "2b", "2c", "2d", "3a", "3b",
		"4a", "4b", "4c", "4d", "4e", "4f", "5a", "5b", "6"}
	for _, id := range want {
		if _, ok := rows[id]; !ok {
			t.Errorf("row %s is missing", id)
		}
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d", len(rows), len(want))
	}
	for id, r := range rows {
		switch r.verdict {
		case verdictMet, verdictMissed, verdictNotMeasured, verdictNoTarget:
		default:
			t.Errorf("row %s: verdict %q", id, r.verdict)
		}
		if strings.HasPrefix(r.measured, "error") {
			t.Errorf("row %s: %s", id, r.measured)
		}
		if r.target != "" && r.verdict == verdictNoTarget {
			t.Errorf("row %s has a target but no verdict", id)
		}
	}

	// 1: the limit, at each concurrency, is a real rate.
	for _, id := range []string{"1a", "1b", "1c", "1d"} {
		if v := numbers(t, rows[id].measured); v[0] <= 0 {
			t.Errorf("row %s: inspect rate %v", id, v[0])
		}
	}
	if !strings.Contains(rows["1c"].figure, "concurrency 16") {
		t.Fatalf("row 1c is not the workers' concurrency: %s", rows["1c"].figure)
	}
	limit16 := numbers(t, rows["1c"].measured)[0]

	// 2: end to end beside the limit, and the ratio and verdict agree
	// with the two.
	backends := []string{"2a"}
	if withPostgres {
		backends = append(backends, "2b")
	} else if !strings.HasPrefix(rows["2b"].measured, "skipped") {
		t.Errorf("row 2b without PostgreSQL: %s", rows["2b"].measured)
	}
	for _, id := range backends {
		rate := numbers(t, rows[id].measured)[0]
		if rate <= 0 {
			t.Errorf("row %s: rate %v", id, rate)
		}
		if got := numbers(t, rows[id].limit)[0]; got != limit16 {
			t.Errorf("row %s: limit %v, row 1c says %v", id, got, limit16)
		}
		ratio := numbers(t, rows[id].ratio)[0]
		if math.Abs(ratio-100*rate/limit16) > 1 {
			t.Errorf("row %s: ratio %v%%, want %.0f%%", id, ratio, 100*rate/limit16)
		}
		if (ratio >= 70) != (rows[id].verdict == verdictMet) && math.Abs(ratio-70) > 1 {
			t.Errorf("row %s: ratio %v%% but verdict %s", id, ratio, rows[id].verdict)
		}
	}
	fins := []string{"2c"}
	if withPostgres {
		fins = append(fins, "2d")
	}
	for _, id := range fins {
		v := numbers(t, rows[id].measured)
		if v[0] <= 0 || v[0] > v[1] {
			t.Errorf("row %s: p50 %v, p99 %v", id, v[0], v[1])
		}
		if (v[0] <= 20) != (rows[id].verdict == verdictMet) {
			t.Errorf("row %s: p50 %v ms but verdict %s", id, v[0], rows[id].verdict)
		}
	}

	// 3: the accept path's percentiles are ordered, beside the health
	// check's, and the step search reports what it tried.
	a := numbers(t, rows["3a"].measured)
	if a[0] <= 0 || a[0] > a[1] || a[1] > a[2] {
		t.Errorf("row 3a: p50/p99/max %v", a[:3])
	}
	_, idleAndBusy, _ := strings.Cut(rows["3a"].limit, "idle:")
	idle, busy, ok := strings.Cut(idleAndBusy, "alongside:")
	if !ok {
		t.Errorf("row 3a limit lacks the idle and alongside health checks: %s", rows["3a"].limit)
	}
	for _, cell := range []string{idle, busy} {
		if h := numbers(t, cell); h[0] <= 0 || h[0] > h[1] || h[1] > h[2] {
			t.Errorf("row 3a limit: p50/p99/max %v in %q", h[:3], cell)
		}
	}
	if len(res.steps) == 0 || !strings.Contains(rows["3b"].figure, fmt.Sprintf("%.0f/s", res.steps[0].rate)) {
		t.Errorf("row 3b does not list the steps: %s", rows["3b"].figure)
	}

	// 4: memory and reads.
	if v := numbers(t, rows["4a"].measured); v[0] <= 0 {
		t.Errorf("row 4a: seeding rate %v", v[0])
	}
	// Every scan asked for is stored, through the push hook.
	if !strings.Contains(rows["4b"].figure, fmt.Sprintf("with %d stored scans", res.o.stored)) || !strings.Contains(rows["4a"].figure, "/hooks/distribution") {
		t.Errorf("rows 4a/4b: not every one of the %d scans stored through the hook: %s; %s", res.o.stored, rows["4a"].figure, rows["4b"].figure)
	}
	if v := numbers(t, rows["4b"].measured); v[0] < 1 || v[0] > v[1] {
		t.Errorf("row 4b: RSS %v MB, peak %v MB", v[0], v[1])
	}
	for _, id := range []string{"4c", "4d", "4e", "4f"} {
		if v := numbers(t, rows[id].measured); v[0] <= 0 {
			t.Errorf("row %s: p99 %v", id, v[0])
		}
	}

	// 5: the one-shot beside the docker CLI.
	w := numbers(t, rows["5a"].measured)[0]
	dw := numbers(t, rows["5a"].limit)[0]
	if w <= 0 || dw <= 0 || math.Abs(numbers(t, rows["5a"].ratio)[0]-w/dw) > 0.02 {
		t.Errorf("row 5a: %v ms vs %v ms, ratio %s", w, dw, rows["5a"].ratio)
	}
	if v := numbers(t, rows["5b"].measured); v[0] < 1 {
		t.Errorf("row 5b: peak RSS %v MiB", v[0])
	}
	if os.Getenv("SCANNER_BENCH_IMAGE") == "" && !strings.HasPrefix(rows["6"].measured, "n/a") {
		t.Errorf("row 6 without SCANNER_BENCH_IMAGE: %s", rows["6"].measured)
	}

	// Nothing left behind: no tag of the suite's repository, no child
	// process (the server subprocesses).
	lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer lcancel()
	left, err := d.Client.ImageList(lctx, image.ListOptions{
		Filters: filters.NewArgs(filters.Arg("reference", newBenchImages(nil, 1).repo+":*")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("%d images of the suite left on the daemon: %v", len(left), left[0].RepoTags)
	}
	if kids := children(t); kids != "" {
		t.Errorf("child processes left running: %s", kids)
	}
}

type tableRow struct {
	id, figure, measured, limit, ratio, target, verdict string
}

// parseTable reads the markdown table's rows by their id.
func parseTable(t *testing.T, table string) map[string]tableRow {
	t.Helper()
	rows := map[string]tableRow{}
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| # ") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 7 {
			t.Errorf("a row of %d cells: %q", len(cells), line)
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows[cells[0]] = tableRow{cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6]}
	}
	return rows
}

var number = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

// numbers returns the numbers in a cell, failing the test if it has none.
func numbers(t *testing.T, cell string) []float64 {
	t.Helper()
	var out []float64
	for _, m := range number.FindAllString(cell, -1) {
		v, err := strconv.ParseFloat(m, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		t.Fatalf("no number in %q", cell)
	}
	return append(out, 0, 0) // callers index up to [2] without a panic
}

// children lists this process's live child processes.
func children(t *testing.T) string {
	t.Helper()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", os.Getpid()))
	var out []string
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			out = append(out, strings.TrimSpace(string(b)))
		}
	}
	return strings.Join(out, " ")
}

func TestOpenLoopCountsFromTheSchedule(t *testing.T) {
	// Every call takes 30 ms; at 100/s for 200 ms an open loop still sends
	// all 20 on schedule (a closed loop of one caller would need 600 ms),
	// and each latency includes the full 30 ms.
	start := time.Now()
	lat := openLoop(context.Background(), 100, 200*time.Millisecond, func(context.Context, int) error {
		time.Sleep(30 * time.Millisecond)
		return nil
	})
	wall := time.Since(start)
	if len(lat.d) != 20 || lat.errors != 0 {
		t.Fatalf("%d calls, %d errors; want 20, 0", len(lat.d), lat.errors)
	}
	if wall > 450*time.Millisecond {
		t.Errorf("took %s: calls waited for each other", wall)
	}
	if p := lat.percentile(1); p < 30*time.Millisecond {
		t.Errorf("fastest latency %s, below the 30 ms each call took", p)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var l latencies
	for i := 1; i <= 100; i++ {
		l.d = append(l.d, time.Duration(101-i)*time.Millisecond) // unsorted
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.5, time.Millisecond}} {
		if got := l.percentile(c.p); got != c.want {
			t.Errorf("p%v = %s, want %s", c.p, got, c.want)
		}
	}
	if l.max() != 100*time.Millisecond {
		t.Errorf("max = %s", l.max())
	}
}
