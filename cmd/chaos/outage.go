package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// retryStep is how soon after an outage ends every scan waiting it out
// must be final: the default RETRY_MAX (30 s), plus River's scheduling
// round (5 s) and the attempt itself.
const retryStep = 45 * time.Second

// outageScans is how many scans are submitted during an outage.
func (h *harness) outageScans() int {
	if h.opt.quick {
		return 5
	}
	return 20
}

// outage takes the analytics server away for opt.outage (connections
// refused, or every request answered 500) while scans are submitted, then
// brings it back. With a time budget for retries (SCANNER_RETRY_FOR=10m)
// no scan may fail, and each ends within one retry step (RETRY_MAX, 30 s
// by default) of the recovery.
func (h *harness) outage(ctx context.Context, cl *cleanups, m mode) (r row) {
	start := time.Now()
	defer func() { r.took = time.Since(start) }()
	n := h.outageScans()
	sec := newSecrets()
	st, err := newStandin()
	if err != nil {
		return r.fail(err)
	}
	cl.add("close the stand-in", st.close)
	dir, err := h.dir("outage-" + m.String())
	if err != nil {
		return r.fail(err)
	}
	images := newImageSet(h.runID+"-outage-"+m.String(), n)
	if err := images.load(ctx, "", cl); err != nil {
		return r.fail(err)
	}
	addr, err := freeAddr()
	if err != nil {
		return r.fail(err)
	}
	env := serverEnv(addr, st, sec, filepath.Join(dir, "data"), "", nil)
	srv, err := startServer(ctx, "outage-"+m.String(), h.serverBin, env, filepath.Join(dir, "server.log"), cl)
	if err != nil {
		return r.fail(err)
	}
	c := newAPIClient(srv.url, sec.apiToken)

	if err := st.setMode(m); err != nil {
		return r.fail(err)
	}
	outageStart := time.Now()
	if m == modeRefuse && st.reachable(ctx) {
		return r.fail(fmt.Errorf("the stand-in still accepts connections in mode refuse"))
	}
	// Submitted over the first third of the outage.
	var ids []string
	for i, img := range images.images {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		id, _, err := c.submit(rctx, img.ref)
		cancel()
		if err != nil {
			return r.fail(fmt.Errorf("submit %d during the outage: %w", i, err))
		}
		ids = append(ids, id)
		_ = sleepCtx(ctx, h.opt.outage/time.Duration(3*n))
	}
	_ = sleepCtx(ctx, time.Until(outageStart.Add(h.opt.outage)))
	duringOutage := st.counts()
	if err := st.setMode(modeAnswer); err != nil {
		return r.fail(err)
	}
	recovered := time.Now()
	h.logf("outage-%s: over after %s; waiting for the scans", m, recovered.Sub(outageStart).Round(time.Second))
	o := waitFinal(ctx, c, ids, recovered.Add(h.opt.settle), recovered.Add(h.opt.settle+time.Minute))
	counts := st.counts()
	r.fill(n, o, counts)
	var lastEnd time.Time
	for _, rec := range o.byID {
		if t := rec.finishedAt(); t.After(lastEnd) {
			lastEnd = t
		}
	}
	note := fmt.Sprintf("%s outage; %d register requests during it", h.opt.outage.Round(time.Second), duringOutage.arrivals)
	switch d := lastEnd.Sub(recovered).Round(time.Second); {
	case lastEnd.IsZero():
	case d >= 0:
		note += fmt.Sprintf("; last scan final %s after the recovery", d)
	default:
		note += fmt.Sprintf("; every scan final before the recovery (the last %s before)", -d)
	}
	r.notes = append(r.notes, note)
	r.expect("0 lost", len(o.lost) == 0, "", "%d lost", len(o.lost))
	r.expect("0 failed", o.failed == 0, "",
		"%d of %d scans failed", o.failed, n)
	r.expect("0 stuck", len(o.stuck) == 0, "", "%d scans not final %s after the recovery", len(o.stuck), h.opt.settle)
	r.expect("final within a retry step of the recovery", !lastEnd.IsZero() && lastEnd.Sub(recovered) <= retryStep, "",
		"the last scan ended %s after the recovery; the step is at most %s", lastEnd.Sub(recovered).Round(time.Second), retryStep)
	r.expect("every failure reported", counts.reports >= o.failed, "",
		"%d error reports delivered for %d failed scans (%d attempted)", counts.reports, o.failed, counts.reportsIn)
	return r
}
