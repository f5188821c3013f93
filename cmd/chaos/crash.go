package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// crashWorkers is the server's SCANNER_WORKERS in the crash scenarios (the
// default): at most this many scans are running when a kill comes.
const crashWorkers = 4

// crashRegisterDelay is how long each registration takes at the stand-in,
// and crashSubmitPause the pause of each of the 8 submitters between two
// submissions: about 80 scans/s can run and 100/s are submitted, so both
// are under way at each kill.
const (
	crashRegisterDelay = 50 * time.Millisecond
	crashSubmitPause   = 80 * time.Millisecond
)

// crash submits opt.scans scans of distinct images and kills the server
// with SIGKILL twice while they are submitted and run, restarting it on the
// same store each time. Every accepted (202) scan must exist at the end
// (lost) and be final within opt.settle of the last restart (stuck);
// registrations beyond one per image are counted (duplicates).
func (h *harness) crash(ctx context.Context, cl *cleanups, postgres bool) (r row) {
	start := time.Now()
	defer func() { r.took = time.Since(start) }()
	n := h.opt.scans
	sec := newSecrets()
	st, err := newStandin()
	if err != nil {
		return r.fail(err)
	}
	cl.add("close the stand-in", st.close)
	// Registrations take a while, as they do over a network, so that the
	// kills find scans mid-registration and submissions still under way.
	st.setDelay(crashRegisterDelay)

	databaseURL, store := "", "sqlite"
	dataDir, err := h.dir("crash-" + map[bool]string{false: "sqlite", true: "postgres"}[postgres])
	if err != nil {
		return r.fail(err)
	}
	if postgres {
		store = "postgres"
		if h.opt.pgURL == "" {
			r.skipped = true
			r.notes = append(r.notes, "skipped: no PostgreSQL URL (SCANNER_TEST_POSTGRES_URL or -postgres)")
			return r
		}
		if databaseURL, err = pgSchema(ctx, h.opt.pgURL, cl); err != nil {
			return r.fail(err)
		}
	}
	images := newImageSet(h.runID+"-crash-"+store, n)
	h.logf("crash-%s: loading %d images", store, n)
	if err := images.load(ctx, "", cl); err != nil {
		return r.fail(err)
	}
	addr, err := freeAddr()
	if err != nil {
		return r.fail(err)
	}
	env := serverEnv(addr, st, sec, filepath.Join(dataDir, "data"), databaseURL, map[string]string{
		"SCANNER_WORKERS": fmt.Sprint(crashWorkers),
	})
	logPath := filepath.Join(dataDir, "server.log")
	srv, err := startServer(ctx, "crash-"+store+"-1", h.serverBin, env, logPath, cl)
	if err != nil {
		return r.fail(err)
	}
	c := newAPIClient(srv.url, sec.apiToken)

	// Submitters take images in order; a submission that finds the server
	// down (killed, not yet restarted) is tried again until accepted.
	var accepted atomic.Int64
	var mu sync.Mutex
	var ids []string
	var refusedWhileDown atomic.Int64
	submitCtx, stopSubmit := context.WithTimeout(ctx, 10*time.Minute)
	defer stopSubmit()
	next := make(chan image)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for img := range next {
				for try := 0; try < 600 && submitCtx.Err() == nil; try++ {
					rctx, cancel := context.WithTimeout(submitCtx, 20*time.Second)
					id, status, err := c.submit(rctx, img.ref)
					cancel()
					if err == nil {
						mu.Lock()
						ids = append(ids, id)
						mu.Unlock()
						accepted.Add(1)
						_ = sleepCtx(submitCtx, crashSubmitPause)
						break
					}
					if status == 0 {
						refusedWhileDown.Add(1)
					}
					_ = sleepCtx(submitCtx, 200*time.Millisecond)
				}
			}
		})
	}
	go func() {
		defer close(next)
		for _, img := range images.images {
			select {
			case next <- img:
			case <-submitCtx.Done():
				return
			}
		}
	}()

	// The killer: when a third and two thirds of the scans have reached
	// the analytics server, so that each kill finds scans running
	// (submitting is much faster than scanning). The restarted server gets
	// a few seconds of work before the next kill.
	lastRestart := time.Now()
	var kills []time.Time
	var killErr error
	for k, at := range []int{n / 3, 2 * n / 3} {
		minUp := lastRestart.Add(time.Second)
		for (st.counts().arrivals < at || time.Now().Before(minUp)) && submitCtx.Err() == nil {
			_ = sleepCtx(submitCtx, 20*time.Millisecond)
		}
		if submitCtx.Err() != nil {
			killErr = fmt.Errorf("scans stopped at %d of %d registrations: %w", st.counts().arrivals, n, submitCtx.Err())
			break
		}
		h.logf("crash-%s: kill -9 after %d accepted scans and %d registrations", store, accepted.Load(), st.counts().arrivals)
		if err := srv.kill(); err != nil {
			killErr = err
			break
		}
		kills = append(kills, time.Now())
		// A moment down, so that submissions meet a refused connection.
		_ = sleepCtx(ctx, time.Second)
		if srv, err = startServer(ctx, fmt.Sprintf("crash-%s-%d", store, k+2), h.serverBin, env, logPath, cl); err != nil {
			killErr = fmt.Errorf("restart after kill %d: %w", k+1, err)
			break
		}
		lastRestart = time.Now()
	}
	if killErr != nil {
		stopSubmit()
	}
	wg.Wait()
	if killErr != nil {
		return r.fail(killErr)
	}
	if int(accepted.Load()) < n {
		return r.fail(fmt.Errorf("only %d of %d scans accepted: %w", accepted.Load(), n, errors.Join(ctx.Err(), submitCtx.Err())))
	}
	h.logf("crash-%s: %d scans accepted; waiting for them to be final", store, n)
	o := waitFinal(ctx, c, ids, lastRestart.Add(h.opt.settle), lastRestart.Add(h.opt.settle+5*time.Minute))
	finalAfter := time.Since(lastRestart)
	counts := st.counts()
	r.fill(n, o, counts)

	// A scan that ran more than once was running at a kill: the first
	// kill after its first start. How long after it the scan ended is
	// how long the rescue took (the rescue, the restart and the attempt).
	rerun := 0
	var slowestRescue time.Duration
	for _, rec := range o.byID {
		if rec.Attempts <= 1 || rec.StartedAt.IsZero() || rec.FinishedAt.IsZero() {
			continue
		}
		rerun++
		for _, k := range kills {
			if k.After(rec.StartedAt) {
				slowestRescue = max(slowestRescue, rec.FinishedAt.Sub(k))
				break
			}
		}
	}
	r.notes = append(r.notes, fmt.Sprintf("2 kills; %d submissions met a down server and were retried; %d scans ran more than once, the last %s after its kill; waited %s after the last restart",
		refusedWhileDown.Load(), rerun, slowestRescue.Round(time.Second), finalAfter.Round(time.Second)))
	r.expect("0 lost", len(o.lost) == 0, "", "%d of %d accepted scans unknown after the restarts %v", len(o.lost), n, first(o.lost, 3))
	r.expect("0 stuck", len(o.stuck) == 0, "",
		"%d scans not final %s after the last restart (%s) %v", len(o.stuck), h.opt.settle, o.stuckStatuses(), first(o.stuck, 3))
	r.expect("killed scans run again within 45 s", slowestRescue <= 45*time.Second, "",
		"the slowest of %d scans interrupted by a kill ended %s after it", rerun, slowestRescue.Round(time.Second))
	r.expect("0 failed", o.failed == 0, "", "%d scans failed", o.failed)
	// Only a scan running at a kill may run twice.
	r.expect("duplicates only from the kills", r.duplicates <= 2*crashWorkers, "",
		"%d duplicate registrations, at most %d (the scans running at 2 kills) allowed", r.duplicates, 2*crashWorkers)
	registered := len(counts.registered)
	r.expect("every success registered", registered >= o.succeeded, "", "%d images registered for %d succeeded scans", registered, o.succeeded)
	stopErr := srv.stop(20 * time.Second)
	r.expect("clean SIGTERM stop", stopErr == nil && srv.err == nil, "", "stop: %v, exit: %v", stopErr, srv.err)
	return r
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
