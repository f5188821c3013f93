package ui

import (
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

// TestReportAndDeliveriesRender renders the parts of the detail page that
// records will fill once they carry a report and callback deliveries: the
// template has their place already, escaped like everything else.
func TestReportAndDeliveriesRender(t *testing.T) {
	h := New(Config{}, nil).(*handler)
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	d := detailData{detail: detail{
		Row: row{ID: "id-1", Image: "a:1", Status: "succeeded", Final: true, Report: &reportView{
			State: "ready", LastTry: at, Summary: "3 dependencies, 2 CVEs <b>",
			CVEs: []cveRow{{ID: "CVE-2024-0001", Package: "lodash", Version: "4.17.0", Severity: "high", CVSS: 7.5}},
		}},
		Deliveries: []delivery{{At: at, URL: "https://hooks.example/x", Status: 204}, {At: at, URL: "https://hooks.example/x", Error: "connection refused"}},
	}}
	rec := httptest.NewRecorder()
	h.render(rec, httptest.NewRequest("GET", "/ui/scans/id-1", nil), 200, "detail", d)
	body := rec.Body.String()
	for _, want := range []string{
		"State: <strong>ready</strong>",
		"3 dependencies, 2 CVEs &lt;b&gt;",
		"<td>CVE-2024-0001</td><td>lodash</td><td>4.17.0</td><td>high</td><td>7.5</td>",
		"Callback deliveries",
		"<td>204</td>",
		`<span class="error-text">connection refused</span>`,
		`datetime="2026-11-29T12:00:00Z" title="2026-11-29 12:00:00 UTC"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the detail page lacks %s", want)
		}
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
