package ui

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// pageNames are the templates, each parsed with base.html.
var pageNames = []string{"list", "detail", "confirm", "signin", "error"}

var funcs = template.FuncMap{
	// iso is the machine-readable time the script turns into local time.
	"iso": func(t any) string { return formatTime(t, time.RFC3339Nano) },
	// utc is the time shown before the script runs and kept on hover.
	"utc": func(t any) string { return formatTime(t, "2006-01-02 15:04:05 UTC") },
}

// formatTime formats a time or a non-nil *time.Time in UTC; records keep
// optional times as pointers.
func formatTime(v any, layout string) string {
	switch t := v.(type) {
	case time.Time:
		return t.UTC().Format(layout)
	case *time.Time:
		if t != nil {
			return t.UTC().Format(layout)
		}
	}
	return ""
}

func parsePages() map[string]*template.Template {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		// Must: the templates are embedded, so a parse error is a bug that
		// every test of the package finds.
		pages[name] = template.Must(template.New(name).Funcs(funcs).
			ParseFS(templateFS, "templates/base.html", "templates/"+name+".html"))
	}
	return pages
}

// pageData is what base.html needs.
type pageData struct {
	Title    string
	SignedIn bool // shows the sign-out button
	// ScanID and Final let the detail page's script follow a scan.
	ScanID string
	Final  bool
}

func (h *handler) pageData(r *http.Request, title string) pageData {
	return pageData{Title: title, SignedIn: h.sessionKey != nil && h.validSession(r)}
}

// render writes a page whole or not at all: a template error halfway would
// otherwise leave a broken page with a 200.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var b bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&b, "base", data); err != nil {
		h.logger(r.Context()).Error().Err(err).Str("page", name).Msg("ui: render")
		http.Error(w, "The page could not be shown; the service's log has the details.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

type errorData struct {
	pageData
	Message string
}

func (h *handler) renderError(w http.ResponseWriter, r *http.Request, status int, message string) {
	h.render(w, r, status, "error", errorData{pageData: h.pageData(r, "Problem"), Message: message})
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.renderError(w, r, http.StatusNotFound, "There is no page here. The scans are at /ui/.")
}

// statusOf maps a service error to the status of the page that reports it.
func statusOf(err error) int {
	switch scan.ErrorCode(err) {
	case scan.ENotFound:
		return http.StatusNotFound
	case scan.EConflict:
		return http.StatusConflict
	case scan.EQueueFull:
		return http.StatusTooManyRequests
	case scan.EUnavailable:
		return http.StatusServiceUnavailable
	case scan.EInvalid:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (h *handler) serviceError(w http.ResponseWriter, r *http.Request, err error) {
	if scan.ErrorCode(err) == scan.EInternal {
		h.logger(r.Context()).Error().Err(err).Str("path", r.URL.Path).Msg("ui: service call failed")
	}
	h.renderError(w, r, statusOf(err), plainError(err))
}

// submitForm is the submit form's values, kept to refill it after a problem.
type submitForm struct {
	Image    string
	ScanType string
	Source   string
	Problem  string
}

type listData struct {
	pageData
	Rows       []row
	Status     string
	Image      string
	Report     string
	Cursor     string
	NextURL    string
	FirstURL   string
	Statuses   []scan.Status
	Reports    []scan.ReportState
	ScanTypes  []string
	Sources    []string
	Form       submitForm
	Notice     string
	NoticeID   string
	Chart      chart
	FilterNote string
	// HasSource and HasReport show those columns only when some row has
	// a value: records carry neither yet.
	HasSource, HasReport bool
}

func (h *handler) listPage(w http.ResponseWriter, r *http.Request) {
	h.renderList(w, r, http.StatusOK, submitForm{ScanType: h.cfg.ScanTypes[0], Source: h.cfg.DefaultSource})
}

// renderList shows the list page; a submit that was refused shows it too,
// with the form refilled and the problem beside it.
func (h *handler) renderList(w http.ResponseWriter, r *http.Request, status int, form submitForm) {
	q := r.URL.Query()
	d := listData{
		pageData:  h.pageData(r, "Scans"),
		Status:    q.Get("status"),
		Image:     strings.TrimSpace(q.Get("image")),
		Report:    q.Get("report"),
		Cursor:    q.Get("cursor"),
		Statuses:  scan.Statuses,
		Reports:   scan.ReportStates,
		ScanTypes: h.cfg.ScanTypes,
		Sources:   h.cfg.Sources,
		Form:      form,
	}
	if d.Status != "" && !scan.Status(d.Status).Valid() {
		d.FilterNote = "There is no status " + quoted(d.Status) + "; showing every status."
		d.Status = ""
	}
	if d.Report != "" && !scan.ReportState(d.Report).Valid() {
		d.FilterNote = "There is no report state " + quoted(d.Report) + "; showing every scan."
		d.Report = ""
	}
	switch {
	case q.Get("submitted") != "":
		d.Notice, d.NoticeID = "Scan queued:", q.Get("submitted")
	case q.Get("existing") != "":
		d.Notice, d.NoticeID = "That image is already being scanned, so no second scan was queued:", q.Get("existing")
	case q.Get("removed") != "":
		d.Notice = "Scan " + q.Get("removed") + " was deleted."
	}
	ctx, cancel := h.call(r)
	defer cancel()
	p, err := h.svc.List(ctx, scan.Filter{Image: d.Image, Status: scan.Status(d.Status), Report: scan.ReportState(d.Report), Limit: h.cfg.PageSize, Cursor: d.Cursor})
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	now := h.cfg.Now()
	for _, rec := range p.Scans {
		r := newRow(rec, now)
		d.HasSource = d.HasSource || r.Source != ""
		d.HasReport = d.HasReport || r.Report != nil
		d.Rows = append(d.Rows, r)
	}
	d.FirstURL = listURL(d.Status, d.Image, d.Report, "")
	if p.NextCursor != "" {
		d.NextURL = listURL(d.Status, d.Image, d.Report, p.NextCursor)
	}
	d.Chart = h.buildChart(ctx, now)
	h.render(w, r, status, "list", d)
}

// chartFragment is the chart alone: the list page's script asks for it
// when scans end, so the chart keeps up with the rows without a reload.
func (h *handler) chartFragment(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.call(r)
	defer cancel()
	var b bytes.Buffer
	if err := h.pages["list"].ExecuteTemplate(&b, "chart", h.buildChart(ctx, h.cfg.Now())); err != nil {
		h.logger(r.Context()).Error().Err(err).Msg("ui: render the chart")
		http.Error(w, "The chart could not be drawn.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// listURL is a list page's address with its filters.
func listURL(status, image, report, cursor string) string {
	v := url.Values{}
	if status != "" {
		v.Set("status", status)
	}
	if image != "" {
		v.Set("image", image)
	}
	if report != "" {
		v.Set("report", report)
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if len(v) == 0 {
		return "/ui/"
	}
	return "/ui/?" + v.Encode()
}

func quoted(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "…"
	}
	return `"` + s + `"`
}

// rowsAnswer is the body of rows.json: the current state of the rows the
// page asked about, and the newest scan matching its filters, so that the
// page can say when there are new ones.
type rowsAnswer struct {
	Rows   []row  `json:"rows"`
	Newest string `json:"newest,omitempty"`
}

// rowsJSON serves the page's polling: ?id= (repeated) for the rows to
// refresh; with ?first=1 also the newest id for ?status= and ?image=.
func (h *handler) rowsJSON(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ids := q["id"]
	if len(ids) > maxPollIDs {
		writeJSONError(w, http.StatusBadRequest, scan.EInvalid, "at most 100 ids at a time")
		return
	}
	ctx, cancel := h.call(r)
	defer cancel()
	now := h.cfg.Now()
	out := rowsAnswer{Rows: []row{}}
	for _, id := range ids {
		rec, err := h.svc.Get(ctx, id)
		if scan.ErrorCode(err) == scan.ENotFound {
			continue // deleted meanwhile: the page keeps what it shows
		}
		if err != nil {
			h.jsonServiceError(w, r, err)
			return
		}
		out.Rows = append(out.Rows, newRow(rec, now))
	}
	if q.Get("first") == "1" {
		st := scan.Status(q.Get("status"))
		if !st.Valid() {
			st = ""
		}
		rs := scan.ReportState(q.Get("report"))
		if !rs.Valid() {
			rs = ""
		}
		p, err := h.svc.List(ctx, scan.Filter{Image: strings.TrimSpace(q.Get("image")), Status: st, Report: rs, Limit: 1})
		if err != nil {
			h.jsonServiceError(w, r, err)
			return
		}
		if len(p.Scans) > 0 {
			out.Newest = p.Scans[0].ID
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) jsonServiceError(w http.ResponseWriter, r *http.Request, err error) {
	code := scan.ErrorCode(err)
	if code == scan.EInternal {
		h.logger(r.Context()).Error().Err(err).Str("path", r.URL.Path).Msg("ui: service call failed")
	}
	writeJSONError(w, statusOf(err), code, plainError(err))
}

// writeJSONError answers in the API's one error shape.
func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, struct {
		Error body `json:"error"`
	}{body{code, message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// submit queues a scan from the form and goes back to the list, where the
// new row follows the scan live.
func (h *handler) submit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderList(w, r, http.StatusBadRequest, submitForm{ScanType: h.cfg.ScanTypes[0], Source: h.cfg.DefaultSource,
			Problem: "The form could not be read (is it larger than 64 KiB?)."})
		return
	}
	form := submitForm{
		Image:    strings.TrimSpace(r.PostForm.Get("image")),
		ScanType: strings.TrimSpace(r.PostForm.Get("scan_type")),
		Source:   strings.TrimSpace(r.PostForm.Get("source")),
	}
	if form.ScanType == "" {
		form.ScanType = h.cfg.ScanTypes[0]
	}
	if form.Source == "" {
		form.Source = h.cfg.DefaultSource
	}
	if problem := h.checkSubmit(form); problem != "" {
		form.Problem = problem
		h.renderList(w, r, http.StatusBadRequest, form)
		return
	}
	ctx, cancel := h.call(r)
	defer cancel()
	rec, created, err := h.svc.Submit(ctx, scan.Request{Image: form.Image, ScanType: form.ScanType, Source: form.Source})
	if err != nil {
		if scan.ErrorCode(err) == scan.EInternal {
			h.logger(r.Context()).Error().Err(err).Msg("ui: submit failed")
		}
		form.Problem = plainError(err)
		h.renderList(w, r, statusOf(err), form)
		return
	}
	key := "submitted"
	if !created {
		key = "existing"
	}
	http.Redirect(w, r, "/ui/?"+url.Values{key: {rec.ID}}.Encode(), http.StatusSeeOther)
}

// checkSubmit applies the API's rules for a submit (a reference in
// Docker's grammar or an image id; a known scan type; an enabled source,
// and a registry asked by reference only) and says what is wrong in plain
// words.
func (h *handler) checkSubmit(f submitForm) string {
	switch {
	case f.Image == "":
		return "Enter an image: a reference such as registry.example.org/team/app:1.0, or an image id."
	case !slices.Contains(h.cfg.ScanTypes, f.ScanType):
		return "Scan type " + quoted(f.ScanType) + " is not offered here; choose one from the list."
	case !slices.Contains(h.cfg.Sources, f.Source):
		return "Source " + quoted(f.Source) + " is not enabled here; choose one from the list."
	case scan.LooksLikeID(f.Image) && f.Source == scan.SourceRegistry:
		return "Image " + quoted(f.Image) + " is an image id, which only the Docker daemon knows; a registry is asked by reference (host/repository:tag or @sha256:...)."
	case scan.LooksLikeID(f.Image):
		return ""
	}
	if _, err := reference.ParseNormalizedNamed(f.Image); err != nil {
		return "Image " + quoted(f.Image) + " is neither an image reference nor an image id (" + err.Error() + ")."
	}
	return ""
}

type detailData struct {
	pageData
	detail
	Notice string
}

func (h *handler) detailPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.call(r)
	defer cancel()
	rec, err := h.svc.Get(ctx, r.PathValue("id"))
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	d := detailData{pageData: h.pageData(r, "Scan "+rec.ID), detail: newDetail(rec, h.cfg.Now())}
	d.ScanID, d.Final = rec.ID, rec.Status.Final()
	if rep := d.Row.Report; rep != nil && rep.State == string(scan.ReportReady) {
		report, err := h.svc.Report(ctx, rec.ID)
		if err != nil {
			h.logger(r.Context()).Warn().Err(err).Str("scan", rec.ID).Msg("ui: read the report")
			rep.CVEProblem = "The report's CVEs could not be read just now: " + plainError(err)
		} else {
			rep.CVEs, rep.MoreCVEs = cveRows(report)
		}
	}
	if r.URL.Query().Get("canceled") == "1" {
		d.Notice = "The scan was canceled."
	}
	h.render(w, r, http.StatusOK, "detail", d)
}

type confirmData struct {
	pageData
	Row     row
	Cancel  bool // not final: the action cancels rather than deletes
	Running bool
}

// confirmDeletePage asks before a cancel or delete: a page rather than a
// script dialog, so it works with the keyboard and without JavaScript.
func (h *handler) confirmDeletePage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.call(r)
	defer cancel()
	rec, err := h.svc.Get(ctx, r.PathValue("id"))
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	d := confirmData{Row: newRow(rec, h.cfg.Now()), Cancel: !rec.Status.Final(), Running: rec.Status == scan.StatusRunning}
	title := "Delete scan"
	if d.Cancel {
		title = "Cancel scan"
	}
	d.pageData = h.pageData(r, title)
	h.render(w, r, http.StatusOK, "confirm", d)
}

func (h *handler) deleteScan(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.call(r)
	defer cancel()
	rec, removed, err := h.svc.Delete(ctx, r.PathValue("id"))
	if err != nil {
		h.serviceError(w, r, err)
		return
	}
	if removed {
		http.Redirect(w, r, "/ui/?"+url.Values{"removed": {rec.ID}}.Encode(), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/ui/scans/"+url.PathEscape(rec.ID)+"?canceled=1", http.StatusSeeOther)
}
