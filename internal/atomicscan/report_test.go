package atomicscan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

func score(f float64) *float64 { return &f }

// sampleReport has a critical, a medium and two unscored CVEs, and one
// dependency without CVEs.
func sampleReport() *scan.Report {
	return &scan.Report{
		GitURL: "https://example.org/repo", GitSHA: "46e443d", ScannedAt: "Fri, 01 Mar 2024 10:30:00 GMT",
		Dependencies: []scan.Dependency{
			{Name: "minimist", Version: "0.0.8", CVECount: 1, CVEs: []string{"CVE-2020-7598"},
				HighestCVSSScore: score(5.6), CVEIDForHighestCVSSScore: "CVE-2020-7598", Licenses: []string{"MIT"}},
			{Name: "left-pad", Version: "1.3.0", Licenses: []string{"WTFPL"}},
			{Name: "lodash", Version: "4.17.4", CVECount: 3, CVEs: []string{"CVE-2019-10744", "CVE-2018-16487", "CVE-2018-3721"},
				HighestCVSSScore: score(9.1), CVEIDForHighestCVSSScore: "CVE-2019-10744", Licenses: []string{"MIT"}},
		},
	}
}

func reportResult(state scan.ReportState, report *scan.Report, message string) ReportResult {
	r := ReportResult{Result: sampleResult(state == scan.ReportReady || state == scan.ReportLockFileAbsent),
		ReportPart: NewReportPart(state, report, message)}
	r.ScanType = scan.ScanTypeReport
	if r.Successful {
		r.Result.Summary = ReportSummaryText(r.ReportPart)
		r.ServerResponse = &scan.ServerResponse{Status: 200}
	}
	return r
}

func TestReportResultDocument(t *testing.T) {
	r := reportResult(scan.ReportReady, sampleReport(), "")
	raw, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// Every key of a register scan's document stays, and the report's follow.
	plain, _ := Marshal(r.Result)
	var plainDoc map[string]json.RawMessage
	_ = json.Unmarshal(plain, &plainDoc)
	for k, v := range plainDoc {
		if !bytes.Equal(doc[k], v) {
			t.Errorf("key %q: %s, want %s as in a register result", k, doc[k], v)
		}
	}
	for _, k := range []string{"Report State", "Report Summary", "Report"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("no %q key in %s", k, raw)
		}
	}
	if string(doc["Report State"]) != `"ready"` {
		t.Errorf("Report State = %s", doc["Report State"])
	}
	var report scan.Report
	if err := json.Unmarshal(doc["Report"], &report); err != nil || !reflect.DeepEqual(report, *sampleReport()) {
		t.Errorf("Report = %s (%v), want the report as received", doc["Report"], err)
	}
	var summary scan.ReportSummary
	if err := json.Unmarshal(doc["Report Summary"], &summary); err != nil || summary.CVEs != 4 || summary.BySeverity.Critical != 1 ||
		summary.BySeverity.Medium != 1 || summary.BySeverity.Unknown != 2 {
		t.Errorf("Report Summary = %s (%v)", doc["Report Summary"], err)
	}
	if want := "Report ready: 3 dependencies, 2 with CVEs, 4 CVEs (1 critical, 0 high, 1 medium, 0 low, 0 none, 2 unknown); highest CVSS 9.1: CVE-2019-10744 in lodash:4.17.4."; r.Result.Summary != want {
		t.Errorf("Summary = %q\nwant %q", r.Result.Summary, want)
	}

	// A report that is not ready has no report keys but its state.
	raw, _ = Marshal(reportResult(scan.ReportPending, nil, "No report found for this repository"))
	doc = nil
	_ = json.Unmarshal(raw, &doc)
	if _, ok := doc["Report"]; ok || doc["Report Summary"] != nil || string(doc["Report State"]) != `"pending"` ||
		string(doc["Report Message"]) != `"No report found for this repository"` {
		t.Errorf("pending document: %s", raw)
	}
}

func TestVulnerabilitiesWorstFirst(t *testing.T) {
	got := Vulnerabilities(*sampleReport())
	want := []struct{ title, severity string }{
		{"CVE-2019-10744 in lodash 4.17.4", "Critical"},
		{"CVE-2020-7598 in minimist 0.0.8", "Medium"},
		{"CVE-2018-16487 in lodash 4.17.4", "Unknown"},
		{"CVE-2018-3721 in lodash 4.17.4", "Unknown"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d vulnerabilities, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Title != w.title || got[i].Severity != w.severity {
			t.Errorf("vulnerability %d: %q %q, want %q %q", i, got[i].Title, got[i].Severity, w.title, w.severity)
		}
		if got[i].Description == "" || got[i].Custom.URL != "https://nvd.nist.gov/vuln/detail/"+got[i].Custom.CVE {
			t.Errorf("vulnerability %d: %+v", i, got[i])
		}
	}
	if c := got[0].Custom; c.CVE != "CVE-2019-10744" || c.Dependency != "lodash" || c.Version != "4.17.4" || c.CVSSScore == nil || *c.CVSSScore != 9.1 {
		t.Errorf("first Custom = %+v", c)
	}
	if got[2].Custom.CVSSScore != nil {
		t.Errorf("an unscored CVE has score %v", *got[2].Custom.CVSSScore)
	}
	if v := Vulnerabilities(scan.Report{}); v == nil || len(v) != 0 {
		t.Errorf("no dependencies: %#v, want an empty list", v)
	}
}

// readAsAtomic reads a `json` file the way atomic's output_results does:
// the keys it needs, Successful as a string it upper-cases, Custom a map,
// and each Vulnerabilities entry's Title, Severity and Custom map.
func readAsAtomic(t *testing.T, path string) (successful bool, custom map[string]any, vulns []map[string]any, keys []string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, k := range []string{"Scanner", "Time", "Scan Type", "Finished Time", "UUID", "Successful"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("%s lacks %q", path, k)
		}
	}
	s, ok := doc["Successful"].(string)
	if !ok {
		t.Fatalf("Successful is %T, want a string (atomic calls .upper() on it)", doc["Successful"])
	}
	custom, _ = doc["Custom"].(map[string]any)
	list, _ := doc["Vulnerabilities"].([]any)
	for _, v := range list {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("a vulnerability is %T", v)
		}
		if _, ok := m["Title"].(string); !ok {
			t.Errorf("vulnerability without a string Title: %v", m)
		}
		if _, ok := m["Severity"].(string); !ok {
			t.Errorf("vulnerability without a string Severity: %v", m)
		}
		if _, ok := m["Custom"].(map[string]any); !ok {
			t.Errorf("vulnerability without a Custom map: %v", m)
		}
		vulns = append(vulns, m)
	}
	// The keys in file order, to check there is one Custom.
	dec := json.NewDecoder(bytes.NewReader(raw))
	_, _ = dec.Token()
	for dec.More() {
		tok, _ := dec.Token()
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		_ = dec.Decode(&skip)
	}
	return strings.ToUpper(s) == "TRUE", custom, vulns, keys
}

func TestWriteReportResults(t *testing.T) {
	tests := []struct {
		name           string
		result         ReportResult
		wantSuccessful bool
		wantVulns      int
		wantCustom     map[string]any // a subset
		wantAbsent     []string       // Custom keys that must not be there
	}{
		{"ready", reportResult(scan.ReportReady, sampleReport(), ""), true, 4,
			map[string]any{"report": "ready", "dependencies": float64(3), "vulnerable-dependencies": float64(2), "cves": float64(4),
				"cves-by-severity":   map[string]any{"critical": float64(1), "high": float64(0), "medium": float64(1), "low": float64(0), "none": float64(0), "unknown": float64(2)},
				"highest-cvss-score": 9.1, "highest-cvss-cve": "CVE-2019-10744", "scanned-at": "Fri, 01 Mar 2024 10:30:00 GMT",
				"image": "team/app", "git-sha": "46e443d", "server-status": float64(200)},
			[]string{"report-message"}},
		{"ready without CVEs", reportResult(scan.ReportReady, &scan.Report{GitSHA: "46e443d", Dependencies: []scan.Dependency{{Name: "a", Version: "1"}}}, ""),
			true, 0, map[string]any{"report": "ready", "dependencies": float64(1), "cves": float64(0)}, []string{"highest-cvss-score"}},
		{"lock file absent", reportResult(scan.ReportLockFileAbsent, nil, "No dependency lock file"), true, 0,
			map[string]any{"report": "lock_file_absent", "report-message": "No dependency lock file"},
			[]string{"dependencies", "cves", "cves-by-severity"}},
		{"not ready", reportResult(scan.ReportPending, nil, "No report found for this repository"), false, 0,
			map[string]any{"report": "pending", "report-message": "No report found for this repository"},
			[]string{"dependencies", "cves", "summary"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			folder := strings.Repeat("b", 64)
			dir, err := WriteReportResults(out, folder, tt.result)
			if err != nil {
				t.Fatal(err)
			}
			successful, custom, vulns, keys := readAsAtomic(t, filepath.Join(dir, SummaryFile))
			if successful != tt.wantSuccessful || len(vulns) != tt.wantVulns {
				t.Errorf("successful %v with %d vulnerabilities, want %v with %d", successful, len(vulns), tt.wantSuccessful, tt.wantVulns)
			}
			for k, want := range tt.wantCustom {
				if !reflect.DeepEqual(custom[k], want) {
					t.Errorf("Custom[%q] = %#v, want %#v", k, custom[k], want)
				}
			}
			for _, k := range tt.wantAbsent {
				if _, ok := custom[k]; ok {
					t.Errorf("Custom has %q = %v", k, custom[k])
				}
			}
			if want := []string{"Scanner", "Time", "Scan Type", "Finished Time", "UUID", "Successful", "Custom", "Vulnerabilities"}; !reflect.DeepEqual(keys, want) {
				t.Errorf("keys %v, want %v", keys, want)
			}
			raw, err := os.ReadFile(filepath.Join(dir, ResultFile))
			if err != nil {
				t.Fatal(err)
			}
			var back ReportResult
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			if back.State != tt.result.State || back.ScanType != scan.ScanTypeReport || !reflect.DeepEqual(back.Report, tt.result.Report) {
				t.Errorf("result file reads back as %+v", back)
			}
		})
	}
	if _, err := WriteReportResults(t.TempDir(), "../x", reportResult(scan.ReportPending, nil, "")); err == nil {
		t.Error("a folder name with a slash was accepted")
	}
}
