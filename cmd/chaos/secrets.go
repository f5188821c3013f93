package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// echoedSecrets runs the server and the one-shot against an analytics
// server whose error answers repeat every request header, credentials
// included, and then searches every byte they wrote for the credentials:
// logs, the data dir (SQLite database and WAL, while running and after),
// the API's answers, /metrics, the one-shot's result files and output.
func (h *harness) echoedSecrets(ctx context.Context, cl *cleanups) (r row) {
	start := time.Now()
	defer func() { r.took = time.Since(start) }()
	n := 4
	dir, err := h.dir("echoed-secrets")
	if err != nil {
		return r.fail(err)
	}
	// Characters that URL, JSON and base64 encode differently, so that
	// each encoded form is its own search.
	sec := secrets{
		analyticsToken: "chaos-analytics-token-" + randomHex(12) + `+/=&<>"`,
		threeScale:     "chaos-3scale-secret-" + randomHex(12) + `+/=&<>"`,
		apiToken:       "chaos-api-token-" + randomHex(12) + `+/=&<>"`,
	}
	st, err := newStandin()
	if err != nil {
		return r.fail(err)
	}
	cl.add("close the stand-in", st.close)
	if err := st.setMode(modeEcho); err != nil {
		return r.fail(err)
	}
	images := newImageSet(h.runID+"-secrets", n)
	if err := images.load(ctx, "", cl); err != nil {
		return r.fail(err)
	}
	addr, err := freeAddr()
	if err != nil {
		return r.fail(err)
	}
	dataDir := filepath.Join(dir, "data")
	env := serverEnv(addr, st, sec, dataDir, "", map[string]string{
		// Debug logs the most, so the search covers the most.
		"SCANNER_LOG_LEVEL":    "debug",
		"SCANNER_MAX_ATTEMPTS": "3",
		"SCANNER_RETRY_BASE":   "200ms",
		"SCANNER_RETRY_MAX":    "1s",
		"SCANNER_RETRY_FOR":    "10s",
	})
	srv, err := startServer(ctx, "echoed-secrets", h.serverBin, env, filepath.Join(dir, "server.log"), cl)
	if err != nil {
		return r.fail(err)
	}
	answers, err := os.Create(filepath.Join(dir, "api-answers.txt"))
	if err != nil {
		return r.fail(err)
	}
	defer answers.Close()
	c := newAPIClient(srv.url, sec.apiToken)
	c.keep = answers
	var ids []string
	for _, img := range images.images {
		id, _, err := c.submit(ctx, img.ref)
		if err != nil {
			return r.fail(err)
		}
		ids = append(ids, id)
	}
	o := waitFinal(ctx, c, ids, time.Now().Add(60*time.Second), time.Now().Add(90*time.Second))
	r.fill(n, o, st.counts())
	for _, id := range ids {
		_, _, _ = c.get(ctx, id)
	}
	_, _, _ = c.do(ctx, http.MethodGet, "/scan?limit=100", nil)
	_, _, _ = c.do(ctx, http.MethodGet, "/readyz", nil)
	c.keep = nil
	_, metrics, err := c.do(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return r.fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "metrics.txt"), metrics, 0o600); err != nil {
		return r.fail(err)
	}
	// The database as it is while the server runs (WAL not yet folded
	// in), then as it is after a clean stop.
	if err := copyDir(dataDir, filepath.Join(dir, "data-while-running")); err != nil {
		return r.fail(err)
	}
	if err := srv.stop(20 * time.Second); err != nil {
		return r.fail(err)
	}

	oneShotStatus, err := h.runOneShot(ctx, dir, images.images[0].ref, st.url(), sec)
	if err != nil {
		return r.fail(err)
	}
	counts := st.counts()
	r.reports = counts.reports

	found, scanned, err := searchSecrets(dir, map[string]string{
		"SCANNER_ANALYTICS_TOKEN":         sec.analyticsToken,
		"SCANNER_ANALYTICS_3SCALE_SECRET": sec.threeScale,
		"SCANNER_API_TOKEN":               sec.apiToken,
	})
	if err != nil {
		return r.fail(err)
	}
	r.notes = append(r.notes, fmt.Sprintf("%d answers echoed the headers; searched %d files, %d bytes; the one-shot exited %d",
		counts.echoed, scanned.files, scanned.bytes, oneShotStatus))
	r.expect("the stand-in echoed credentials", counts.echoed > 0, "", "%d echoed answers", counts.echoed)
	r.expect("scans ended", len(o.stuck) == 0 && len(o.lost) == 0, "", "%d stuck, %d lost", len(o.stuck), len(o.lost))
	r.expect("the one-shot ran", oneShotStatus == 0, "", "exit status %d, want 0 (results written)", oneShotStatus)
	var apiHits []string
	for _, f := range found {
		if f.secret == "SCANNER_API_TOKEN" {
			apiHits = append(apiHits, f.String())
		}
	}
	r.expect("API token in no byte", len(apiHits) == 0, "", "%s", orNone(apiHits))
	for _, p := range places {
		var hits []string
		for _, f := range found {
			if f.place == p.name && f.secret != "SCANNER_API_TOKEN" {
				hits = append(hits, f.String())
			}
		}
		r.expect("analytics credentials not in "+p.name, len(hits) == 0, p.needs, "%s", orNone(hits))
	}
	return r
}

// runOneShot runs the one-shot scanner as atomic would, against the
// stand-in, writing its results under dir/oneshot; it returns the exit
// status.
func (h *harness) runOneShot(ctx context.Context, dir, imageRef, server string, sec secrets) (int, error) {
	out := filepath.Join(dir, "oneshot")
	if err := os.MkdirAll(filepath.Join(out, "results"), 0o700); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.scanBin, "--scanin", filepath.Join(out, "no-scanin"), "--scanout", filepath.Join(out, "results"),
		"--json", "--verbose", "--timeout", "5s")
	cmd.Env = append(os.Environ(), "IMAGE_NAME="+imageRef, "SERVER="+server,
		"ANALYTICS_TOKEN="+sec.analyticsToken, "ANALYTICS_3SCALE_SECRET="+sec.threeScale)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if werr := errors.Join(os.WriteFile(filepath.Join(out, "stdout"), stdout.Bytes(), 0o600),
		os.WriteFile(filepath.Join(out, "stderr"), stderr.Bytes(), 0o600)); werr != nil {
		return 0, werr
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), nil
	}
	return 0, err
}

// place is a kind of output, named by where its files are.
type place struct {
	name  string
	match func(rel string) bool
	needs string
}

var places = []place{
	{"the server's log", func(rel string) bool { return rel == "server.log" }, ""},
	{"the data dir (SQLite database, WAL)", func(rel string) bool {
		return strings.HasPrefix(rel, "data/") || strings.HasPrefix(rel, "data-while-running/")
	}, ""},
	{"the API's answers", func(rel string) bool { return rel == "api-answers.txt" }, ""},
	{"/metrics", func(rel string) bool { return rel == "metrics.txt" }, ""},
	{"the one-shot's result files", func(rel string) bool { return strings.HasPrefix(rel, "oneshot/results/") }, ""},
	{"the one-shot's output", func(rel string) bool { return rel == "oneshot/stdout" || rel == "oneshot/stderr" }, ""},
}

// finding is a secret, in one encoding, in one file.
type finding struct {
	secret, form, file, place string
}

func (f finding) String() string { return fmt.Sprintf("%s (%s) in %s", f.secret, f.form, f.file) }

type scanStats struct{ files, bytes int }

// searchSecrets looks for every secret, in every form it may be written
// in, in every file under dir.
func searchSecrets(dir string, secretsByName map[string]string) ([]finding, scanStats, error) {
	var found []finding
	var stats scanStats
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		stats.files++
		stats.bytes += len(b)
		where := "elsewhere"
		for _, p := range places {
			if p.match(filepath.ToSlash(rel)) {
				where = p.name
			}
		}
		for name, secret := range secretsByName {
			for form, s := range encodedForms(secret) {
				if bytes.Contains(b, []byte(s)) {
					found = append(found, finding{secret: name, form: form, file: rel, place: where})
				}
			}
		}
		return nil
	})
	sort.Slice(found, func(i, j int) bool { return found[i].String() < found[j].String() })
	return found, stats, err
}

// encodedForms are the ways a secret may be written: as it is, URL-encoded,
// JSON-encoded (with and without HTML escaping) and base64-encoded (each
// alphabet, at each of the three alignments a secret can have inside a
// longer encoded text, such as "Bearer <token>").
func encodedForms(secret string) map[string]string {
	forms := map[string]string{
		"raw":          secret,
		"URL query":    url.QueryEscape(secret),
		"URL path":     url.PathEscape(secret),
		"JSON":         jsonString(secret, true),
		"JSON no-HTML": jsonString(secret, false),
	}
	for _, enc := range []struct {
		name string
		enc  *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64url", base64.URLEncoding}} {
		for k := range 3 {
			full := enc.enc.EncodeToString(append(make([]byte, k), secret...))
			// Only the characters that encode secret bytes alone.
			from, to := 4*((k+2)/3), 4*((k+len(secret))/3)
			forms[fmt.Sprintf("%s+%d", enc.name, k)] = full[from:to]
		}
	}
	return forms
}

func jsonString(s string, escapeHTML bool) string {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(escapeHTML)
	_ = e.Encode(s)
	out := strings.TrimSpace(buf.String())
	return out[1 : len(out)-1]
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none found"
	}
	if len(s) > 6 {
		return strings.Join(s[:6], "; ") + fmt.Sprintf("; and %d more", len(s)-6)
	}
	return strings.Join(s, "; ")
}

// copyDir copies the regular files of src into dst.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
}
