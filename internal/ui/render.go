package ui

import (
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// The markup of every page. Each function writes what one template file
// did; markup.go says why there are no templates. Values from outside (labels,
// errors, form input) go through m.text or m.url only.

// page writes the frame every page shares around its main part.
func page(d pageData, main func(m *markup)) string {
	var m markup
	m.raw(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>`)
	m.text(d.Title)
	m.raw(` · analytics-scanner</title>
<link rel="stylesheet" href="/ui/static/ui.css">
<script src="/ui/static/ui.js" defer></script>
</head>
<body`)
	if d.ScanID != "" {
		m.raw(` data-scan-id="`)
		m.text(d.ScanID)
		m.raw(`" data-final="`)
		m.bool(d.Final)
		m.raw(`"`)
	}
	m.raw(`>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/ui/">analytics-scanner</a>
  <nav aria-label="Main">
    <a href="/ui/">Scans</a>
    `)
	if d.SignedIn {
		m.raw(`<form method="post" action="/ui/signout" class="inline"><button type="submit" class="link">Sign out</button></form>`)
	}
	m.raw(`
  </nav>
</header>
<main id="main">
`)
	main(&m)
	m.raw(`
</main>
</body>
</html>
`)
	return m.b.String()
}

// timeTag is a time the script shows in local time (attr data-local) or as
// an age (data-age); the UTC text stays for readers without script.
func timeTag(m *markup, t time.Time, attr string) {
	m.raw(`<time datetime="`)
	m.text(formatTime(t, time.RFC3339Nano))
	m.raw(`" title="`)
	m.text(formatTime(t, utcLayout))
	m.raw(`" `, attr, `>`)
	m.text(formatTime(t, utcLayout))
	m.raw(`</time>`)
}

const utcLayout = "2006-01-02 15:04:05 UTC"

func (d errorData) main(m *markup) {
	m.raw("<h1>Something is not right</h1>\n<p class=\"problem\" role=\"alert\">")
	m.text(d.Message)
	m.raw("</p>\n<p><a href=\"/ui/\">Back to the scans</a></p>")
}

func (d signInData) main(m *markup) {
	m.raw(`<h1>Sign in</h1>
<p>This service is protected by an API token (<code>SCANNER_API_TOKEN</code>). Enter it once; the page then remembers you for a while in a cookie that holds no token.</p>
`)
	if d.Problem != "" {
		m.raw(`<p class="problem" role="alert" id="signin-problem">`)
		m.text(d.Problem)
		m.raw(`</p>`)
	}
	m.raw(`
<form method="post" action="/ui/signin" class="card narrow">
  <input type="hidden" name="next" value="`)
	m.text(d.Next)
	m.raw(`">
  <label for="token">API token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required autofocus`)
	if d.Problem != "" {
		m.raw(` aria-describedby="signin-problem"`)
	}
	m.raw(`>
  <button type="submit">Sign in</button>
</form>`)
}

func (d confirmData) main(m *markup) {
	m.raw("<h1>")
	m.text(d.Title)
	m.raw("</h1>\n\n<p>Scan <code>")
	m.text(d.Row.ID)
	m.raw(`</code> of <strong class="image">`)
	m.text(d.Row.Image)
	m.raw(`</strong> is <span class="badge badge-`)
	m.text(d.Row.Status)
	m.raw(`">`)
	m.text(d.Row.Status)
	m.raw("</span>.</p>\n\n")
	if d.Running {
		m.raw(`<p class="problem" role="alert">This scan is running right now, so it cannot be canceled or deleted. Try again once it has finished.</p>
<p><a href="/ui/scans/`)
		m.url(d.Row.ID)
		m.raw(`">Back to the scan</a></p>`)
		return
	}
	m.raw("<p>")
	if d.Cancel {
		m.raw("Canceling stops the scan before it runs again; the record stays, marked canceled.")
	} else {
		m.raw("Deleting removes the record and its result for good.")
	}
	m.raw("</p>\n<form method=\"post\" action=\"/ui/scans/")
	m.url(d.Row.ID)
	m.raw(`/delete" class="actions">
  <button type="submit" class="danger" id="confirm">`)
	if d.Cancel {
		m.raw("Yes, cancel the scan")
	} else {
		m.raw("Yes, delete the scan")
	}
	m.raw(`</button>
  <a href="/ui/scans/`)
	m.url(d.Row.ID)
	m.raw(`">No, keep it</a>
</form>`)
}

func (d detailData) main(m *markup) {
	r := d.Row
	m.raw("<p><a href=\"/ui/\">← All scans</a></p>\n\n<h1>Scan of <span class=\"image\">")
	m.text(r.Image)
	m.raw("</span></h1>\n<p class=\"status-line\"><span class=\"badge badge-")
	m.text(r.Status)
	m.raw(`" id="status">`)
	m.text(r.Status)
	m.raw("</span>\n")
	if r.Answer != "" {
		m.raw(`<span class="`)
		if r.AnswerIsError {
			m.raw("error-text")
		}
		m.raw(`">`)
		m.text(r.Answer)
		m.raw("</span>")
	}
	m.raw("</p>\n\n")
	if d.Notice != "" {
		m.raw(`<p class="notice" role="status">`)
		m.text(d.Notice)
		m.raw("</p>")
	}
	m.raw("\n<p class=\"actions\">\n  <a class=\"button danger\" href=\"/ui/scans/")
	m.url(r.ID)
	m.raw(`/delete">`)
	if r.Final {
		m.raw("Delete…")
	} else {
		m.raw("Cancel…")
	}
	m.raw(`</a>
</p>

<section aria-labelledby="fields-h">
<h2 id="fields-h">Record</h2>
<table class="fields">
<tbody>
`)
	for _, f := range d.Fields {
		m.raw(`<tr><th scope="row">`)
		m.text(f.Name)
		m.raw("</th><td>")
		if f.Time != nil {
			timeTag(m, *f.Time, "data-local")
		} else {
			m.text(f.Value)
		}
		m.raw("</td></tr>\n")
	}
	m.raw("\n<tr><th scope=\"row\">git-url</th><td>")
	if r.GitURLLink {
		m.raw(`<a href="`)
		m.url(r.GitURL)
		m.raw(`" rel="noopener noreferrer">`)
		m.text(r.GitURL)
		m.raw("</a>")
	} else {
		m.text(r.GitURL)
	}
	m.raw("</td></tr>\n<tr><th scope=\"row\">git-sha</th><td><code>")
	m.text(r.GitSHA)
	m.raw("</code></td></tr>\n<tr><th scope=\"row\">duration</th><td>")
	m.text(r.Duration)
	m.raw("</td></tr>\n</tbody>\n</table>\n</section>\n\n")

	if len(d.Errors) > 0 {
		m.raw("<section aria-labelledby=\"errors-h\">\n<h2 id=\"errors-h\">Errors</h2>\n<ul class=\"errors\">")
		for _, e := range d.Errors {
			m.raw("<li>")
			m.text(e)
			m.raw("</li>")
		}
		m.raw("</ul>\n</section>\n")
	}
	m.raw("\n")
	if rep := r.Report; rep != nil {
		reportSection(m, rep, r.ID)
	}
	m.raw("\n")
	if len(d.Deliveries) > 0 {
		m.raw(`<section aria-labelledby="deliveries-h">
<h2 id="deliveries-h">Callback deliveries</h2>
<div class="scroll"><table id="deliveries">
<thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">URL</th><th scope="col">Answer</th><th scope="col">State</th></tr></thead>
<tbody>`)
		for _, dl := range d.Deliveries {
			m.raw("<tr><td>")
			if dl.At.IsZero() {
				m.raw("not tried yet")
			} else {
				timeTag(m, dl.At, "data-local")
			}
			m.raw("</td><td>")
			m.text(dl.Event)
			m.raw("</td><td>")
			m.text(dl.URL)
			m.raw("</td><td>")
			if dl.Error != "" {
				m.raw(`<span class="error-text">`)
				m.text(dl.Error)
				m.raw("</span>")
			} else if dl.Status != 0 {
				m.int(dl.Status)
			}
			m.raw("</td><td>")
			m.text(dl.State)
			m.raw("</td></tr>")
		}
		m.raw("</tbody>\n</table></div>\n</section>\n")
	}
	m.raw("\n<section aria-labelledby=\"result-h\">\n<h2 id=\"result-h\">Result document</h2>\n")
	switch {
	case d.Result != "":
		m.raw(`<pre class="result" tabindex="0">`)
		m.text(d.Result)
		m.raw("</pre>")
	case r.Status == string(scan.StatusCanceled):
		m.raw("<p>None: a canceled scan has no result.</p>")
	default:
		m.raw("<p>None yet: the scan has not finished. This page shows it when it does.</p>")
	}
	m.raw("\n</section>")
}

// reportSection is the detail page's report follow-up: its state, times,
// summary and CVE table.
func reportSection(m *markup, rep *reportView, scanID string) {
	m.raw(`<section aria-labelledby="report-h">
<h2 id="report-h">Report</h2>
<table class="fields" id="report">
<tbody>
<tr><th scope="row">state</th><td><strong>`)
	m.text(rep.State)
	m.raw("</strong>")
	if !rep.Final {
		m.raw(" (the service asks the server again later)")
	}
	m.raw("</td></tr>\n<tr><th scope=\"row\">tries</th><td>")
	m.int(rep.Tries)
	m.raw("</td></tr>\n")
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"last asked", rep.LastTry}, {"next try", rep.NextTry}, {"deadline", rep.Deadline}} {
		if !t.at.IsZero() {
			m.raw(`<tr><th scope="row">`, t.name, "</th><td>")
			timeTag(m, t.at, "data-local")
			m.raw("</td></tr>\n")
		}
	}
	if rep.Message != "" {
		m.raw(`<tr><th scope="row">message</th><td>`)
		m.text(rep.Message)
		m.raw("</td></tr>")
	}
	m.raw("\n")
	if rep.ScannedAt != "" {
		m.raw(`<tr><th scope="row">scanned at</th><td>`)
		m.text(rep.ScannedAt)
		m.raw("</td></tr>")
	}
	m.raw("\n</tbody>\n</table>\n")
	if rep.Summary != "" {
		m.raw(`<p class="report-summary">`)
		m.text(rep.Summary)
		m.raw("</p>")
	}
	m.raw("\n")
	if rep.CVEProblem != "" {
		m.raw(`<p class="problem">`)
		m.text(rep.CVEProblem)
		m.raw("</p>")
	}
	m.raw("\n")
	if len(rep.CVEs) > 0 {
		m.raw(`<div class="scroll"><table class="cves">
<caption class="visually-hidden">CVEs of the report</caption>
<thead><tr><th scope="col">CVE</th><th scope="col">Package</th><th scope="col">Version</th><th scope="col">Severity</th><th scope="col">CVSS</th></tr></thead>
<tbody>`)
		for _, c := range rep.CVEs {
			for i, v := range []string{c.ID, c.Package, c.Version, c.Severity, c.CVSS} {
				if i == 0 {
					m.raw("<tr>")
				}
				m.raw("<td>")
				m.text(v)
				m.raw("</td>")
			}
			m.raw("</tr>")
		}
		m.raw("</tbody>\n</table></div>\n")
		if rep.MoreCVEs > 0 {
			m.raw(`<p class="small">`)
			m.int(rep.MoreCVEs)
			m.raw(" more CVEs are in the whole report: <code>GET /scan/")
			m.text(scanID)
			m.raw("/report</code>.</p>")
		}
		m.raw("\n")
	}
	m.raw("</section>\n")
}

func (d listData) main(m *markup) {
	m.raw("<h1>Scans</h1>\n")
	if d.Notice != "" {
		m.raw(`<p class="notice" role="status">`)
		m.text(d.Notice)
		if d.NoticeID != "" {
			m.raw(` <a href="/ui/scans/`)
			m.url(d.NoticeID)
			m.raw(`"><code>`)
			m.text(d.NoticeID)
			m.raw("</code></a>")
		}
		m.raw("</p>")
	}
	m.raw("\n")
	if d.FilterNote != "" {
		m.raw(`<p class="problem" role="alert">`)
		m.text(d.FilterNote)
		m.raw("</p>")
	}
	m.raw(`

<div class="panels">
<section class="card" aria-labelledby="submit-h">
<h2 id="submit-h">Scan an image</h2>
<form method="post" action="/ui/scans" id="submit-form">
  `)
	if d.Form.Problem != "" {
		m.raw(`<p class="problem" role="alert" id="submit-problem">`)
		m.text(d.Form.Problem)
		m.raw("</p>")
	}
	m.raw(`
  <label for="submit-image">Image (reference or id)</label>
  <input id="submit-image" name="image" type="text" required value="`)
	m.text(d.Form.Image)
	m.raw(`" placeholder="registry.example.org/team/app:1.0" autocomplete="off" spellcheck="false"`)
	if d.Form.Problem != "" {
		m.raw(` aria-describedby="submit-problem" aria-invalid="true"`)
	}
	m.raw(`>
  <label for="submit-type">Scan type</label>
  <select id="submit-type" name="scan_type">`)
	options(m, d.ScanTypes, d.Form.ScanType)
	m.raw(`</select>
  <label for="submit-source">Source</label>
  <select id="submit-source" name="source">`)
	options(m, d.Sources, d.Form.Source)
	m.raw(`</select>
  <button type="submit" id="submit-button">Scan</button>
</form>
</section>

<section class="card" aria-labelledby="filter-h">
<h2 id="filter-h">Filter</h2>
<form method="get" action="/ui/" id="filter-form">
  <label for="filter-status">Status</label>
  <select id="filter-status" name="status">
    <option value="">any status</option>
    `)
	options(m, d.Statuses, d.Status)
	m.raw(`
  </select>
  <label for="filter-report">Report</label>
  <select id="filter-report" name="report">
    <option value="">any report state</option>
    `)
	options(m, d.Reports, d.Report)
	m.raw(`
  </select>
  <label for="filter-image">Image (exact reference)</label>
  <input id="filter-image" name="image" type="text" value="`)
	m.text(d.Image)
	m.raw(`" autocomplete="off" spellcheck="false">
  <button type="submit" id="filter-button">Filter</button>
  `)
	filtered := d.Status != "" || d.Image != "" || d.Report != ""
	if filtered {
		m.raw(`<a href="/ui/">Clear</a>`)
	}
	m.raw(`
</form>
</section>

<section class="card chart" aria-labelledby="chart-h">
<h2 id="chart-h">Last 24 hours</h2>
<div id="chart">`)
	d.Chart.write(m)
	m.raw(`</div>
</section>
</div>

<p id="new-scans" class="notice" role="status" hidden>There are newer scans. <a href="">Show them</a></p>
<p id="poll-problem" class="problem" role="alert" hidden></p>

`)
	if len(d.Rows) > 0 {
		d.table(m)
	} else {
		m.raw(`<p id="no-scans">No scans`)
		if filtered {
			m.raw(" match these filters")
		}
		m.raw(".</p>\n")
	}
	m.raw("<nav class=\"pages\" aria-label=\"Pages\">\n  ")
	if d.Cursor != "" {
		m.raw(`<a href="`)
		m.url(d.FirstURL)
		m.raw(`">Newest</a>`)
	}
	m.raw("\n  ")
	if d.NextURL != "" {
		m.raw(`<a href="`)
		m.url(d.NextURL)
		m.raw(`" id="next-page" rel="next">Older scans →</a>`)
	}
	m.raw("\n</nav>")
}

// options writes a select's options, the one equal to selected marked.
func options[T ~string](m *markup, values []T, selected string) {
	for _, v := range values {
		m.raw(`<option value="`)
		m.text(string(v))
		m.raw(`"`)
		if string(v) == selected {
			m.raw(" selected")
		}
		m.raw(">")
		m.text(string(v))
		m.raw("</option>")
	}
}

// table is the list's rows; the script follows those not final.
func (d listData) table(m *markup) {
	m.raw(`<div class="scroll">
<table id="scans" class="scans" data-status="`)
	m.text(d.Status)
	m.raw(`" data-image="`)
	m.text(d.Image)
	m.raw(`" data-report="`)
	m.text(d.Report)
	m.raw(`" data-first="`)
	if d.Cursor != "" {
		m.raw("0")
	} else {
		m.raw("1")
	}
	m.raw(`">
<caption class="visually-hidden">Scans, newest first</caption>
<thead><tr>
  <th scope="col">Status</th><th scope="col">Image</th><th scope="col">git-url</th><th scope="col">git-sha</th>
  `)
	if d.HasSource {
		m.raw(`<th scope="col">Source</th>`)
	}
	m.raw(`<th scope="col">Created</th><th scope="col">Duration</th><th scope="col">Attempts</th>
  <th scope="col">Answer</th>`)
	if d.HasReport {
		m.raw(`<th scope="col">Report</th>`)
	}
	m.raw("\n</tr></thead>\n<tbody>\n")
	for _, r := range d.Rows {
		m.raw(`
<tr id="scan-`)
		m.text(r.ID)
		m.raw(`" data-id="`)
		m.text(r.ID)
		m.raw(`" data-status="`)
		m.text(r.Status)
		m.raw(`" data-final="`)
		m.bool(r.Final)
		m.raw(`">
  <td data-label="Status" data-field="status"><span class="badge badge-`)
		m.text(r.Status)
		m.raw(`">`)
		m.text(r.Status)
		m.raw(`</span></td>
  <td data-label="Image"><a href="/ui/scans/`)
		m.url(r.ID)
		m.raw(`" class="image">`)
		m.text(r.Image)
		m.raw(`</a> <code class="short-id" data-field="short_id">`)
		m.text(r.ShortID)
		m.raw(`</code></td>
  <td data-label="git-url" data-field="git_url" class="wrap">`)
		if r.GitURLLink {
			m.raw(`<a href="`)
			m.url(r.GitURL)
			m.raw(`" rel="noopener noreferrer">`)
			m.text(r.GitURL)
			m.raw("</a>")
		} else {
			m.text(r.GitURL)
		}
		m.raw(`</td>
  <td data-label="git-sha" data-field="git_sha"><code>`)
		m.text(r.GitSHA)
		m.raw("</code></td>\n  ")
		if d.HasSource {
			m.raw(`<td data-label="Source" data-field="source">`)
			m.text(r.Source)
			m.raw("</td>")
		}
		m.raw("\n  <td data-label=\"Created\">")
		timeTag(m, r.CreatedAt, "data-age")
		m.raw(`</td>
  <td data-label="Duration" data-field="duration">`)
		m.text(r.Duration)
		m.raw(`</td>
  <td data-label="Attempts" data-field="attempts">`)
		m.text(r.Attempts)
		m.raw(`</td>
  <td data-label="Answer" data-field="answer" class="wrap`)
		if r.AnswerIsError {
			m.raw(" error-text")
		}
		m.raw(`">`)
		m.text(r.Answer)
		m.raw("</td>\n  ")
		if d.HasReport {
			m.raw(`<td data-label="Report" data-field="report">`)
			if r.Report != nil {
				m.text(r.Report.State)
			}
			m.raw("</td>")
		}
		m.raw("\n</tr>\n")
	}
	m.raw("\n</tbody>\n</table>\n</div>\n")
}

// write draws the chart as inline SVG; the list page holds it, and GET
// /ui/chart serves it alone for the script to swap in.
func (c chart) write(m *markup) {
	m.raw("\n")
	if c.Unavailable {
		m.raw("<p>The chart is not available right now.</p>\n")
		return
	}
	m.raw(`<svg class="chart-svg" viewBox="0 -4 `)
	m.int(c.Width)
	m.raw(" ")
	m.int(c.Height)
	m.raw(`" role="img" aria-labelledby="chart-title chart-desc" preserveAspectRatio="none">
<title id="chart-title">Scans per hour over the last 24 hours, by outcome</title>
<desc id="chart-desc">`)
	m.int(c.Total)
	m.raw(" scans: ")
	m.int(c.Totals["succeeded"])
	m.raw(" succeeded, ")
	m.int(c.Totals["failed"])
	m.raw(" failed, ")
	m.int(c.Totals["canceled"])
	m.raw(" canceled, ")
	m.int(c.Totals["pending"])
	m.raw(` not finished.</desc>
<line x1="0" y1="`)
	m.int(c.Height)
	m.raw(`" x2="`)
	m.int(c.Width)
	m.raw(`" y2="`)
	m.int(c.Height)
	m.raw("\" class=\"axis\"></line>\n")
	for _, bar := range c.Bars {
		m.raw("<g><title>")
		m.text(bar.Label)
		m.raw(`</title><rect x="`)
		m.int(bar.X)
		m.raw(`" y="0" width="20" height="100" class="hover"></rect>`)
		for _, p := range bar.Parts {
			m.raw(`<rect x="`)
			m.int(bar.X)
			m.raw(`" y="`)
			m.int(p.Y)
			m.raw(`" width="18" height="`)
			m.int(p.H)
			m.raw(`" class="bar-`)
			m.text(p.Outcome)
			m.raw(`"></rect>`)
		}
		m.raw("</g>\n")
	}
	m.raw("</svg>\n<p class=\"chart-axis\"><span>24 h ago</span><span>")
	if c.Max != 0 {
		m.raw("tallest bar: ")
		m.int(c.Max)
	} else {
		m.raw("no scans")
	}
	m.raw("</span><span>now</span></p>\n<ul class=\"legend\">\n")
	for _, o := range []struct{ outcome, words string }{
		{"succeeded", "succeeded"}, {"failed", "failed"}, {"canceled", "canceled"}, {"pending", "not finished"},
	} {
		m.raw(`  <li><span class="swatch bar-`, o.outcome, `"></span>`, o.words, " ")
		m.int(c.Totals[o.outcome])
		m.raw("</li>\n")
	}
	m.raw("</ul>\n")
	if c.Partial {
		m.raw(`<p class="small">Only the newest `)
		m.int(c.Total)
		m.raw(" scans are counted.</p>")
	}
	m.raw("\n")
}
