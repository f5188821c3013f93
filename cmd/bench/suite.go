package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/client"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// suite holds what a run started, so that cleanup can stop it.
type suite struct {
	o   options
	log io.Writer

	dir      string
	docker   *client.Client
	images   *benchImages
	standIn  *standIn
	mu       sync.Mutex
	cleanups []func()
	started  time.Time
	absent   atomic.Int64
}

func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(s.log, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// defer registers f to run at cleanup, last registered first.
func (s *suite) defer_(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func (s *suite) cleanup() {
	s.mu.Lock()
	fs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// absentRef returns a reference no image has and no other call returned:
// each is a new scan (a queued scan of the same reference would be returned
// instead of a new one), and its worker fails it at the daemon's 404.
func (s *suite) absentRef() string {
	return fmt.Sprintf("analytics-scanner-bench-%d/absent:a%08d", os.Getpid(), s.absent.Add(1))
}

func (s *suite) measure(ctx context.Context) (*results, error) {
	s.started = time.Now()
	res := &results{o: s.o, machine: machine(ctx), started: s.started}
	var err error
	if s.dir, err = os.MkdirTemp("", "analytics-scanner-bench-"); err != nil {
		return nil, err
	}
	s.defer_(func() { _ = os.RemoveAll(s.dir) })

	if s.docker, err = newDockerClient(ctx, 64); err != nil {
		return nil, err
	}
	s.defer_(func() { _ = s.docker.Close() })

	if s.o.serverBin == "" || s.o.scanBin == "" {
		s.logf("building cmd/server and cmd/scan")
		server, scan, err := buildBinaries(ctx, s.dir)
		if err != nil {
			return nil, err
		}
		s.o.serverBin = cmp2(s.o.serverBin, server)
		s.o.scanBin = cmp2(s.o.scanBin, scan)
	}

	// Images for the inspects, the end-to-end run and the one-shot; the
	// other groups scan absent images only.
	if s.o.selected(groupLimit) || s.o.selected(groupE2E) || s.o.selected(groupOneShot) {
		refsNeeded := 50
		if s.o.selected(groupE2E) {
			refsNeeded = max(s.o.scans, refsNeeded)
		}
		s.logf("creating labelled images, %d tags in all, %d per image", refsNeeded, s.o.tagsPerImage)
		s.images = newBenchImages(s.docker, s.o.tagsPerImage)
		s.defer_(func() {
			s.logf("removing the image tags")
			if err := s.images.remove(); err != nil {
				s.logf("cleanup: %v", err)
			}
		})
		t := time.Now()
		if err := s.images.create(ctx, refsNeeded); err != nil {
			return nil, err
		}
		s.logf("tagged in %s", time.Since(t).Round(time.Millisecond))
	}

	if s.standIn, err = startStandIn(); err != nil {
		return nil, err
	}
	s.defer_(s.standIn.close)
	if res.standInP50, err = s.standInLatency(ctx); err != nil {
		return nil, fmt.Errorf("the analytics stand-in: %w", err)
	}

	// 1. The limit; for the end-to-end rows alone, the two concurrencies
	// their limits name.
	res.inspect = map[int]float64{}
	var concurrencies []int
	switch {
	case s.o.selected(groupLimit):
		concurrencies = inspectConcurrencies(s.o.workers)
	case s.o.selected(groupE2E):
		concurrencies = slices.Compact([]int{1, s.o.workers})
	}
	for _, c := range concurrencies {
		rate, err := inspectRate(ctx, s.docker, s.images.refs, c, s.o.inspectDur)
		if err != nil {
			return nil, fmt.Errorf("inspect limit at concurrency %d: %w", c, err)
		}
		res.inspect[c] = rate
		s.logf("raw inspects at concurrency %d: %.0f/s", c, rate)
	}

	// 2 and 3, per backend; the accept path on the SQLite server of the
	// end-to-end run, after it.
	acceptRes := res
	if !s.o.selected(groupAccept) {
		acceptRes = nil
	}
	switch {
	case !s.o.selected(groupE2E):
		for _, name := range []string{"SQLite", "PostgreSQL"} {
			res.backends = append(res.backends, backendResult{name: name, scans: s.o.scans, skipped: notSelected})
		}
		if acceptRes != nil {
			s.acceptOnly(ctx, res)
		}
	default:
		res.backends = append(res.backends, s.backend(ctx, "SQLite", map[string]string{
			"SCANNER_DATA_DIR": filepath.Join(s.dir, "sqlite-e2e"),
		}, acceptRes))
		switch {
		case s.o.skipPostgres:
			res.backends = append(res.backends, backendResult{name: "PostgreSQL", scans: s.o.scans, skipped: "-skip-postgres"})
		case s.o.postgresURL == "":
			res.backends = append(res.backends, backendResult{name: "PostgreSQL", scans: s.o.scans, skipped: "no SCANNER_BENCH_POSTGRES_URL or SCANNER_TEST_POSTGRES_URL"})
		default:
			dbURL, err := s.postgresSchema(ctx)
			if err != nil {
				res.backends = append(res.backends, backendResult{name: "PostgreSQL", scans: s.o.scans, err: err})
			} else {
				res.backends = append(res.backends, s.backend(ctx, "PostgreSQL", map[string]string{"SCANNER_DATABASE_URL": dbURL}, nil))
			}
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// 4. Memory and reads.
	if s.o.selected(groupReads) {
		s.memoryAndReads(ctx, res)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}

	// 5. One-shot.
	if s.o.selected(groupOneShot) {
		s.oneShot(ctx, res)
	}

	// 6. Image size.
	if s.o.image != "" && s.o.selected(groupImage) {
		res.imageSize, res.imageErr = imageSize(ctx, s.docker, s.o.image)
	}
	res.finished = time.Now()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.loadAtEnd = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return res, ctx.Err()
}

func cmp2(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// inspectConcurrencies are 1, 8, 32 and the worker count.
func inspectConcurrencies(workers int) []int {
	cs := []int{1, 8, 32}
	if !slices.Contains(cs, workers) {
		cs = append(cs, workers)
		sort.Ints(cs)
	}
	return cs
}

// standInLatency checks that the stand-in answers at once: the p50 of
// register requests, one at a time.
func (s *suite) standInLatency(ctx context.Context) (time.Duration, error) {
	c := newAPIClient(s.standIn.URL)
	body := `{"git-url":"https://example.org/probe","git-sha":"abc","email-ids":"a@example.org"}`
	_, lat := closedLoop(ctx, 1, 200, func(ctx context.Context, _ int) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req, err := newJSONRequest(ctx, s.standIn.URL+"/register", body)
		if err != nil {
			return err
		}
		return c.do(req, nil, 200)
	})
	if lat.errors > 0 {
		return 0, lat.firstErr
	}
	return lat.percentile(50), nil
}

// serverEnv is the configuration every server under test gets.
func (s *suite) serverEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"SCANNER_ANALYTICS_URL": s.standIn.URL,
		"SCANNER_WORKERS":       strconv.Itoa(s.o.workers),
		// The suite measures throughput and latency, not the back-pressure
		// limit: 429s would end a run early.
		"SCANNER_MAX_QUEUE_DEPTH":  "100000000",
		"SCANNER_SHUTDOWN_TIMEOUT": "5s",
		"SCANNER_LOG_LEVEL":        s.o.logLevel,
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func (s *suite) startServer(ctx context.Context, name string, extra map[string]string) (*serverProc, error) {
	env := s.serverEnv(extra)
	pprofAddr := ""
	if s.o.pprofDir != "" {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		pprofAddr, env["SCANNER_PPROF_ADDR"] = addr, addr
	}
	p, err := startServer(ctx, s.o.serverBin, filepath.Join(s.dir, name+".log"), env)
	if err != nil {
		return nil, err
	}
	if pprofAddr != "" {
		p.pprofURL = "http://" + pprofAddr
	}
	s.defer_(p.stop)
	return p, nil
}

// profile takes a CPU profile of p for secs seconds into
// <pprofDir>/<name>.pprof, in the background; the returned function waits
// for it. Without a profiling listener it does nothing.
func (s *suite) profile(ctx context.Context, p *serverProc, name string, secs int) func() {
	if p.pprofURL == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(ctx, time.Duration(secs+30)*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.pprofURL, secs), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.logf("profile %s: %v", name, err)
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			s.logf("profile %s: %d %v", name, resp.StatusCode, err)
			return
		}
		path := filepath.Join(s.o.pprofDir, name+".pprof")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			s.logf("profile %s: %v", name, err)
			return
		}
		s.logf("profile of the server: %s", path)
	}()
	return func() { <-done }
}

// backend measures end to end and the accept→finished latency on one
// backend; with res given (SQLite, when the accept rows are selected), the
// accept path too.
func (s *suite) backend(ctx context.Context, name string, env map[string]string, res *results) backendResult {
	br := backendResult{name: name, scans: s.o.scans}
	p, err := s.startServer(ctx, strings.ToLower(name), env)
	if err != nil {
		br.err = err
		return br
	}
	defer p.stop()
	api := newAPIClient(p.URL)

	// End to end: every scan of its own reference, submitted as fast as 32
	// callers can, timed from the first POST to the last registration.
	base := s.standIn.registered.Load()
	cpu0, _ := p.cpuTime()
	waitProfile := s.profile(ctx, p, strings.ToLower(name)+"-end-to-end", 5)
	defer waitProfile()
	start := time.Now()
	_, errs := closedLoop(ctx, max(32, s.o.workers), s.o.scans, func(ctx context.Context, i int) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := api.submit(ctx, s.images.refs[i])
		return err
	})
	if errs.errors > 0 {
		br.err = fmt.Errorf("end to end: %d submissions failed: %w", errs.errors, errs.firstErr)
		return br
	}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(s.o.scans)*20*time.Millisecond)
	last, err := s.standIn.waitRegistered(waitCtx, base+int64(s.o.scans))
	cancel()
	if err != nil {
		br.err = fmt.Errorf("end to end: %d of %d registered: %w", s.standIn.registered.Load()-base, s.o.scans, err)
		return br
	}
	br.rate = float64(s.o.scans) / last.Sub(start).Seconds()
	if cpu1, err := p.cpuTime(); err == nil {
		br.cpuPerScan = (cpu1 - cpu0) / float64(s.o.scans)
	}
	s.logf("%s end to end: %d scans at %.0f/s", name, s.o.scans, br.rate)

	// Accept→finished at a fixed 50 scans/s, from the records.
	before, _ := scrape(ctx, api)
	var mu sync.Mutex
	var ids []string
	lat := openLoop(ctx, 50, s.o.latencyDur, func(ctx context.Context, i int) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		rec, err := api.submit(ctx, s.images.refs[i%len(s.images.refs)])
		if err == nil {
			mu.Lock()
			ids = append(ids, rec.ID)
			mu.Unlock()
		}
		return err
	})
	if lat.errors > 0 {
		br.err = fmt.Errorf("50 scans/s: %d submissions failed: %w", lat.errors, lat.firstErr)
		return br
	}
	var fin latencies
	var finMu sync.Mutex
	_, errs = closedLoop(ctx, 8, len(ids), func(ctx context.Context, i int) error {
		ctx, cancel := context.WithTimeout(ctx, 40*time.Second)
		defer cancel()
		var rec record
		if err := api.get(ctx, "/scan/"+ids[i]+"?wait=30s", &rec); err != nil {
			return err
		}
		if rec.Status != "succeeded" || rec.FinishedAt == nil {
			return fmt.Errorf("scan %s: %s %s", rec.ID, rec.Status, rec.LastError)
		}
		finMu.Lock()
		fin.d = append(fin.d, rec.FinishedAt.Sub(rec.CreatedAt))
		finMu.Unlock()
		return nil
	})
	if errs.errors > 0 {
		br.err = fmt.Errorf("50 scans/s: %d scans did not succeed: %w", errs.errors, errs.firstErr)
		return br
	}
	br.finish = fin
	if after, err := scrape(ctx, api); err == nil {
		br.attempt, _ = meanBetween(before, after, "scanner_scan_attempt_duration_seconds")
	}
	s.logf("%s accept→finished at 50/s: p50 %s p99 %s", name, fin.percentile(50), fin.percentile(99))

	if res != nil {
		s.acceptPath(ctx, p, api, res)
	}
	return br
}

// acceptOnly measures the accept path on a SQLite server of its own, when
// the end-to-end run, whose server it otherwise uses, is not selected.
func (s *suite) acceptOnly(ctx context.Context, res *results) {
	p, err := s.startServer(ctx, "sqlite-accept", map[string]string{"SCANNER_DATA_DIR": filepath.Join(s.dir, "sqlite-accept")})
	if err != nil {
		res.acceptErr = err
		return
	}
	defer p.stop()
	s.acceptPath(ctx, p, newAPIClient(p.URL), res)
}

// acceptPath measures POST /scan open loop at 500/s with the workers busy,
// beside GET /healthz of the same server at the same rate, and searches for
// the highest rate held with p99 <= 25 ms.
func (s *suite) acceptPath(ctx context.Context, p *serverProc, api *apiClient, res *results) {
	submitAbsent := func(ctx context.Context, _ int) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := api.submit(ctx, s.absentRef())
		return err
	}
	healthz := func(ctx context.Context, _ int) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return api.get(ctx, "/healthz", nil)
	}
	res.healthz500 = openLoop(ctx, acceptRate, s.o.acceptDur, healthz)
	// A backlog first, so that the workers are busy from the first
	// measured request on.
	closedLoop(ctx, 32, 4*s.o.workers, submitAbsent)
	// GET /healthz alongside, at a tenth of the rate: the HTTP path's
	// latency on the same loaded machine, without the accept's own work.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res.healthzBusy = openLoop(ctx, acceptRate/10, s.o.acceptDur, healthz)
	}()
	before, _ := scrape(ctx, api)
	waitProfile := s.profile(ctx, p, "sqlite-accept-500", int(s.o.acceptDur/time.Second))
	res.accept500 = openLoop(ctx, acceptRate, s.o.acceptDur, submitAbsent)
	waitProfile()
	wg.Wait()
	if after, err := scrape(ctx, api); err == nil {
		res.acceptServerMean, _ = meanBetween(before, after, "scanner_http_request_duration_seconds", `method="POST"`, `route="/scan"`)
	}
	if ctx.Err() != nil {
		return
	}
	s.logf("POST /scan at 500/s: p50 %s p99 %s max %s, %d errors", res.accept500.percentile(50),
		res.accept500.percentile(99), res.accept500.max(), res.accept500.errors)

	for _, rate := range s.o.stepRates {
		lat := openLoop(ctx, rate, s.o.stepDur, submitAbsent)
		st := step{rate: rate, p99: lat.percentile(99), errors: lat.errors}
		res.steps = append(res.steps, st)
		s.logf("POST /scan at %.0f/s: p99 %s, %d errors", rate, st.p99, st.errors)
		if !st.held() || ctx.Err() != nil {
			break
		}
	}
}

// memoryAndReads fills a fresh SQLite server with o.stored scans, lets its
// workers finish them, and measures list latency per filter and the
// server's memory.
//
// The scans are stored through the registry push hook, POST
// /hooks/distribution: a notification of a thousand pushes is a thousand
// scans queued in one transaction, several times faster than as many POST
// /scan (3,500-5,500/s against 670/s at 64 callers on the 2-core machine), so
// that 100,000 fit in the run's ten minutes. Each push names a digest of
// its own in an empty registry on loopback; its scan fails at the
// registry's 404 and sends its scanner-error report, as a scan of an
// absent image fails at the daemon's.
func (s *suite) memoryAndReads(ctx context.Context, res *results) {
	m := &res.mem
	m.stored = s.o.stored
	reg, err := startEmptyRegistry()
	if err != nil {
		m.err = err
		return
	}
	defer reg.close()
	token := hookToken()
	p, err := s.startServer(ctx, "sqlite-stored", map[string]string{
		"SCANNER_DATA_DIR":   filepath.Join(s.dir, "sqlite-stored"),
		"SCANNER_SOURCES":    "daemon,registry",
		"SCANNER_HOOK_TOKEN": token,
	})
	if err != nil {
		m.err = err
		return
	}
	defer p.stop()
	api := newAPIClient(p.URL)

	// Seeding is bounded in time, so that a slow accept path cannot push
	// the run past ten minutes; the table says how many were stored.
	var seed seeded
	seedCtx, cancelSeed := context.WithTimeout(ctx, s.o.seedMax)
	batches := (s.o.stored + seedBatch - 1) / seedBatch
	wall, errs := closedLoop(seedCtx, seedNotifiers, batches, func(ctx context.Context, b int) error {
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		first := b * seedBatch
		images, err := s.notifyPushes(rctx, api, token, reg.host, first, min(seedBatch, s.o.stored-first))
		if err != nil {
			if ctx.Err() != nil {
				return nil // cut short by the seeding bound
			}
			return err
		}
		seed.add(images, first >= s.o.stored/2)
		return nil
	})
	cancelSeed()
	if ctx.Err() != nil {
		m.err = ctx.Err()
		return
	}
	if errs.errors > 0 {
		m.err = fmt.Errorf("seeding: %d notifications failed: %w", errs.errors, errs.firstErr)
		return
	}
	m.stored = int(seed.stored.Load())
	if m.stored < 200 {
		m.err = fmt.Errorf("seeding: only %d scans stored within %s", m.stored, s.o.seedMax)
		return
	}
	m.seedRate = float64(m.stored) / wall.Seconds()
	s.logf("seeded %d scans at %.0f/s", m.stored, m.seedRate)

	// The workers finish the seeded scans far slower than they are
	// queued. The figures are best taken with the workers idle, but the
	// wait is bounded to keep the run within its budget; what is left is
	// reported with the figures.
	drainStart := time.Now()
	drainFor := s.o.drainMax
	if s.o.budget > 0 {
		drainFor = max(0, min(drainFor, time.Until(s.started.Add(s.o.budget-afterDrain))))
	}
	drainCtx, cancel := context.WithTimeout(ctx, drainFor)
	m.backlog, err = s.waitDrained(drainCtx, api)
	cancel()
	if err != nil {
		m.err = fmt.Errorf("waiting for the workers to finish the seeded scans: %w", err)
		return
	}
	m.drain = time.Since(drainStart)
	s.logf("%d scans unfinished %s after seeding", m.backlog, m.drain.Round(time.Millisecond))

	// The deep cursor: walk 90% of the way down, 100 a page, for at most
	// a minute (the figure names the depth reached).
	cursor, depth := "", 0
	walkStart := time.Now()
	for ; depth+100 <= m.stored*9/10 && time.Since(walkStart) < time.Minute; depth += 100 {
		var pg struct {
			NextCursor string `json:"next_cursor"`
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := api.get(ctx, "/scan?limit=100&cursor="+url.QueryEscape(cursor), &pg)
		cancel()
		if err != nil || pg.NextCursor == "" {
			m.err = fmt.Errorf("walking to a deep cursor at %d: %v (cursor %q)", depth, err, pg.NextCursor)
			return
		}
		cursor = pg.NextCursor
	}
	probe := seed.probeImage()
	queries := []struct{ name, path string }{
		{"none", "/scan"},
		{"status=failed", "/scan?status=failed"},
		{"image=<one of them>", "/scan?image=" + url.QueryEscape(probe)},
		{fmt.Sprintf("deep cursor (%d records down)", depth), "/scan?cursor=" + url.QueryEscape(cursor)},
	}
	measureGets := func(path string) latencies {
		_, lat := closedLoop(ctx, 1, s.o.listReqs, func(ctx context.Context, _ int) error {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return api.get(ctx, path, nil)
		})
		s.logf("GET %s: p99 %s", path[:min(len(path), 40)], lat.percentile(99))
		return lat
	}
	for _, q := range queries {
		m.lists = append(m.lists, listFigure{name: q.name, lat: measureGets(q.path)})
	}
	m.healthz = measureGets("/healthz")
	m.rss, m.hwm, err = p.memory()
	if err != nil {
		m.err = err
	}
}

// afterDrain is the time kept, of a run's budget, for what follows the wait
// for the seeded scans' backlog: the cursor walk (a minute at most), the
// list requests, the one-shot runs and the cleanup.
const afterDrain = 2 * time.Minute

// waitDrained waits until no scan is queued, running or retrying, or ctx
// ends, and returns how many still were.
func (s *suite) waitDrained(ctx context.Context, api *apiClient) (int, error) {
	lastLog := time.Now()
	for {
		depth, err := queueDepth(ctx, api)
		if err != nil || depth == 0 {
			return depth, err
		}
		if time.Since(lastLog) >= 10*time.Second {
			s.logf("%d scans unfinished", depth)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return depth, nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// queueDepth reads scanner_queue_depth, the scans not yet final, from the
// server's metrics.
func queueDepth(ctx context.Context, api *apiClient) (int, error) {
	m, err := scrape(ctx, api)
	if err != nil {
		return 0, err
	}
	depth, ok := m.sum("scanner_queue_depth")
	if !ok || depth < 0 {
		return 0, errors.New("no scanner_queue_depth in /metrics")
	}
	return int(depth), nil
}

// metrics is a scrape of the server's /metrics, in the text format.
type metrics string

func scrape(ctx context.Context, api *apiClient) (metrics, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.base+"/metrics", nil)
	if err != nil {
		return "", err
	}
	var text strings.Builder
	if err := api.do(req, &textSink{&text}, http.StatusOK); err != nil {
		return "", err
	}
	return metrics(text.String()), nil
}

// sum adds the values of every series of name whose labels hold all of
// labels (each `key="value"`).
func (m metrics) sum(name string, labels ...string) (float64, bool) {
	total, found := 0.0, false
	for _, line := range strings.Split(string(m), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		if i < 0 {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(rest[:i], l)
		}
		v, err := strconv.ParseFloat(rest[i+1:], 64)
		if !match || err != nil {
			continue
		}
		total, found = total+v, true
	}
	return total, found
}

// meanBetween is the mean of histogram name over the observations made
// between two scrapes.
func meanBetween(before, after metrics, name string, labels ...string) (time.Duration, bool) {
	s0, ok0 := before.sum(name+"_sum", labels...)
	c0, _ := before.sum(name+"_count", labels...)
	s1, ok1 := after.sum(name+"_sum", labels...)
	c1, _ := after.sum(name+"_count", labels...)
	if !ok0 || !ok1 || c1 <= c0 {
		return 0, false
	}
	return time.Duration((s1 - s0) / (c1 - c0) * float64(time.Second)), true
}

// oneShot runs the scan binary on one of the tags, and `docker image
// inspect` on the same, o.oneShotRuns times each, and keeps the medians of
// wall time and peak RSS.
//
// The peak RSS comes from separate runs under GNU time (/usr/bin/time),
// which forks its child: a child Go starts shares the suite's memory until
// its exec (vfork), and wait4's maxrss then reports the suite's own RSS.
func (s *suite) oneShot(ctx context.Context, res *results) {
	ref := s.images.refs[0]
	scanArgs := func(i int) []string {
		return []string{"--scanin", filepath.Join(s.dir, "no-scanin"), "--scanout", filepath.Join(s.dir, fmt.Sprintf("scanout-%d", i)), "--strict"}
	}
	scanEnv := append(os.Environ(), "IMAGE_NAME="+ref, "SERVER="+s.standIn.URL)
	dockerArgs := []string{"image", "inspect", ref}
	_, timeErr := os.Stat(gnuTime)
	var scanWall, scanRSS, dockWall, dockRSS []float64
	for i := range s.o.oneShotRuns {
		cmd := exec.Command(s.o.scanBin, scanArgs(i)...)
		cmd.Env = scanEnv
		w, err := timed(ctx, cmd)
		if err != nil {
			res.oneShot.err = fmt.Errorf("scan: %w", err)
			return
		}
		scanWall = append(scanWall, w)
		if w, err = timed(ctx, exec.Command("docker", dockerArgs...)); err != nil {
			res.oneShot.err = fmt.Errorf("docker image inspect: %w", err)
			return
		}
		dockWall = append(dockWall, w)
		if timeErr != nil {
			continue
		}
		rss, err := peakRSS(ctx, s.dir, scanEnv, s.o.scanBin, scanArgs(i+s.o.oneShotRuns)...)
		if err != nil {
			res.oneShot.err = fmt.Errorf("scan under %s: %w", gnuTime, err)
			return
		}
		scanRSS = append(scanRSS, rss)
		if rss, err = peakRSS(ctx, s.dir, nil, "docker", dockerArgs...); err != nil {
			res.oneShot.err = fmt.Errorf("docker image inspect under %s: %w", gnuTime, err)
			return
		}
		dockRSS = append(dockRSS, rss)
	}
	res.oneShot = oneShotFigure{runs: s.o.oneShotRuns,
		scanWall: median(scanWall), scanRSS: median(scanRSS),
		dockerWall: median(dockWall), dockerRSS: median(dockRSS)}
	s.logf("one-shot: scan %.1f ms, docker image inspect %.1f ms", res.oneShot.scanWall*1e3, res.oneShot.dockerWall*1e3)
}

// gnuTime measures a command's peak RSS from outside.
const gnuTime = "/usr/bin/time"

// peakRSS runs name under GNU time and returns its peak RSS in bytes.
func peakRSS(ctx context.Context, dir string, env []string, name string, args ...string) (float64, error) {
	out := filepath.Join(dir, "time.out")
	cmd := exec.Command(gnuTime, append([]string{"-o", out, "-f", "%M", name}, args...)...)
	cmd.Env = env
	if _, err := timed(ctx, cmd); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return 0, err
	}
	kb, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return 0, fmt.Errorf("%s wrote %q", gnuTime, b)
	}
	return kb * 1024, nil
}

// timed runs cmd and returns its wall time in seconds.
func timed(ctx context.Context, cmd *exec.Cmd) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = nil, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	wall := time.Since(start).Seconds()
	stop()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return wall, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// postgresSchema creates a schema of its own on o.postgresURL, dropped at
// cleanup, and returns a URL whose connections use it.
func (s *suite) postgresSchema(ctx context.Context) (string, error) {
	db, err := sql.Open("pgx", s.o.postgresURL)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL: %w", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "bench_" + hex.EncodeToString(b)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(cctx, "CREATE SCHEMA "+schema); err != nil {
		_ = db.Close()
		return "", fmt.Errorf("PostgreSQL: create schema: %w", err)
	}
	s.defer_(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			s.logf("cleanup: drop schema %s: %v", schema, err)
		}
		_ = db.Close()
	})
	u, err := url.Parse(s.o.postgresURL)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// machine names the machine: cores, memory, Docker, load.
func machine(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	dockerVersion, _ := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})").Output()
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		fields := strings.Fields(string(b))
		if len(fields) > 1 {
			kb, _ := strconv.ParseFloat(fields[1], 64)
			mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%d cores, %s memory, Docker %s, %s, load average at start %s",
		numCPU(), mem, strings.TrimSpace(string(dockerVersion)), runtime.Version(), load)
}
