package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The targets of issue 13.
const (
	targetE2ERatio      = 0.70
	targetAcceptP99     = 10 * time.Millisecond
	targetStepP99       = 25 * time.Millisecond
	targetMaxRate       = 2000.0
	targetFinishP50     = 20 * time.Millisecond
	targetRSS           = 50e6 // bytes, decimal MB as docker reports
	targetListP99       = 10 * time.Millisecond
	targetOneShotRatio  = 1.0
	targetImageSize     = 20e6
	acceptRate          = 500
	fixedScanRate       = 50
	decimalMB           = 1e6
	mebibyte            = 1 << 20
	verdictMet          = "met"
	verdictMissed       = "missed"
	verdictNotMeasured  = "not measured"
	verdictNoTarget     = ""
	notMeasuredFallback = "—"
	notSelected         = "not selected (-only)"
)

// results are the figures of one run.
type results struct {
	o                 options
	machine           string
	started, finished time.Time
	loadAtEnd         string

	standInP50 time.Duration
	inspect    map[int]float64 // by concurrency
	backends   []backendResult

	healthz500  latencies // GET /healthz at 500/s, workers idle
	healthzBusy latencies // GET /healthz at 50/s alongside the accept run
	// acceptServerMean is the mean POST /scan time the server itself
	// measured (its HTTP histogram) during the 500/s run.
	acceptServerMean time.Duration
	accept500        latencies
	steps            []step
	// acceptErr is why the accept path could not be measured on a server
	// of its own (-only without the end-to-end rows).
	acceptErr error

	mem       memoryFigure
	oneShot   oneShotFigure
	imageSize int64
	imageErr  error
}

type backendResult struct {
	name    string
	skipped string
	err     error
	scans   int
	rate    float64 // end to end, scans/s
	// cpuPerScan is the server's CPU time (user + system) over the
	// end-to-end run, per scan, in seconds.
	cpuPerScan float64
	// attempt is the mean scan attempt (inspect, label check, register)
	// the server measured during the 50 scans/s run.
	attempt time.Duration
	finish  latencies // accept→finished at 50 scans/s
}

type step struct {
	rate   float64
	p99    time.Duration
	errors int
}

func (s step) held() bool { return s.errors == 0 && s.p99 <= targetStepP99 }

type memoryFigure struct {
	err      error
	stored   int
	seedRate float64
	drain    time.Duration
	backlog  int          // scans unfinished when the figures were taken
	lists    []listFigure // none, status, image, deep cursor
	healthz  latencies    // the same requests of GET /healthz: the limit
	rss, hwm int64
}

type listFigure struct {
	name string
	lat  latencies
}

type oneShotFigure struct {
	err                  error
	runs                 int
	scanWall, dockerWall float64 // seconds
	scanRSS, dockerRSS   float64 // bytes
}

// row is one line of the table.
type row struct {
	id, figure, measured, limit, ratio, target, verdict string
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// msTarget writes a target in whole milliseconds.
func msTarget(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// inspectRowID is the id of the limit row at concurrency c.
func inspectRowID(workers, c int) string {
	return fmt.Sprintf("1%c", 'a'+slices.Index(inspectConcurrencies(workers), c))
}

func verdict(ok bool) string {
	if ok {
		return verdictMet
	}
	return verdictMissed
}

// maxHeld is the highest step rate held, and whether any was.
func (r *results) maxHeld() (float64, bool) {
	best, any := 0.0, false
	for _, s := range r.steps {
		if !s.held() {
			break
		}
		best, any = s.rate, true
	}
	return best, any
}

func (r *results) rows() []row {
	var rows []row
	for i, c := range inspectConcurrencies(r.o.workers) {
		measured, verdict := notSelected, verdictNotMeasured
		if rate, ok := r.inspect[c]; ok {
			measured, verdict = fmt.Sprintf("%.0f/s", rate), verdictNoTarget
		}
		rows = append(rows, row{id: fmt.Sprintf("1%c", 'a'+i),
			figure:   fmt.Sprintf("raw image inspects/s through the Docker API, concurrency %d", c),
			measured: measured, limit: "(the limit)", verdict: verdict})
	}
	rows = append(rows, row{id: "1s", figure: "analytics stand-in: POST /register p50, one caller (must be ≪ an inspect)",
		measured: ms(r.standInP50) + " ms", limit: fmt.Sprintf("%s ms per inspect at concurrency 1", r.perInspect())})

	limit := r.inspect[r.o.workers]
	for i, b := range r.backends {
		id := fmt.Sprintf("2%c", 'a'+i)
		e2e := row{id: id, figure: fmt.Sprintf("end to end, %s: scans/s from the first POST /scan (32 callers) to the last registration (%d scans of distinct references, %d workers)", b.name, b.scans, r.o.workers),
			limit: fmt.Sprintf("%.0f/s (%s: inspects at concurrency %d)", limit, inspectRowID(r.o.workers, r.o.workers), r.o.workers), target: fmt.Sprintf("≥ %.0f%% of the limit", targetE2ERatio*100)}
		switch {
		case b.skipped != "":
			e2e.measured, e2e.verdict = "skipped: "+b.skipped, verdictNotMeasured
		case b.rate == 0:
			e2e.measured, e2e.verdict = "error: "+oneLine(b.err), verdictNotMeasured
		default:
			e2e.measured = fmt.Sprintf("%.0f/s (server CPU %.2f ms per scan)", b.rate, b.cpuPerScan*1e3)
			e2e.ratio = fmt.Sprintf("%.0f%%", 100*b.rate/limit)
			e2e.verdict = verdict(b.rate >= targetE2ERatio*limit)
		}
		rows = append(rows, e2e)
	}
	rows = append(rows, r.finishRows()...)

	a := row{id: "3a", figure: fmt.Sprintf("POST /scan p50 / p99 / max, open loop at %d/s, workers busy, SQLite (each a new scan of an absent image, failed by a worker at the daemon's 404)", acceptRate),
		limit: fmt.Sprintf("GET /healthz of the same server at %d/s, workers idle: %s; at %d/s alongside: %s",
			acceptRate, latencyTriple(r.healthz500), acceptRate/10, latencyTriple(r.healthzBusy)),
		target: fmt.Sprintf("p99 ≤ %s ms", msTarget(targetAcceptP99))}
	switch {
	case !r.o.selected(groupAccept):
		a.measured, a.verdict = notSelected, verdictNotMeasured
	case r.acceptErr != nil:
		a.measured, a.verdict = "error: "+oneLine(r.acceptErr), verdictNotMeasured
	case len(r.accept500.d) == 0:
		a.measured, a.verdict = "not run (see 2a)", verdictNotMeasured
	default:
		a.measured = latencyTriple(r.accept500)
		if r.accept500.errors > 0 {
			a.measured += fmt.Sprintf(", %d errors", r.accept500.errors)
		}
		if r.acceptServerMean > 0 {
			a.measured += fmt.Sprintf(" (server-side mean %s ms)", ms(r.acceptServerMean))
		}
		a.verdict = verdict(r.accept500.errors == 0 && r.accept500.percentile(99) <= targetAcceptP99)
	}
	rows = append(rows, a)
	var tried []string
	for _, s := range r.steps {
		mark := "✓"
		if !s.held() {
			mark = "✗"
		}
		tried = append(tried, fmt.Sprintf("%.0f/s %s ms%s", s.rate, ms(s.p99), mark))
	}
	b := row{id: "3b", figure: fmt.Sprintf("highest POST /scan rate held with p99 ≤ %s ms (steps of %s: %s)", msTarget(targetStepP99), r.o.stepDur, strings.Join(tried, ", ")),
		limit: fmt.Sprintf("steps up to %.0f/s", r.o.stepRates[len(r.o.stepRates)-1]), target: fmt.Sprintf("≥ %.0f/s", targetMaxRate)}
	if best, ok := r.maxHeld(); ok {
		b.measured, b.verdict = fmt.Sprintf("%.0f/s", best), verdict(best >= targetMaxRate)
	} else if len(r.steps) > 0 {
		b.measured, b.verdict = fmt.Sprintf("< %.0f/s", r.steps[0].rate), verdictMissed
	} else {
		b.measured, b.verdict = a.measured, verdictNotMeasured
	}
	rows = append(rows, b)

	rows = append(rows, r.memoryRows()...)
	rows = append(rows, r.oneShotRows()...)

	img := row{id: "6", figure: "image size (docker image inspect, SCANNER_BENCH_IMAGE)", target: fmt.Sprintf("≤ %.0f MB", float64(targetImageSize)/decimalMB)}
	switch {
	case !r.o.selected(groupImage):
		img.measured, img.verdict = notSelected, verdictNotMeasured
	case r.o.image == "":
		img.measured, img.verdict = "n/a (SCANNER_BENCH_IMAGE not set)", verdictNotMeasured
	case r.imageErr != nil:
		img.measured, img.verdict = "error: "+oneLine(r.imageErr), verdictNotMeasured
	default:
		img.figure = fmt.Sprintf("image size of %s (docker image inspect)", r.o.image)
		img.measured = fmt.Sprintf("%.1f MB", float64(r.imageSize)/decimalMB)
		img.verdict = verdict(r.imageSize <= targetImageSize)
	}
	rows = append(rows, img)
	return rows
}

func (r *results) finishRows() []row {
	var rows []row
	for i, b := range r.backends {
		fin := row{id: fmt.Sprintf("2%c", 'a'+len(r.backends)+i),
			figure: fmt.Sprintf("accept→finished p50 / p99 at %d scans/s, %s (record created_at → finished_at)", fixedScanRate, b.name),
			limit:  fmt.Sprintf("%s ms per inspect (1a)", r.perInspect()), target: fmt.Sprintf("p50 ≤ %s ms", msTarget(targetFinishP50))}
		switch {
		case b.skipped != "":
			fin.measured, fin.verdict = "skipped: "+b.skipped, verdictNotMeasured
		case b.err != nil:
			fin.measured, fin.verdict = "error: "+oneLine(b.err), verdictNotMeasured
		default:
			fin.measured = fmt.Sprintf("%s / %s ms", ms(b.finish.percentile(50)), ms(b.finish.percentile(99)))
			fin.verdict = verdict(b.finish.percentile(50) <= targetFinishP50)
			if b.attempt > 0 {
				fin.limit += fmt.Sprintf("; the attempt itself (server's histogram) %s ms mean", ms(b.attempt))
			}
		}
		rows = append(rows, fin)
	}
	return rows
}

func (r *results) memoryRows() []row {
	m := r.mem
	if !r.o.selected(groupReads) {
		m.stored = r.o.stored // the figures' names say what a run would store
	}
	how := fmt.Sprintf("through POST /hooks/distribution, notifications of %d pushes, %d at a time, SQLite (each a push to an empty registry on loopback, failed by a worker at its 404)", seedBatch, seedNotifiers)
	seed := row{id: "4a", figure: fmt.Sprintf("seeding: %d scans %s", m.stored, how)}
	if m.stored < r.o.stored && m.err == nil && r.o.selected(groupReads) {
		seed.figure = fmt.Sprintf("seeding %s: %d of the %d asked for within %s", how, m.stored, r.o.stored, r.o.seedMax)
	}
	workers := ""
	if m.seedRate > 0 {
		seed.measured = fmt.Sprintf("%.0f/s", m.seedRate)
		if m.backlog == 0 {
			seed.limit = fmt.Sprintf("the workers' backlog done %.1f s after the last notification: 4b–4f are taken with the workers idle", m.drain.Seconds())
			workers = ", workers idle"
		} else {
			seed.limit = fmt.Sprintf("%d scans still unfinished %.0f s after the last notification (the run's time budget): 4b–4f are taken with the workers busy", m.backlog, m.drain.Seconds())
			workers = fmt.Sprintf(", workers busy (%d scans unfinished)", m.backlog)
		}
	}
	mem := row{id: "4b", figure: fmt.Sprintf("server RSS / peak (VmRSS / VmHWM) with %d stored scans, SQLite%s", m.stored, workers),
		target: fmt.Sprintf("RSS ≤ %.0f MB", float64(targetRSS)/decimalMB)}
	if m.rss > 0 {
		mem.measured = fmt.Sprintf("%.1f / %.1f MB", float64(m.rss)/decimalMB, float64(m.hwm)/decimalMB)
		mem.verdict = verdict(m.rss <= targetRSS)
	}
	rows := []row{seed, mem}
	for j, name := range []string{"none", "status=failed", "image=<one of them>", "deep cursor"} {
		l := row{id: fmt.Sprintf("4%c", 'c'+j), figure: fmt.Sprintf("GET /scan p99, filter %s, %d stored, one caller%s", name, m.stored, workers),
			target: fmt.Sprintf("p99 ≤ %s ms", msTarget(targetListP99))}
		if j < len(m.lists) {
			got := m.lists[j]
			l.figure = fmt.Sprintf("GET /scan p99, filter %s, %d stored, one caller%s", got.name, m.stored, workers)
			l.limit = "GET /healthz p99 " + ms(m.healthz.percentile(99)) + " ms"
			if got.lat.errors > 0 {
				l.measured, l.verdict = fmt.Sprintf("%d errors: %s", got.lat.errors, oneLine(got.lat.firstErr)), verdictMissed
			} else {
				l.measured = ms(got.lat.percentile(99)) + " ms"
				l.verdict = verdict(got.lat.percentile(99) <= targetListP99)
			}
		}
		rows = append(rows, l)
	}
	for k := range rows {
		if rows[k].measured == "" {
			rows[k].measured, rows[k].verdict = "not measured", verdictNotMeasured
			if !r.o.selected(groupReads) {
				rows[k].measured = notSelected
			}
			if m.err != nil {
				rows[k].measured = "error: " + oneLine(m.err)
			}
		}
	}
	return rows
}

func (r *results) oneShotRows() []row {
	o := r.oneShot
	wall := row{id: "5a", figure: fmt.Sprintf("one-shot `scan` wall, median of %d runs", r.o.oneShotRuns), target: "≤ 1× docker image inspect"}
	rss := row{id: "5b", figure: fmt.Sprintf("one-shot `scan` peak RSS (GNU time %%M), median of %d runs", r.o.oneShotRuns)}
	if o.err != nil || o.runs == 0 {
		msg := "not run"
		if !r.o.selected(groupOneShot) {
			msg = notSelected
		}
		if o.err != nil {
			msg = "error: " + oneLine(o.err)
		}
		wall.measured, wall.verdict = msg, verdictNotMeasured
		rss.measured, rss.verdict = msg, verdictNotMeasured
		return []row{wall, rss}
	}
	wall.measured = fmt.Sprintf("%.1f ms", o.scanWall*1e3)
	wall.limit = fmt.Sprintf("`docker image inspect` %.1f ms", o.dockerWall*1e3)
	wall.ratio = fmt.Sprintf("%.2f×", o.scanWall/o.dockerWall)
	wall.verdict = verdict(o.scanWall <= targetOneShotRatio*o.dockerWall)
	if o.scanRSS == 0 {
		rss.measured, rss.verdict = "n/a (no "+gnuTime+")", verdictNotMeasured
		return []row{wall, rss}
	}
	rss.measured = fmt.Sprintf("%.1f MiB", o.scanRSS/mebibyte)
	rss.limit = fmt.Sprintf("`docker image inspect` %.1f MiB", o.dockerRSS/mebibyte)
	rss.ratio = fmt.Sprintf("%.2f×", o.scanRSS/o.dockerRSS)
	return []row{wall, rss}
}

func latencyTriple(l latencies) string {
	if len(l.d) == 0 {
		return notMeasuredFallback
	}
	return fmt.Sprintf("%s / %s / %s ms", ms(l.percentile(50)), ms(l.percentile(99)), ms(l.max()))
}

// perInspect is the time of one inspect at concurrency 1 (row 1a), in ms, or
// a dash when 1a was not measured.
func (r *results) perInspect() string {
	rate, ok := r.inspect[1]
	if !ok {
		return notMeasuredFallback
	}
	return ms(perOp(rate))
}

func perOp(rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / rate)
}

func oneLine(err error) string {
	if err == nil {
		return ""
	}
	s := strings.Join(strings.Fields(err.Error()), " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// markdown is the table, with the machine and the command line above it.
func (r *results) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s, at the end %s. Run %s, %s.\n", r.machine, r.loadAtEnd, r.started.UTC().Format("2006-01-02 15:04 MST"), r.finished.Sub(r.started).Round(time.Second))
	mode := "full"
	if r.o.quick {
		mode = "-quick (a smoke run: counts too small to compare)"
	}
	if r.o.only != "" {
		mode += fmt.Sprintf(", -only %s (the other rows not measured)", r.o.only)
	}
	fmt.Fprintf(&b, "Mode: %s; %d workers; %d end-to-end scans per backend; %d stored scans; images of labels and no layer (what FROM scratch and LABEL build), loaded, %d tags each.\n\n",
		mode, r.o.workers, r.o.scans, r.o.stored, r.o.tagsPerImage)
	b.WriteString("| # | figure | measured | limit / reference, same run | ratio | target | verdict |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, x := range r.rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", x.id, x.figure, x.measured, x.limit, x.ratio, x.target, x.verdict)
	}
	return b.String()
}

func numCPU() int { return runtime.NumCPU() }

func newJSONRequest(ctx context.Context, url, body string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}
