package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"
)

// dockerRestart points the server at a second Docker daemon, stops that
// daemon for a while with scans queued, and starts it again: with a time
// budget for retries no scan may fail. /readyz must tell the truth about
// the daemon meanwhile.
func (h *harness) dockerRestart(ctx context.Context, cl *cleanups) (r row) {
	start := time.Now()
	defer func() { r.took = time.Since(start) }()
	down, n := h.opt.down, 10
	if h.opt.quick {
		n = 4
	}
	dir, err := h.dir("docker-restart")
	if err != nil {
		return r.fail(err)
	}
	if err := setupBridge(ctx, cl); err != nil {
		return r.fail(err)
	}
	d, err := newDockerd(h.opt.dockerd, dir)
	if err != nil {
		return r.fail(err)
	}
	cl.add("remove the second dockerd's directories", d.remove)
	cl.add("stop the second dockerd", d.stop)
	h.logf("docker-restart: starting a second dockerd on %s", d.host())
	if err := d.start(ctx); err != nil {
		return r.fail(err)
	}
	// One more image than scans during the outage: the first is scanned
	// while the daemon is up, to show the wiring works.
	images := newImageSet(h.runID+"-docker", n+1)
	if err := images.load(ctx, d.host(), cl); err != nil {
		return r.fail(err)
	}
	sec := newSecrets()
	st, err := newStandin()
	if err != nil {
		return r.fail(err)
	}
	cl.add("close the stand-in", st.close)
	addr, err := freeAddr()
	if err != nil {
		return r.fail(err)
	}
	env := serverEnv(addr, st, sec, filepath.Join(dir, "data"), "", map[string]string{
		"DOCKER_HOST": d.host(),
	})
	srv, err := startServer(ctx, "docker-restart", h.serverBin, env, filepath.Join(dir, "server.log"), cl)
	if err != nil {
		return r.fail(err)
	}
	c := newAPIClient(srv.url, sec.apiToken)

	warm, _, err := c.submit(ctx, images.images[0].ref)
	if err != nil {
		return r.fail(fmt.Errorf("a scan with the daemon up: %w", err))
	}
	wo := waitFinal(ctx, c, []string{warm}, time.Now().Add(30*time.Second), time.Now().Add(60*time.Second))
	if wo.succeeded != 1 {
		return r.fail(fmt.Errorf("a scan with the daemon up did not succeed: %+v", wo.byID[warm]))
	}
	readyBefore := readyz(ctx, c)

	h.logf("docker-restart: stopping the second dockerd for %s", down)
	stopped := time.Now()
	if err := d.stop(); err != nil {
		return r.fail(err)
	}
	var ids []string
	for i, img := range images.images[1:] {
		id, _, err := c.submit(ctx, img.ref)
		if err != nil {
			return r.fail(fmt.Errorf("submit %d with the daemon down: %w", i, err))
		}
		ids = append(ids, id)
		_ = sleepCtx(ctx, down/time.Duration(3*n))
	}
	readyDown := readyz(ctx, c)
	_ = sleepCtx(ctx, time.Until(stopped.Add(down)))
	if err := d.start(ctx); err != nil {
		return r.fail(fmt.Errorf("start the second dockerd again: %w", err))
	}
	restarted := time.Now()
	h.logf("docker-restart: the second dockerd is back after %s; waiting for the scans", restarted.Sub(stopped).Round(time.Second))
	o := waitFinal(ctx, c, ids, restarted.Add(h.opt.settle), restarted.Add(h.opt.settle+time.Minute))
	readyAfter := readyz(ctx, c)
	counts := st.counts()
	r.fill(n, o, counts)
	r.notes = append(r.notes, fmt.Sprintf("daemon down %s; /readyz %d before, %d while down, %d after",
		restarted.Sub(stopped).Round(time.Second), readyBefore, readyDown, readyAfter))
	r.expect("0 lost", len(o.lost) == 0, "", "%d lost", len(o.lost))
	r.expect("0 failed", o.failed == 0, "", "%d of %d scans failed", o.failed, n)
	r.expect("0 stuck", len(o.stuck) == 0, "", "%d scans not final %s after the restart", len(o.stuck), h.opt.settle)
	r.expect("every failure reported", counts.reports >= o.failed, "",
		"%d error reports delivered for %d failed scans", counts.reports, o.failed)
	var lastEnd time.Time
	for _, rec := range o.byID {
		if rec.FinishedAt.After(lastEnd) {
			lastEnd = rec.FinishedAt
		}
	}
	r.expect("final within a retry step of the restart", !lastEnd.IsZero() && lastEnd.Sub(restarted) <= retryStep, "",
		"the last scan ended %s after the daemon was back; the step is at most %s", lastEnd.Sub(restarted).Round(time.Second), retryStep)
	r.expect("/readyz truthful", readyBefore == http.StatusOK && readyDown == http.StatusServiceUnavailable && readyAfter == http.StatusOK, "",
		"/readyz answered %d up, %d down, %d up again", readyBefore, readyDown, readyAfter)
	return r
}

// readyz returns /readyz's status, 0 when it did not answer.
func readyz(ctx context.Context, c *apiClient) int {
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	status, _, _ := c.do(rctx, http.MethodGet, "/readyz", nil)
	return status
}
