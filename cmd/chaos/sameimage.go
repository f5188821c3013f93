package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// sameImage submits one image under six references at once (its name, its
// full id, its sha256: id, and 12-, 13- and 20-character id prefixes), then
// its name again once that scan is final: one scan and one registration
// are expected, and the second scan's result names the first registration
// (SCANNER_REREGISTER_AFTER) instead of sending it again.
func (h *harness) sameImage(ctx context.Context, cl *cleanups) (r row) {
	start := time.Now()
	defer func() { r.took = time.Since(start) }()
	dir, err := h.dir("same-image")
	if err != nil {
		return r.fail(err)
	}
	images := newImageSet(h.runID+"-same", 1)
	if err := images.load(ctx, "", cl); err != nil {
		return r.fail(err)
	}
	ref := images.images[0].ref
	out, err := dockerCLI(ctx, "", 20*time.Second, nil, "image", "inspect", "--format", "{{.Id}}", ref)
	if err != nil {
		return r.fail(err)
	}
	full := strings.TrimSpace(out)
	hexID := strings.TrimPrefix(full, "sha256:")
	refs := []string{ref, hexID, full, hexID[:12], hexID[:13], hexID[:20]}

	sec := newSecrets()
	st, err := newStandin()
	if err != nil {
		return r.fail(err)
	}
	cl.add("close the stand-in", st.close)
	// A registration that takes a while, so that all six are in flight.
	st.setDelay(500 * time.Millisecond)
	addr, err := freeAddr()
	if err != nil {
		return r.fail(err)
	}
	srv, err := startServer(ctx, "same-image", h.serverBin, serverEnv(addr, st, sec, filepath.Join(dir, "data"), "", nil),
		filepath.Join(dir, "server.log"), cl)
	if err != nil {
		return r.fail(err)
	}
	c := newAPIClient(srv.url, sec.apiToken)

	type answer struct {
		id  string
		err error
	}
	answers := make(chan answer, len(refs))
	for _, ref := range refs {
		go func() {
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			id, _, err := c.submit(rctx, ref)
			answers <- answer{id, err}
		}()
	}
	distinct := map[string]bool{}
	var ids []string
	for range refs {
		a := <-answers
		if a.err != nil {
			return r.fail(a.err)
		}
		if !distinct[a.id] {
			distinct[a.id] = true
			ids = append(ids, a.id)
		}
	}
	o := waitFinal(ctx, c, ids, time.Now().Add(h.opt.settle), time.Now().Add(h.opt.settle+time.Minute))
	again, _, err := c.submit(ctx, ref)
	if err != nil {
		return r.fail(fmt.Errorf("the name again: %w", err))
	}
	o2 := waitFinal(ctx, c, []string{again}, time.Now().Add(h.opt.settle), time.Now().Add(h.opt.settle+time.Minute))
	for id, rec := range o2.byID {
		o.byID[id] = rec
	}
	o.succeeded += o2.succeeded
	o.failed += o2.failed
	o.lost = append(o.lost, o2.lost...)
	o.stuck = append(o.stuck, o2.stuck...)
	counts := st.counts()
	r.fill(len(ids)+1, o, counts)

	var resp struct {
		ServerResponse *struct {
			RegisteredBy *struct {
				ScanID string `json:"scan_id"`
			} `json:"registered_by"`
		} `json:"Server Response"`
	}
	priorOf := ""
	if rec, ok := o2.byID[again]; ok && len(rec.Result) > 0 {
		if json.Unmarshal(rec.Result, &resp) == nil && resp.ServerResponse != nil && resp.ServerResponse.RegisteredBy != nil {
			priorOf = resp.ServerResponse.RegisteredBy.ScanID
		}
	}
	r.notes = append(r.notes, fmt.Sprintf("6 references of one image at once: %d scan(s); its name again after: %d registration(s) in all",
		len(ids), counts.arrivals))
	r.expect("one scan of six references", len(ids) == 1, "", "%d distinct scans", len(ids))
	r.expect("one registration", counts.arrivals == 1, "", "%d register requests", counts.arrivals)
	r.expect("0 failed", o.failed == 0 && len(o.lost) == 0 && len(o.stuck) == 0, "", "%d failed, %d lost, %d stuck", o.failed, len(o.lost), len(o.stuck))
	r.expect("the later scan names the registration", priorOf != "" && distinct[priorOf], "",
		"registered_by %q, want the first scan %v", priorOf, ids)
	return r
}
