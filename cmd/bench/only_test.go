package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
)

func TestOnlyParsesNamesAndNumbers(t *testing.T) {
	for _, c := range []struct {
		only string
		want []group
	}{
		{"", []group{1, 2, 3, 4, 5, 6}},
		{"limit,e2e,accept,reads,oneshot,image", []group{1, 2, 3, 4, 5, 6}},
		{"1,2,3", []group{groupLimit, groupE2E, groupAccept}},
		{"2,reads", []group{groupE2E, groupReads}},
		{" Accept , 6 ", []group{groupAccept, groupImage}},
		{"oneshot,oneshot", []group{groupOneShot}},
	} {
		o, err := parseOptions([]string{"-only", c.only}, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Errorf("-only %q: %v", c.only, err)
			continue
		}
		got := slices.Sorted(maps.Keys(o.groups))
		if !slices.Equal(got, c.want) {
			t.Errorf("-only %q selects %v, want %v", c.only, got, c.want)
		}
		for g := groupLimit; g <= groupImage; g++ {
			if o.selected(g) != slices.Contains(c.want, g) {
				t.Errorf("-only %q: selected(%d) = %v", c.only, g, o.selected(g))
			}
		}
	}
	for _, bad := range []string{"memory", "0", "7", "limit,,e2e", "1-3", ","} {
		_, err := parseOptions([]string{"-only", bad}, func(string) string { return "" }, io.Discard)
		if !errors.Is(err, errUsage) {
			t.Errorf("-only %q: err %v, want a usage error", bad, err)
		}
	}
}

// TestOnlyRuns runs the suite in -quick mode with a part of its groups
// selected: the table keeps every row, the unselected ones say so, and the
// end-to-end rows alone still measure the limits their ratio and latency
// are given against.
func TestOnlyRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs parts of the suite against the daemon")
	}
	dockertest.New(t) // skips by hand without a daemon, fails in CI
	runOnly := func(t *testing.T, only string) map[string]tableRow {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var stdout, stderr bytes.Buffer
		getenv := func(k string) string {
			if k == "SCANNER_BENCH_IMAGE" {
				return "" // row 6 says "not set" when selected
			}
			return os.Getenv(k)
		}
		args := []string{"-quick", "-skip-postgres", "-scans", "40", "-only", only, "-out", filepath.Join(t.TempDir(), "t.md")}
		if _, err := run(ctx, args, getenv, &stdout, &stderr); err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
		t.Logf("table:\n%s", stdout.String())
		if !strings.Contains(stdout.String(), "-only "+only) {
			t.Errorf("the table does not say it is -only %s", only)
		}
		return parseTable(t, stdout.String())
	}
	wantAll := []string{"1a", "1b", "1c", "1d", "1s", "2a", "2b", "2c", "2d", "3a", "3b",
		"4a", "4b", "4c", "4d", "4e", "4f", "5a", "5b", "6"}
	check := func(t *testing.T, rows map[string]tableRow, measured []string) {
		t.Helper()
		for _, id := range wantAll {
			r, ok := rows[id]
			switch {
			case !ok:
				t.Errorf("row %s is missing", id)
			case slices.Contains(measured, id):
				if strings.Contains(r.measured, "not selected") || strings.HasPrefix(r.measured, "error") {
					t.Errorf("row %s not measured: %s", id, r.measured)
				}
			case id == "2b" || id == "2d":
				// -skip-postgres or not selected: either way a skip.
				if !strings.HasPrefix(r.measured, "skipped") {
					t.Errorf("row %s: %s", id, r.measured)
				}
			default:
				if !strings.Contains(r.measured, notSelected) || r.verdict != verdictNotMeasured {
					t.Errorf("row %s not selected, yet: %s (%s)", id, r.measured, r.verdict)
				}
			}
		}
	}

	t.Run("e2e", func(t *testing.T) {
		rows := runOnly(t, "e2e")
		check(t, rows, []string{"1a", "1c", "1s", "2a", "2c"})
		if !strings.Contains(rows["1c"].figure, "concurrency 16") {
			t.Fatalf("row 1c is not the workers' concurrency: %s", rows["1c"].figure)
		}
		limit := numbers(t, rows["1c"].measured)[0]
		rate := numbers(t, rows["2a"].measured)[0]
		if got := numbers(t, rows["2a"].limit)[0]; got != limit || limit <= 0 {
			t.Errorf("row 2a: limit %v, row 1c says %v", got, limit)
		}
		if ratio := numbers(t, rows["2a"].ratio)[0]; math.Abs(ratio-100*rate/limit) > 1 {
			t.Errorf("row 2a: ratio %v%%, want %.0f%%", ratio, 100*rate/limit)
		}
		perInspect := 1e3 / numbers(t, rows["1a"].measured)[0]
		if got := numbers(t, rows["2c"].limit)[0]; math.Abs(got-perInspect) > 0.01 {
			t.Errorf("row 2c: %v ms per inspect, row 1a gives %.2f", got, perInspect)
		}
	})
	t.Run("accept,image", func(t *testing.T) {
		rows := runOnly(t, "accept,image")
		check(t, rows, []string{"1s", "3a", "3b", "6"})
		if a := numbers(t, rows["3a"].measured); a[0] <= 0 || a[0] > a[1] || a[1] > a[2] {
			t.Errorf("row 3a: p50/p99/max %v", a[:3])
		}
		if !strings.HasPrefix(rows["6"].measured, "n/a") {
			t.Errorf("row 6 without SCANNER_BENCH_IMAGE: %s", rows["6"].measured)
		}
		if rows["1s"].limit != "— ms per inspect at concurrency 1" {
			t.Errorf("row 1s without 1a: %s", rows["1s"].limit)
		}
	})
}
