package oneshot

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/atomicscan"
	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// atomicReport is the json file as atomic reads it to print a scan: its
// own keys and, for each vulnerability, Title, Severity and Custom.
type atomicReport struct {
	Successful      string         `json:"Successful"`
	ScanType        string         `json:"Scan Type"`
	UUID            string         `json:"UUID"`
	Custom          map[string]any `json:"Custom"`
	Vulnerabilities []struct {
		Title       string         `json:"Title"`
		Severity    string         `json:"Severity"`
		Description string         `json:"Description"`
		Custom      map[string]any `json:"Custom"`
	} `json:"Vulnerabilities"`
}

func readAtomicReport(t *testing.T, scanOut, folder string) atomicReport {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(scanOut, folder, atomicscan.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var r atomicReport
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("json file does not decode as atomic reads it: %v\n%s", err, raw)
	}
	return r
}

// readReportResult reads the result file of a report scan.
func readReportResult(t *testing.T, scanOut, folder string) atomicscan.ReportResult {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(scanOut, folder, atomicscan.ResultFile))
	if err != nil {
		t.Fatal(err)
	}
	var r atomicscan.ReportResult
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("result file does not decode: %v\n%s", err, raw)
	}
	return r
}

// TestScanReport runs `scan report` against the real daemon and the
// emulator, through each answer: not ready yet, ready, lock file absent.
func TestScanReport(t *testing.T) {
	t.Parallel()
	d := dockertest.New(t)
	const noLockURL = "https://github.com/example/no-lock-file"
	name, id := buildImage(t, d, "scan-report", goodLabels)
	noLockName, noLockID := buildImage(t, d, "scan-report-nolock", withLabels(map[string]string{"git-url": noLockURL}))
	emu := emulator.New(emulator.Config{LockFileAbsent: []string{noLockURL}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	server := srv.URL + "/api/v1"

	scan1 := func(image, scanType string, extra ...string) (runOutput, string) {
		t.Helper()
		scanIn, scanOut := scanDirs(t)
		args := append([]string{scanType, "--scanin", scanIn, "--scanout", scanOut, fastRetry}, extra...)
		return runCommand(t, map[string]string{"IMAGE_NAME": image, "SERVER": server}, args...), scanOut
	}

	// Before any registration the server has no report: unsuccessful,
	// exit 4 with --strict, and nothing reported to scanner-error.
	out, scanOut := scan1(name, "report", "--strict")
	if out.code != exitNotReady || !reflect.DeepEqual(statusLines(out.stdout), []string{"Scanner execution status: False"}) {
		t.Errorf("not ready: exit %d, stdout %q; want %d and False", out.code, out.stdout, exitNotReady)
	}
	res := readReportResult(t, scanOut, id)
	if res.Successful || res.State != scan.ReportPending || !hasError(res.Result, "no report yet") ||
		res.ServerResponse == nil || res.ServerResponse.Status != http.StatusNotFound {
		t.Errorf("not ready: result %+v", res)
	}
	if got := readAtomicReport(t, scanOut, id); got.Successful != "false" || got.Custom["report"] != "pending" || len(got.Vulnerabilities) != 0 {
		t.Errorf("not ready: json %+v", got)
	}
	if n := len(emu.ErrorReports()); n != 0 {
		t.Errorf("%d error reports for a report not ready, want none", n)
	}
	if out, _ := scan1(name, "report"); out.code != exitOK {
		t.Errorf("not ready without --strict: exit %d, want 0 as atomic expects", out.code)
	}

	for _, image := range []string{name, noLockName} {
		if out, _ := scan1(image, "register"); out.code != exitOK || !strings.Contains(out.stdout, "True") {
			t.Fatalf("register %s: exit %d, %q", image, out.code, out.stdout)
		}
	}

	// Ready: the result holds the report and its summary; the json file
	// lists every CVE as atomic prints them.
	out, scanOut = scan1(name, "report", "--strict")
	if out.code != exitOK || !reflect.DeepEqual(statusLines(out.stdout), []string{"Scanner execution status: True"}) {
		t.Fatalf("ready: exit %d, stdout %q", out.code, out.stdout)
	}
	res = readReportResult(t, scanOut, id)
	if !res.Successful || res.State != scan.ReportReady || res.Report == nil || res.ReportPart.Summary == nil {
		t.Fatalf("ready: result %+v", res)
	}
	wantReport := emulator.ReportFor(goodLabels["git-url"], goodLabels["git-sha"], res.Report.ScannedAt)
	wantJSON, _ := json.Marshal(wantReport)
	var want scan.Report
	if err := json.Unmarshal(wantJSON, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*res.Report, want) {
		t.Errorf("report = %+v\nwant %+v", *res.Report, want)
	}
	sum := scan.Summarize(want)
	if !reflect.DeepEqual(*res.ReportPart.Summary, sum) || sum.CVEs == 0 {
		t.Errorf("summary = %+v, want %+v (with CVEs)", *res.ReportPart.Summary, sum)
	}
	if !strings.HasPrefix(res.Result.Summary, "Report ready:") {
		t.Errorf("Summary = %q", res.Result.Summary)
	}

	got := readAtomicReport(t, scanOut, id)
	var wantIDs, gotIDs []string
	for _, dep := range want.Dependencies {
		wantIDs = append(wantIDs, dep.CVEs...)
	}
	for _, v := range got.Vulnerabilities {
		if v.Title == "" || v.Severity == "" || v.Description == "" || v.Custom["cve"] == nil {
			t.Errorf("vulnerability %+v lacks a key atomic prints", v)
		}
		if !strings.Contains(v.Title, v.Custom["cve"].(string)) {
			t.Errorf("vulnerability title %q does not name its CVE %v", v.Title, v.Custom["cve"])
		}
		gotIDs = append(gotIDs, v.Custom["cve"].(string))
	}
	if len(gotIDs) != sum.CVEs || !sameSet(gotIDs, wantIDs) {
		t.Errorf("Vulnerabilities name %q, want the report's CVEs %q", gotIDs, wantIDs)
	}
	if got.Successful != "true" || got.ScanType != scan.ScanTypeReport || got.UUID != "/scanin/"+id ||
		got.Custom["report"] != "ready" || got.Custom["cves"] != float64(sum.CVEs) || got.Custom["dependencies"] != float64(sum.Dependencies) {
		t.Errorf("json = %+v", got)
	}

	// Lock file absent: successful, and says so.
	out, scanOut = scan1(noLockName, "report", "--strict")
	if out.code != exitOK || !strings.Contains(out.stdout, "True") {
		t.Errorf("lock file absent: exit %d, %q", out.code, out.stdout)
	}
	res = readReportResult(t, scanOut, noLockID)
	if !res.Successful || res.State != scan.ReportLockFileAbsent || res.Report != nil ||
		res.Message != emulator.LockFileAbsentMessage(noLockURL) || !strings.Contains(res.Result.Summary, "no dependency lock file") {
		t.Errorf("lock file absent: result %+v", res)
	}
	if got := readAtomicReport(t, scanOut, noLockID); got.Successful != "true" || got.Custom["report"] != "lock_file_absent" || len(got.Vulnerabilities) != 0 {
		t.Errorf("lock file absent: json %+v", got)
	}
	if n := len(emu.ErrorReports()); n != 0 {
		t.Errorf("%d error reports, want none", n)
	}
}

func sameSet(a, b []string) bool {
	count := map[string]int{}
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		count[s]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}
