package oneshot

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/atomicscan"
	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// fastRetry keeps the number of tries but waits milliseconds between them.
const fastRetry = "--retry-initial=5ms"

// runOutput is what one run of the command did.
type runOutput struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

// runCommand runs the program in-process with env as its whole environment.
func runCommand(t *testing.T, env map[string]string, args ...string) runOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := Run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr)
	out := runOutput{code: code, stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	t.Logf("scan %q: exit %d in %s\nstdout:\n%s\nstderr:\n%s", args, code, out.elapsed.Round(time.Millisecond), out.stdout, out.stderr)
	return out
}

// scanDirs returns an empty scan-in directory and a scan-out path.
func scanDirs(t *testing.T) (scanIn, scanOut string) {
	t.Helper()
	base := t.TempDir()
	scanIn, scanOut = filepath.Join(base, "scanin"), filepath.Join(base, "scanout")
	if err := os.Mkdir(scanIn, 0o755); err != nil {
		t.Fatal(err)
	}
	return scanIn, scanOut
}

// plainFile returns an empty file's path, for flags that want a folder.
func plainFile(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// mount makes the folder atomic would make for an image or container.
func mount(t *testing.T, scanIn, folder string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(scanIn, folder), 0o755); err != nil {
		t.Fatal(err)
	}
}

// analyticsServer is the emulator serving as the analytics server over a
// real HTTP server.
type analyticsServer struct {
	*httptest.Server
	emu *emulator.Server
}

func newAnalyticsServer(t *testing.T) *analyticsServer {
	t.Helper()
	emu := emulator.New(emulator.Config{})
	s := &analyticsServer{Server: httptest.NewServer(emu), emu: emu}
	t.Cleanup(s.Close)
	return s
}

// requests returns the requests to endpoint, or all for "", oldest first.
func (s *analyticsServer) requests(e emulator.Endpoint) []emulator.Request {
	var out []emulator.Request
	for _, q := range s.emu.Requests() {
		if e == "" || strings.HasSuffix(q.Path, "/"+string(e)) {
			out = append(out, q)
		}
	}
	return out
}

// registrations decodes the bodies of the register requests.
func (s *analyticsServer) registrations(t *testing.T) []map[string]any {
	t.Helper()
	return decodeBodies(t, s.requests(emulator.EndpointRegister))
}

// errorReports decodes the bodies of the scanner-error requests.
func (s *analyticsServer) errorReports(t *testing.T) []map[string]any {
	t.Helper()
	return decodeBodies(t, s.requests(emulator.EndpointScannerError))
}

// decodeBodies decodes the bodies generically, so that a comparison also
// catches an extra field.
func decodeBodies(t *testing.T, reqs []emulator.Request) []map[string]any {
	t.Helper()
	out := make([]map[string]any, 0, len(reqs))
	for _, q := range reqs {
		var m map[string]any
		if err := json.Unmarshal(q.Body, &m); err != nil {
			t.Fatalf("%s body is not JSON: %v: %q", q.Path, err, q.Body)
		}
		out = append(out, m)
	}
	return out
}

// results are the two files a scan wrote for one image.
type results struct {
	dir     string
	result  scan.Result
	raw     string         // the result file as written
	summary map[string]any // the json file, generically decoded
	rawSum  string
}

func readResults(t *testing.T, scanOut, folder string) results {
	t.Helper()
	dir := filepath.Join(scanOut, folder)
	raw, err := os.ReadFile(filepath.Join(dir, atomicscan.ResultFile))
	if err != nil {
		entries, _ := os.ReadDir(scanOut)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("no result file: %v (scan-out holds %q)", err, names)
	}
	out := results{dir: dir, raw: string(raw)}
	if err := json.Unmarshal(raw, &out.result); err != nil {
		t.Fatalf("result file does not decode: %v\n%s", err, raw)
	}
	rawSum, err := os.ReadFile(filepath.Join(dir, atomicscan.SummaryFile))
	if err != nil {
		t.Fatalf("no json summary file: %v", err)
	}
	out.rawSum = string(rawSum)
	if err := json.Unmarshal(rawSum, &out.summary); err != nil {
		t.Fatalf("json summary does not decode: %v\n%s", err, rawSum)
	}
	return out
}

// checkSummary checks the json file against atomic's specification and the
// result it summarises.
func checkSummary(t *testing.T, got results, folder string) {
	t.Helper()
	want := map[string]bool{"Scanner": true, "Time": true, "Scan Type": true, "Finished Time": true, "UUID": true, "Successful": true, "Custom": true}
	for k := range got.summary {
		if !want[k] {
			t.Errorf("json summary has unexpected key %q", k)
		}
	}
	for k := range want {
		if _, ok := got.summary[k]; !ok {
			t.Errorf("json summary lacks key %q", k)
		}
	}
	wantSuccessful := "false"
	if got.result.Successful {
		wantSuccessful = "true"
	}
	if s, ok := got.summary["Successful"].(string); !ok || s != wantSuccessful {
		t.Errorf("json Successful = %#v, want the string %q", got.summary["Successful"], wantSuccessful)
	}
	if got.summary["UUID"] != "/scanin/"+folder {
		t.Errorf("json UUID = %v, want /scanin/%s", got.summary["UUID"], folder)
	}
	if got.summary["Scanner"] != scan.ScannerName || got.summary["Scan Type"] != scan.ScanTypeRegister {
		t.Errorf("json Scanner, Scan Type = %v, %v", got.summary["Scanner"], got.summary["Scan Type"])
	}
	custom, _ := got.summary["Custom"].(map[string]any)
	sr := got.result.ScanResults
	for k, v := range map[string]string{"image": sr.ImageName, "git-url": sr.GitURL, "git-sha": sr.GitSHA, "email-ids": sr.EmailIDs, "server": sr.ServerURL} {
		if custom[k] != v {
			t.Errorf("json Custom[%q] = %#v, want %q", k, custom[k], v)
		}
	}
	if got.result.Successful {
		if custom["summary"] != got.result.Summary || custom["errors"] != nil {
			t.Errorf("json Custom summary, errors = %#v, %#v; want %q and none", custom["summary"], custom["errors"], got.result.Summary)
		}
	} else if !reflect.DeepEqual(custom["errors"], toAny(got.result.Errors)) || custom["summary"] != nil {
		t.Errorf("json Custom errors, summary = %#v, %#v; want %q and none", custom["errors"], custom["summary"], got.result.Errors)
	}
}

// hasError reports whether some error of the result contains each part.
func hasError(r scan.Result, parts ...string) bool {
	for _, e := range r.Errors {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(e, p)
		}
		if all {
			return true
		}
	}
	return false
}

// statusLines returns the "Scanner execution status" lines of stdout, up
// to the status: the image named after it is checked by statusImages.
func statusLines(stdout string) []string {
	var out []string
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "Scanner execution status: ") {
			line, _, _ = strings.Cut(line, " (")
			out = append(out, line)
		}
	}
	return out
}

// statusImages returns what each status line says of its image: the text
// in the parentheses after the status.
func statusImages(stdout string) []string {
	var out []string
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "Scanner execution status: ") {
			_, image, _ := strings.Cut(line, " (")
			out = append(out, strings.TrimSuffix(image, ")"))
		}
	}
	return out
}

// retriesLogged counts the scanner's "transient failure, retrying" log
// lines: one per transient failure, the last try's included (scan.Scanner
// logs before the retry policy decides), so n retries log n or n+1 lines.
func retriesLogged(stderr string) int {
	return strings.Count(stderr, "transient failure, retrying")
}

// checkRetries checks that a scan retried want times: the server cannot
// count connections it refused, so the logs are the witness.
func checkRetries(t *testing.T, stderr string, want int) {
	t.Helper()
	n := retriesLogged(stderr)
	if want == 0 && n != 0 || want > 0 && (n < want || n > want+1) {
		t.Errorf("%d transient failures logged, want %d retries", n, want)
	}
}

// buildImage builds a labelled image under a unique name. A label naming it
// makes its id unique too: images with equal labels would share an id, and
// dockertest removes images by id, which would untag another test's image.
func buildImage(t *testing.T, d *dockertest.Daemon, prefix string, labels map[string]string) (name, id string) {
	t.Helper()
	name = dockertest.UniqueName(prefix)
	withName := map[string]string{"analytics-scanner.test-image": name}
	for k, v := range labels {
		withName[k] = v
	}
	return name, strings.TrimPrefix(d.BuildLabelled(t, name, withName), "sha256:")
}
