package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// row is one scan as the list shows it. Every field is plain text: the
// templates escape it, and the script sets it with textContent.
type row struct {
	ID      string `json:"id"`
	Image   string `json:"image"`
	ShortID string `json:"short_id"`
	Status  string `json:"status"`
	Final   bool   `json:"final"`
	GitURL  string `json:"git_url"`
	// GitURLLink is true only for an http(s) URL with a host: anything
	// else (javascript:, data:, relative) is shown as text and links
	// nothing.
	GitURLLink bool   `json:"git_url_link"`
	GitSHA     string `json:"git_sha"`
	// Source is where the labels were read (daemon, registry).
	Source    string    `json:"source,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Duration  string    `json:"duration"`
	Attempts  string    `json:"attempts"`
	// Answer is the analytics server's answer or, failing that, the first
	// error; AnswerIsError says which.
	Answer        string `json:"answer"`
	AnswerIsError bool   `json:"answer_is_error"`
	// Report is the state of the report follow-up, when the record has
	// one (a scan that never reached the server has none).
	Report *reportView `json:"report,omitempty"`
}

// reportView is the report follow-up of a scan: its state and, once ready,
// its summary and CVEs.
type reportView struct {
	State string `json:"state"`
	// Final is false while the follow-up still asks the server.
	Final bool `json:"-"`
	Tries int  `json:"-"`
	// LastTry, NextTry and Deadline are zero when the record has none.
	LastTry   time.Time `json:"-"`
	NextTry   time.Time `json:"-"`
	Deadline  time.Time `json:"-"`
	Message   string    `json:"-"`
	ScannedAt string    `json:"-"`
	// Summary is the report's counts in a sentence, once it is ready.
	Summary string `json:"summary,omitempty"`
	// CVEs are the report's CVEs, worst first by dependency, at most
	// maxCVERows of them; MoreCVEs counts those left out, and CVEProblem
	// says why there is no table when the report could not be read.
	CVEs       []cveRow `json:"-"`
	MoreCVEs   int      `json:"-"`
	CVEProblem string   `json:"-"`
}

// maxCVERows bounds the detail page's CVE table; the whole report is at
// GET /scan/{id}/report.
const maxCVERows = 200

// cveRow is one line of a report's CVE table. CVSS is empty for the CVEs
// the server does not score (it sends only each dependency's highest).
type cveRow struct {
	ID, Package, Version, Severity, CVSS string
}

// delivery is one attempt to deliver a scan's notification to its
// callback URL, or a notification not tried yet (At zero).
type delivery struct {
	Event string
	URL   string
	// State is the notification's: pending, delivered or failed.
	State  string
	At     time.Time
	Status int
	Error  string
}

// newRow builds the list's view of a record. Later record fields (the
// report) are mapped here and nowhere else.
func newRow(rec scan.Record, now time.Time) row {
	r := row{
		ID:        rec.ID,
		Image:     rec.Image,
		Status:    string(rec.Status),
		Final:     rec.Status.Final(),
		CreatedAt: rec.CreatedAt,
		Duration:  duration(rec, now),
		Attempts:  fmt.Sprintf("%d of %d", rec.Attempts, rec.MaxAttempts),
		Source:    rec.Source,
	}
	if scan.LooksLikeID(rec.Image) {
		r.ShortID = shortID(rec.Image)
	}
	if res := rec.Result; res != nil {
		if res.UUID != "" {
			r.ShortID = shortID(res.UUID)
		}
	}
	if rec.ImageID != "" {
		// The id the scan read: what the daemon or registry had when it ran.
		r.ShortID = shortID(rec.ImageID)
	}
	if res := rec.Result; res != nil {
		r.GitURL = res.ScanResults.GitURL
		r.GitURLLink = isWebURL(r.GitURL)
		r.GitSHA = res.ScanResults.GitSHA
	}
	r.Answer, r.AnswerIsError = answer(rec)
	if rep := rec.Report; rep != nil {
		r.Report = newReportView(*rep)
	}
	return r
}

func newReportView(rep scan.ReportStatus) *reportView {
	v := &reportView{State: string(rep.State), Final: rep.State.Final(), Tries: rep.Tries, Message: rep.Message, ScannedAt: rep.ScannedAt}
	for dst, src := range map[*time.Time]*time.Time{&v.LastTry: rep.LastTryAt, &v.NextTry: rep.NextTryAt, &v.Deadline: rep.Deadline} {
		if src != nil {
			*dst = *src
		}
	}
	if s := rep.Summary; s != nil {
		v.Summary = summarySentence(*s)
	}
	return v
}

// summarySentence puts a report's counts in words.
func summarySentence(s scan.ReportSummary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d dependencies, %d of them vulnerable, %d CVEs", s.Dependencies, s.VulnerableDependencies, s.CVEs)
	if s.CVEs > 0 {
		c := s.BySeverity
		fmt.Fprintf(&b, " (critical %d, high %d, medium %d, low %d, none %d, unscored %d)", c.Critical, c.High, c.Medium, c.Low, c.None, c.Unknown)
	}
	b.WriteString(".")
	if s.HighestCVSSScore != nil && s.HighestCVE != "" {
		fmt.Fprintf(&b, " Worst: %s (CVSS %.1f, %s) in %s.", s.HighestCVE, *s.HighestCVSSScore, s.HighestSeverity, s.HighestDependency)
	}
	return b.String()
}

// cveRows lists a report's CVEs, each dependency's worst first, up to
// maxCVERows, and how many were left out.
func cveRows(r scan.Report) (rows []cveRow, more int) {
	for _, d := range r.Dependencies {
		for _, c := range d.CVEList() {
			if len(rows) == maxCVERows {
				more++
				continue
			}
			row := cveRow{ID: c.ID, Package: d.Name, Version: d.Version, Severity: string(c.Severity)}
			if c.Score != nil {
				row.CVSS = fmt.Sprintf("%.1f", *c.Score)
			}
			rows = append(rows, row)
		}
	}
	return rows, more
}

// answer is what a person wants to know about a scan's outcome: the
// server's words when it answered, else the first error.
func answer(rec scan.Record) (string, bool) {
	if res := rec.Result; res != nil {
		if sr := res.ServerResponse; sr != nil && sr.Summary != "" && len(res.Errors) == 0 {
			return fmt.Sprintf("%d: %s", sr.Status, sr.Summary), false
		}
		if len(res.Errors) > 0 {
			return res.Errors[0], true
		}
		if sr := res.ServerResponse; sr != nil {
			return fmt.Sprintf("%d", sr.Status), false
		}
	}
	if rec.LastError != "" {
		return rec.LastError, true
	}
	return "", false
}

// shortID is the 12 hex digits Docker shows for an image id.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// isWebURL accepts only absolute http and https URLs with a host, the only
// git-url worth a link; a label is written by whoever built the image.
func isWebURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	return u.Scheme == "http" || u.Scheme == "https"
}

// duration is how long a scan ran, or has been running.
func duration(rec scan.Record, now time.Time) string {
	if rec.StartedAt == nil {
		return ""
	}
	end := now
	if rec.FinishedAt != nil {
		end = *rec.FinishedAt
	}
	d := end.Sub(*rec.StartedAt)
	switch {
	case d < 0:
		return ""
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// field is one line of the detail page's table of record fields.
type field struct {
	Name  string
	Value string
	Time  *time.Time
}

// detail is the detail page's view of a record.
type detail struct {
	Row    row
	Fields []field
	// Result is the result document, pretty printed.
	Result     string
	Errors     []string
	Deliveries []delivery
}

func newDetail(rec scan.Record, now time.Time) detail {
	d := detail{Row: newRow(rec, now)}
	d.Fields = []field{
		{Name: "id", Value: rec.ID},
		{Name: "image", Value: rec.Image},
		{Name: "scan_type", Value: rec.ScanType},
		{Name: "server", Value: orDefault(rec.Server, "(the default server)")},
		{Name: "source", Value: rec.Source},
		{Name: "image_id", Value: rec.ImageID},
		{Name: "digest", Value: rec.Digest},
		{Name: "manifest_digest", Value: rec.ManifestDigest},
		{Name: "platform", Value: rec.Platform},
		{Name: "status", Value: string(rec.Status)},
		{Name: "attempts", Value: fmt.Sprintf("%d", rec.Attempts)},
		{Name: "max_attempts", Value: fmt.Sprintf("%d", rec.MaxAttempts)},
		{Name: "last_error", Value: rec.LastError},
		{Name: "created_at", Time: &rec.CreatedAt},
		{Name: "updated_at", Time: &rec.UpdatedAt},
		{Name: "started_at", Time: rec.StartedAt},
		{Name: "finished_at", Time: rec.FinishedAt},
		{Name: "callback_url", Value: rec.CallbackURL},
	}
	if rec.Result != nil {
		d.Result = prettyJSON(rec.Result)
		d.Errors = rec.Result.Errors
	}
	if len(d.Errors) == 0 && rec.LastError != "" {
		d.Errors = []string{rec.LastError}
	}
	for _, cb := range rec.Callbacks {
		if len(cb.Attempts) == 0 {
			d.Deliveries = append(d.Deliveries, delivery{Event: cb.Event, URL: cb.URL, State: cb.State})
		}
		for _, a := range cb.Attempts {
			d.Deliveries = append(d.Deliveries, delivery{Event: cb.Event, URL: cb.URL, State: cb.State, At: a.At, Status: a.Status, Error: a.Error})
		}
	}
	return d
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// prettyJSON indents v for reading; the template escapes it, so "<" and
// "&" are kept as they are rather than as \u003c.
func prettyJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("(the document does not encode: %v)", err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// plainError says in plain words what a failed service call means for the
// person who clicked.
func plainError(err error) string {
	msg := scan.ErrorMessage(err)
	switch scan.ErrorCode(err) {
	case scan.ENotFound:
		return "There is no such scan: it may have been deleted, or pruned after the retention period."
	case scan.EConflict:
		return "This scan is running right now, so it cannot be canceled or deleted. Try again once it has finished. (" + msg + ")"
	case scan.EQueueFull:
		return "The queue is full right now, so the scan was not queued. Try again in a minute."
	case scan.EUnavailable:
		return "The service cannot reach its database right now. Try again shortly."
	case scan.EInvalid:
		return "The request was refused: " + msg
	case scan.EInternal:
		return "Something went wrong inside the service; its log has the details."
	}
	return "The request was refused: " + msg
}
