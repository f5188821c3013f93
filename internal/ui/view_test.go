package ui

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

func TestIsWebURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://github.com/example/app": true,
		"http://git.example.org/a.git":   true,
		"javascript:alert(1)":            false,
		"JAVASCRIPT:alert(1)":            false,
		" javascript:alert(1)":           false,
		"data:text/html,<script>":        false,
		"//evil.example/x":               false,
		"/relative":                      false,
		"git@github.com:example/app.git": false,
		"https:///nohost":                false,
		"":                               false,
	} {
		if got := isWebURL(raw); got != want {
			t.Errorf("isWebURL(%q) = %v, want %v", raw, got, want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"/ui/scans/x?y=1":    "/ui/scans/x?y=1",
		"":                   "/ui/",
		"//evil.example/":    "/ui/",
		"/ui/\\evil":         "/ui/",
		"https://evil/ui/":   "/ui/",
		"/metrics":           "/ui/",
		"/ui/\r\nSet-Cookie": "/ui/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// A record's report and callback deliveries show on its detail page, and
// the report's state on its row; every value escaped like the rest.
func TestReportAndDeliveriesShow(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	score := 9.8
	rec := scan.Record{
		ID: "id-1", Image: "a:1", ScanType: scan.ScanTypeRegister, Status: scan.StatusSucceeded,
		CreatedAt: at, UpdatedAt: at, MaxAttempts: 3, CallbackURL: "https://hooks.example/x",
		Report: &scan.ReportStatus{State: scan.ReportReady, Tries: 2, LastTryAt: &at, ScannedAt: "2026-11-29 <b>",
			Summary: &scan.ReportSummary{Dependencies: 3, VulnerableDependencies: 1, CVEs: 2,
				BySeverity:       scan.SeverityCounts{Critical: 1, Unknown: 1},
				HighestCVSSScore: &score, HighestCVE: "CVE-2024-0001", HighestSeverity: scan.SeverityCritical, HighestDependency: "lodash:4.17.0"}},
		Callbacks: []scan.Callback{
			{Event: scan.EventScanFinal, URL: "https://hooks.example/x", State: "delivered", CreatedAt: at, Attempts: []scan.CallbackAttempt{
				{At: at, Error: "connection refused"}, {At: at.Add(time.Minute), Status: 204}}},
			{Event: scan.EventReportFinal, URL: "https://hooks.example/x", State: "pending", CreatedAt: at},
		},
	}
	if r := newRow(rec, at); r.Report == nil || r.Report.State != "ready" {
		t.Fatalf("the row's report: %+v, want state ready", r.Report)
	}
	d := newDetail(rec, at)
	if len(d.Deliveries) != 3 {
		t.Errorf("%d delivery lines, want one per attempt and one for the notification not tried yet: %+v", len(d.Deliveries), d.Deliveries)
	}
	d.Row.Report.CVEs, d.Row.Report.MoreCVEs = cveRows(scan.Report{Dependencies: []scan.Dependency{
		{Name: "lodash", Version: "4.17.0", CVEs: []string{"CVE-2024-0001", "CVE-2023-<9>"}, CVECount: 2, HighestCVSSScore: &score, CVEIDForHighestCVSSScore: "CVE-2024-0001"},
		{Name: "left-pad", Version: "1.0.0", CVECount: 0},
	}})
	h := New(Config{}, nil).(*handler)
	w := httptest.NewRecorder()
	h.render(w, httptest.NewRequest("GET", "/ui/scans/id-1", nil), 200, "detail", detailData{detail: d})
	body := w.Body.String()
	for _, want := range []string{
		"<strong>ready</strong>",
		"<td>2026-11-29 &lt;b&gt;</td>",
		"3 dependencies, 1 of them vulnerable, 2 CVEs (critical 1, high 0, medium 0, low 0, none 0, unscored 1). Worst: CVE-2024-0001 (CVSS 9.8, critical) in lodash:4.17.0.",
		"<td>CVE-2024-0001</td><td>lodash</td><td>4.17.0</td><td>critical</td><td>9.8</td>",
		"<td>CVE-2023-&lt;9&gt;</td><td>lodash</td><td>4.17.0</td><td>unknown</td><td></td>",
		"Callback deliveries",
		`<td>scan.final</td><td>https://hooks.example/x</td><td><span class="error-text">connection refused</span></td><td>delivered</td>`,
		`<td>204</td><td>delivered</td>`,
		`<td>not tried yet</td><td>report.final</td>`,
		`<th scope="row">callback_url</th><td>https://hooks.example/x</td>`,
		`datetime="2026-11-29T12:00:00Z" title="2026-11-29 12:00:00 UTC"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the detail page lacks %s", want)
		}
	}
}

// The CVE table is bounded; the rest are counted.
func TestCVERowsBounded(t *testing.T) {
	ids := make([]string, maxCVERows+5)
	for i := range ids {
		ids[i] = fmt.Sprintf("CVE-2024-%04d", i)
	}
	rows, more := cveRows(scan.Report{Dependencies: []scan.Dependency{{Name: "big", Version: "1", CVEs: ids, CVECount: len(ids)}}})
	if len(rows) != maxCVERows || more != 5 {
		t.Errorf("%d rows and %d more, want %d and 5", len(rows), more, maxCVERows)
	}
}

// Where a scan read its image shows on its row and detail page: the source,
// and the id the scan read rather than the reference it was given.
func TestProvenanceShows(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	rec := scan.Record{
		ID: "id-1", Image: "registry.example.org/app:1", ScanType: scan.ScanTypeRegister, Status: scan.StatusQueued,
		Source: scan.SourceRegistry, ImageID: "sha256:" + strings.Repeat("c0", 32),
		ManifestDigest: "sha256:" + strings.Repeat("d1", 32), Platform: "linux/arm64",
		CreatedAt: at, UpdatedAt: at, MaxAttempts: 3,
	}
	r := newRow(rec, at)
	if r.Source != "registry" || r.ShortID != "c0c0c0c0c0c0" {
		t.Errorf("row source %q, short id %q; want registry and the image id read", r.Source, r.ShortID)
	}
	fields := map[string]string{}
	for _, f := range newDetail(rec, at).Fields {
		fields[f.Name] = f.Value
	}
	for name, want := range map[string]string{
		"source": "registry", "image_id": rec.ImageID, "manifest_digest": rec.ManifestDigest, "platform": "linux/arm64", "digest": "",
	} {
		if got, ok := fields[name]; !ok || got != want {
			t.Errorf("detail field %s = %q (present %v), want %q", name, got, ok, want)
		}
	}
}
