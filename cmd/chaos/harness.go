package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

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
