package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// page is the body of GET /scan.
type page struct {
	Scans      []scan.Record `json:"scans"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// handleSubmit queues a scan and answers 202 with its record, or holds the
// answer until the scan is final when the request asks to wait.
func (s *server) handleSubmit() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wait, err := parseWait(r.URL.Query().Get("wait"), s.cfg.MaxWait)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		body, err := readSubmitBody(w, r, s.cfg.MaxBodyBytes)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		req, err := s.validate(body)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		rec, created, err := s.svc.Submit(r.Context(), req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		zerolog.Ctx(r.Context()).Info().
			Str("scan_id", rec.ID).Str("image", rec.Image).Bool("created", created).
			Msg("scan submitted")
		if wait > 0 && !rec.Status.Final() {
			if rec, err = s.wait(r.Context(), rec.ID, wait); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		w.Header().Set("Location", scanPath(rec.ID))
		if rec.Status.Final() {
			encode(w, http.StatusOK, rec)
			return
		}
		w.Header().Set("Retry-After", retryAfter(s.cfg.RetryAfter))
		encode(w, http.StatusAccepted, rec)
	}
}

// wait holds until the scan is final, the wait runs out, the client goes
// away or the server starts shutting down; in all but the first case the
// record is returned as it stands.
func (s *server) wait(ctx context.Context, id string, d time.Duration) (scan.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if s.cfg.Draining != nil {
		// http.Server.Shutdown waits for handlers but does not cancel
		// them: without this, a held wait would delay a shutdown by up to
		// MaxWait.
		stop := context.AfterFunc(s.cfg.Draining, cancel)
		defer stop()
	}
	return s.svc.Wait(ctx, id)
}

// validate checks a submit body and makes it a service request.
func (s *server) validate(b submitBody) (scan.Request, error) {
	image := strings.TrimSpace(b.Image)
	if image == "" {
		return scan.Request{}, scan.Errorf(scan.EInvalid, `"image" is required: an image reference or id`)
	}
	if err := checkImage(image); err != nil {
		return scan.Request{}, err
	}
	scanType, ok := scan.ResolveScanType(strings.TrimSpace(b.ScanType))
	if !ok {
		return scan.Request{}, scan.Errorf(EUnsupportedScanType, "scan type %s is not supported; the scan types are %q",
			quote(scanType), scan.ScanTypes)
	}
	server := ""
	if raw := strings.TrimSpace(b.Server); raw != "" {
		allowed, ok := s.cfg.AllowedServers.Lookup(raw)
		if !ok {
			// The same answer whether the URL is malformed or merely not
			// listed: either way only the operator can change it.
			return scan.Request{}, scan.Errorf(EServerNotAllowed,
				"server %s is not allowed; the operator lists the servers a request may name", quote(redact(raw)))
		}
		server = allowed
	}
	source := strings.TrimSpace(b.Source)
	if source == "" {
		source = s.cfg.DefaultSource
	}
	if !slices.Contains(s.cfg.Sources, source) {
		return scan.Request{}, scan.Errorf(ESourceNotEnabled, "source %s is not enabled here; this service reads images from %s",
			quote(source), strings.Join(s.cfg.Sources, ", "))
	}
	if source == scan.SourceRegistry && scan.LooksLikeID(image) {
		return scan.Request{}, scan.Errorf(EInvalidReference,
			"image %s is an id; a registry is asked by reference (host/repository:tag or @sha256:...)", quote(image))
	}
	callback := ""
	if raw := strings.TrimSpace(b.CallbackURL); raw != "" {
		allowed, ok := s.cfg.AllowedCallbacks.Lookup(raw)
		if !ok {
			return scan.Request{}, scan.Errorf(ECallbackNotAllowed,
				"callback_url %s is not allowed; the operator lists the callback URLs a request may name", quote(redact(raw)))
		}
		callback = allowed
	}
	return scan.Request{Image: image, ScanType: scanType, Server: server, Source: source, CallbackURL: callback}, nil
}

// redact hides a password a client put in a server URL before it is quoted
// back or logged.
func redact(raw string) string { return analytics.RedactURL(raw) }

func (s *server) handleGet() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wait, err := parseWait(r.URL.Query().Get("wait"), s.cfg.MaxWait)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		id := chi.URLParam(r, "id")
		rec, err := s.svc.Get(r.Context(), id)
		if err == nil && wait > 0 && !rec.Status.Final() {
			rec, err = s.wait(r.Context(), id, wait)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, rec)
	}
}

// handleReport serves the whole report of a scan's commit.
func (s *server) handleReport() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		report, err := s.svc.Report(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, report)
	}
}

func (s *server) handleList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, err := parseFilter(r.URL.Query())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		p, err := s.svc.List(r.Context(), f)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := page{Scans: p.Scans, NextCursor: p.NextCursor}
		if out.Scans == nil {
			out.Scans = []scan.Record{} // [] rather than null for an empty page
		}
		encode(w, http.StatusOK, out)
	}
}

func (s *server) handleDelete() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec, removed, err := s.svc.Delete(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		zerolog.Ctx(r.Context()).Info().
			Str("scan_id", rec.ID).Bool("removed", removed).Str("status", string(rec.Status)).
			Msg("scan deleted")
		if removed {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		encode(w, http.StatusOK, rec)
	}
}

// scanPath is a scan's URL path, the Location of submits.
func scanPath(id string) string { return "/scan/" + url.PathEscape(id) }

// parseWait reads ?wait=: a Go duration or whole seconds, from 0 (do not
// wait) to max.
func parseWait(v string, max time.Duration) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(secs) * time.Second
	} else if d, err = time.ParseDuration(v); err != nil || d < 0 {
		return 0, scan.Errorf(scan.EInvalid,
			`"wait" must be a duration such as 30s or a number of seconds, not %s`, quote(v))
	}
	if d > max {
		return 0, scan.Errorf(scan.EInvalid, `"wait" must be at most %s, not %s`, max, quote(v))
	}
	return d, nil
}

// parseFilter reads the query of GET /scan.
func parseFilter(q url.Values) (scan.Filter, error) {
	f := scan.Filter{
		Image:  strings.TrimSpace(q.Get("image")),
		Status: scan.Status(q.Get("status")),
		Limit:  scan.DefaultListLimit,
		Cursor: q.Get("cursor"),
	}
	if f.Status != "" && !f.Status.Valid() {
		return f, scan.Errorf(scan.EInvalid, `"status" must be one of %s, not %s`, statusList(), quote(string(f.Status)))
	}
	if v := q.Get("report"); v != "" {
		if f.Report = scan.ReportState(v); !f.Report.Valid() {
			return f, scan.Errorf(scan.EInvalid, `"report" must be one of %q, not %s`, scan.ReportStates, quote(v))
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > scan.MaxListLimit {
			return f, scan.Errorf(scan.EInvalid, `"limit" must be a whole number from 1 to %d, not %s`, scan.MaxListLimit, quote(v))
		}
		f.Limit = n
	}
	return f, nil
}

func statusList() string {
	names := make([]string, len(scan.Statuses))
	for i, st := range scan.Statuses {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}
