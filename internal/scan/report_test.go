package scan

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// realReport has the shape the real server's report generator builds: CVE
// fields only on dependencies with CVEs, ids highest first, and a key order
// that differs from the struct's (the round trip must not depend on it).
const realReport = `{
  "scanned_at": "2018-06-12 10:14:31.455893",
  "git_url": "https://github.com/example/app",
  "git_sha": "46e443d",
  "dependencies": [
    {"name": "lodash", "version": "4.17.4", "cve_count": 3, "licenses": ["MIT"],
     "cves": ["CVE-2019-10744", "CVE-2018-16487", "CVE-2018-3721"],
     "highest_cvss_score": 9.1, "cve_id_for_highest_cvss_score": "CVE-2019-10744"},
    {"name": "minimist", "version": "0.0.8", "cve_count": 1, "licenses": ["MIT"],
     "cves": ["CVE-2020-7598"], "highest_cvss_score": 5.6, "cve_id_for_highest_cvss_score": "CVE-2020-7598"},
    {"name": "left-pad", "version": "1.3.0", "cve_count": 0, "licenses": ["WTFPL", "MIT"]},
    {"name": "debug", "version": "2.6.8", "cve_count": 1, "licenses": [],
     "cves": ["CVE-2017-16137"], "highest_cvss_score": 5.3, "cve_id_for_highest_cvss_score": "CVE-2017-16137"}
  ]
}`

func TestReportRoundTripsTheServersJSON(t *testing.T) {
	r, err := DecodeReport([]byte(realReport))
	if err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal([]byte(realReport), &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("re-encoded report differs:\n got %s\nwant %s", again, realReport)
	}
	// A dependency without CVEs has no CVE keys at all, as the server sends it.
	if bytes.Contains(again, []byte(`"cves":null`)) || bytes.Contains(again, []byte(`"highest_cvss_score":null`)) {
		t.Errorf("null CVE fields in %s", again)
	}
	if r.Dependencies[0].HighestCVSSScore == nil || *r.Dependencies[0].HighestCVSSScore != 9.1 {
		t.Errorf("highest score of lodash: %v", r.Dependencies[0].HighestCVSSScore)
	}
}

func TestDecodeReportRefusesWhatIsNotAReport(t *testing.T) {
	for _, body := range []string{
		``,
		`<html><body>Welcome</body></html>`,
		`{}`,
		`{"git_url": "u", "git_sha": "s", "dependencies": null}`,
		`{"status": "failure", "message": "No report found for this repository"}`,
		`[]`,
		`{"dependencies": [{"name": 7}]}`,
	} {
		if r, err := DecodeReport([]byte(body)); err == nil {
			t.Errorf("DecodeReport(%q) = %+v, want an error", body, r)
		}
	}
	if r, err := DecodeReport([]byte(`{"git_url":"u","git_sha":"s","scanned_at":"t","dependencies":[]}`)); err != nil || len(r.Dependencies) != 0 || r.GitSHA != "s" {
		t.Errorf("an empty report: %+v, %v", r, err)
	}
}

func TestSeverityOfFollowsCVSSv3Bands(t *testing.T) {
	cases := []struct {
		score float64
		want  Severity
	}{
		{10, SeverityCritical}, {9.0, SeverityCritical}, {8.9, SeverityHigh}, {7.0, SeverityHigh},
		{6.9, SeverityMedium}, {4.0, SeverityMedium}, {3.9, SeverityLow}, {0.1, SeverityLow},
		{0, SeverityNone}, {-1, SeverityUnknown}, {10.1, SeverityUnknown}, {math.NaN(), SeverityUnknown},
	}
	for _, c := range cases {
		if got := SeverityOf(c.score); got != c.want {
			t.Errorf("SeverityOf(%v) = %s, want %s", c.score, got, c.want)
		}
	}
}

func ptr(f float64) *float64 { return &f }

func TestSummarize(t *testing.T) {
	r, err := DecodeReport([]byte(realReport))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   Report
		want ReportSummary
	}{
		{"the real shape", r, ReportSummary{
			Dependencies: 4, VulnerableDependencies: 3, CVEs: 5,
			// lodash's worst is critical, its two others unknown; minimist
			// and debug medium.
			BySeverity:       SeverityCounts{Critical: 1, Medium: 2, Unknown: 2},
			HighestCVSSScore: ptr(9.1), HighestCVE: "CVE-2019-10744", HighestSeverity: SeverityCritical,
			HighestDependency: "lodash:4.17.4",
		}},
		{"no dependencies", Report{}, ReportSummary{}},
		{"no CVEs", Report{Dependencies: []Dependency{{Name: "a", Version: "1"}, {Name: "b", Version: "2"}}},
			ReportSummary{Dependencies: 2}},
		{"cve_count above the list: the rest are unknown", Report{Dependencies: []Dependency{
			{Name: "a", Version: "1", CVECount: 4, CVEs: []string{"CVE-1", "CVE-2"}, HighestCVSSScore: ptr(7.5), CVEIDForHighestCVSSScore: "CVE-1"}}},
			ReportSummary{Dependencies: 1, VulnerableDependencies: 1, CVEs: 4,
				BySeverity:       SeverityCounts{High: 1, Unknown: 3},
				HighestCVSSScore: ptr(7.5), HighestCVE: "CVE-1", HighestSeverity: SeverityHigh, HighestDependency: "a:1"}},
		{"ids only, no score", Report{Dependencies: []Dependency{{Name: "a", Version: "1", CVECount: 2, CVEs: []string{"CVE-1", "CVE-2"}}}},
			ReportSummary{Dependencies: 1, VulnerableDependencies: 1, CVEs: 2, BySeverity: SeverityCounts{Unknown: 2}}},
		{"an out-of-range score is unknown and not the highest", Report{Dependencies: []Dependency{
			{Name: "a", Version: "1", CVECount: 1, CVEs: []string{"CVE-1"}, HighestCVSSScore: ptr(11), CVEIDForHighestCVSSScore: "CVE-1"},
			{Name: "b", Version: "2", CVECount: 1, CVEs: []string{"CVE-2"}, HighestCVSSScore: ptr(0), CVEIDForHighestCVSSScore: "CVE-2"}}},
			ReportSummary{Dependencies: 2, VulnerableDependencies: 2, CVEs: 2, BySeverity: SeverityCounts{None: 1, Unknown: 1},
				HighestCVSSScore: ptr(0), HighestCVE: "CVE-2", HighestSeverity: SeverityNone, HighestDependency: "b:2"}},
		{"the same CVE in two dependencies counts twice; the later higher score wins", Report{Dependencies: []Dependency{
			{Name: "a", Version: "1", CVECount: 1, CVEs: []string{"CVE-9"}, HighestCVSSScore: ptr(4.2), CVEIDForHighestCVSSScore: "CVE-9"},
			{Name: "b", Version: "1", CVECount: 1, CVEs: []string{"CVE-9"}, HighestCVSSScore: ptr(3.1), CVEIDForHighestCVSSScore: "CVE-9"},
			{Name: "c", Version: "1", CVECount: 1, CVEs: []string{"CVE-8"}, HighestCVSSScore: ptr(9.8), CVEIDForHighestCVSSScore: "CVE-8"}}},
			ReportSummary{Dependencies: 3, VulnerableDependencies: 3, CVEs: 3, BySeverity: SeverityCounts{Critical: 1, Medium: 1, Low: 1},
				HighestCVSSScore: ptr(9.8), HighestCVE: "CVE-8", HighestSeverity: SeverityCritical, HighestDependency: "c:1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Summarize(c.in)
			if !reflect.DeepEqual(got, c.want) {
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(c.want)
				t.Errorf("got  %s\nwant %s", gj, wj)
			}
			if got.BySeverity.Total() != got.CVEs {
				t.Errorf("severity counts total %d, CVEs %d", got.BySeverity.Total(), got.CVEs)
			}
		})
	}
}

func TestCVEListScoresOnlyTheHighest(t *testing.T) {
	d := Dependency{Name: "a", Version: "1", CVECount: 2, CVEs: []string{"CVE-1", "CVE-2"},
		HighestCVSSScore: ptr(8.1), CVEIDForHighestCVSSScore: "CVE-1"}
	list := d.CVEList()
	if len(list) != 2 || list[0].ID != "CVE-1" || list[0].Severity != SeverityHigh || list[0].Score == nil || *list[0].Score != 8.1 ||
		list[1].ID != "CVE-2" || list[1].Severity != SeverityUnknown || list[1].Score != nil {
		t.Errorf("CVEList = %+v", list)
	}
}

func TestReportStates(t *testing.T) {
	for _, s := range ReportStates {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
		if s.Final() == (s == ReportPending) {
			t.Errorf("%s: Final() = %v", s, s.Final())
		}
	}
	if ReportState("done").Valid() || ReportState("done").Final() {
		t.Error("an unknown state is valid or final")
	}
}
