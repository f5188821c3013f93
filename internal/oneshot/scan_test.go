package oneshot

import (
	"encoding/json"
	"fmt"
	"net/http"
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
	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

var goodLabels = map[string]string{
	"git-url":   "https://github.com/fabric8-analytics/f8a-server-backbone",
	"git-sha":   "46e443d",
	"email-ids": "nshaikh@redhat.com,samuzzal@redhat.com",
}

func withLabels(over map[string]string, drop ...string) map[string]string {
	m := map[string]string{}
	for k, v := range goodLabels {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	for _, k := range drop {
		delete(m, k)
	}
	return m
}

func TestScanChecksEveryLabel(t *testing.T) {
	t.Parallel()
	d := dockertest.New(t)
	huge := "https://example.org/" + strings.Repeat("x", scan.MaxLabelBytes)
	tests := []struct {
		name   string
		labels map[string]string
		// wantLabels are the values the result shows and, when the scan
		// succeeds, the server receives.
		wantLabels scan.Labels
		wantErrors []string // one substring per expected error, in order
	}{
		{
			name:       "all labels",
			labels:     goodLabels,
			wantLabels: scan.Labels{GitURL: goodLabels["git-url"], GitSHA: "46e443d", EmailIDs: goodLabels["email-ids"]},
		},
		{
			name:       "git-url missing",
			labels:     withLabels(nil, "git-url"),
			wantLabels: scan.Labels{GitSHA: "46e443d", EmailIDs: goodLabels["email-ids"]},
			wantErrors: []string{"label git-url is missing"},
		},
		{
			name:       "git-sha missing",
			labels:     withLabels(nil, "git-sha"),
			wantLabels: scan.Labels{GitURL: goodLabels["git-url"], EmailIDs: goodLabels["email-ids"]},
			wantErrors: []string{"label git-sha is missing"},
		},
		{
			name:       "email-ids missing",
			labels:     withLabels(nil, "email-ids"),
			wantLabels: scan.Labels{GitURL: goodLabels["git-url"], GitSHA: "46e443d"},
			wantErrors: []string{"label email-ids is missing"},
		},
		{
			name:       "all missing",
			labels:     map[string]string{"unrelated": "x"},
			wantErrors: []string{"label git-url is missing", "label git-sha is missing", "label email-ids is missing"},
		},
		{
			name:       "blank label",
			labels:     withLabels(map[string]string{"git-sha": "   "}),
			wantLabels: scan.Labels{GitURL: goodLabels["git-url"], EmailIDs: goodLabels["email-ids"]},
			wantErrors: []string{"label git-sha is empty"},
		},
		{
			name: "padded values are trimmed",
			labels: map[string]string{
				"git-url": "  https://example.org/padded  ", "git-sha": "   0123abc ", "email-ids": " a@example.org,b@example.org ",
			},
			wantLabels: scan.Labels{GitURL: "https://example.org/padded", GitSHA: "0123abc", EmailIDs: "a@example.org,b@example.org"},
		},
		{
			name:       "huge label",
			labels:     withLabels(map[string]string{"git-url": huge}),
			wantLabels: scan.Labels{GitSHA: "46e443d", EmailIDs: goodLabels["email-ids"]},
			wantErrors: []string{fmt.Sprintf("label git-url is %d bytes, over the %d-byte limit", len(huge), scan.MaxLabelBytes)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name, id := buildImage(t, d, "scan-labels", tt.labels)
			srv := newAnalyticsServer(t)
			scanIn, scanOut := scanDirs(t)

			out := runCommand(t, map[string]string{"IMAGE_NAME": name, "SERVER": srv.URL},
				"--scanin", scanIn, "--scanout", scanOut, fastRetry)
			if out.code != exitOK {
				t.Fatalf("exit %d, want 0", out.code)
			}
			success := len(tt.wantErrors) == 0
			wantStatus := map[bool]string{true: "Scanner execution status: True", false: "Scanner execution status: False"}[success]
			if got := statusLines(out.stdout); !reflect.DeepEqual(got, []string{wantStatus}) {
				t.Errorf("status lines = %q, want %q", got, wantStatus)
			}

			// Without scan-in folders the results go to the image's id.
			got := readResults(t, scanOut, id)
			checkSummary(t, got, id)
			r := got.result
			wantResults := scan.ScanResults{
				GitURL: tt.wantLabels.GitURL, GitSHA: tt.wantLabels.GitSHA, EmailIDs: tt.wantLabels.EmailIDs,
				ImageName: name, ServerURL: srv.URL,
			}
			if r.ScanResults != wantResults {
				t.Errorf("Scan Results = %+v\nwant %+v", r.ScanResults, wantResults)
			}
			if r.Successful != success || r.UUID != id || r.Scanner != scan.ScannerName || r.ScanType != "register" {
				t.Errorf("Successful, UUID, Scanner, Scan Type = %v, %s, %s, %s", r.Successful, r.UUID, r.Scanner, r.ScanType)
			}
			if len(r.Errors) != len(tt.wantErrors) {
				t.Errorf("Errors = %q, want %d matching %q", r.Errors, len(tt.wantErrors), tt.wantErrors)
			}
			for i, want := range tt.wantErrors {
				if i < len(r.Errors) && !strings.Contains(r.Errors[i], want) {
					t.Errorf("Errors[%d] = %q, want it to contain %q", i, r.Errors[i], want)
				}
			}
			if strings.Contains(got.raw, strings.Repeat("x", 100)) || strings.Contains(got.rawSum, strings.Repeat("x", 100)) {
				t.Error("an oversized label value was copied into the results")
			}

			regs, reports := srv.registrations(t), srv.errorReports(t)
			if success {
				want := map[string]any{"git-url": tt.wantLabels.GitURL, "git-sha": tt.wantLabels.GitSHA, "email-ids": tt.wantLabels.EmailIDs}
				if len(regs) != 1 || !reflect.DeepEqual(regs[0], want) {
					t.Errorf("registrations = %v, want exactly %v", regs, want)
				}
				if len(reports) != 0 {
					t.Errorf("error reports = %v, want none", reports)
				}
				if r.Summary != scan.SuccessSummary || r.ServerResponse == nil || r.ServerResponse.Status != 200 {
					t.Errorf("Summary, Server Response = %q, %+v", r.Summary, r.ServerResponse)
				}
				return
			}
			// A label problem is not worth a registration, but is worth
			// telling the server about, with every error.
			if len(regs) != 0 {
				t.Errorf("registrations = %v, want none", regs)
			}
			if len(reports) != 1 {
				t.Fatalf("error reports = %v, want exactly one", reports)
			}
			wantReport := map[string]any{"image-name": name, "email-ids": tt.wantLabels.EmailIDs, "error": toAny(r.Errors)}
			if !reflect.DeepEqual(reports[0], wantReport) {
				t.Errorf("error report = %v\nwant %v", reports[0], wantReport)
			}
		})
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func TestScanImageNotFound(t *testing.T) {
	t.Parallel()
	dockertest.New(t)
	srv := newAnalyticsServer(t)
	scanIn, scanOut := scanDirs(t)
	name := dockertest.UniqueName("analytics-scanner-test/absent") + ":v1"

	out := runCommand(t, map[string]string{"IMAGE_NAME": name, "SERVER": srv.URL}, "--scanin", scanIn, "--scanout", scanOut, fastRetry)
	if out.code != exitOK || !reflect.DeepEqual(statusLines(out.stdout), []string{"Scanner execution status: False"}) {
		t.Fatalf("exit %d, stdout %q; want 0 and status False", out.code, out.stdout)
	}
	// The image has no id: its results go to a folder named after it.
	folder := atomicscan.FolderName(name)
	got := readResults(t, scanOut, folder)
	checkSummary(t, got, folder)
	if got.result.Successful || !hasError(got.result, "image not found", name) {
		t.Errorf("result = %+v, want a failure saying the image is not found", got.result)
	}
	if got.result.ScanResults.ImageName != name {
		t.Errorf("image_name = %q, want %q", got.result.ScanResults.ImageName, name)
	}
	if n := len(srv.requests(emulator.EndpointRegister)); n != 0 {
		t.Errorf("%d registrations, want none", n)
	}
	reports := srv.errorReports(t)
	if len(reports) != 1 || reports[0]["image-name"] != name || reports[0]["email-ids"] != "" {
		t.Errorf("error reports = %v, want one for %s", reports, name)
	}
	checkRetries(t, out.stderr, 0)
}

func TestScanContainerUnderScanIn(t *testing.T) {
	t.Parallel()
	d := dockertest.New(t)
	name, imageID := buildImage(t, d, "scan-container", goodLabels)
	containerID := d.CreateContainer(t, name)
	srv := newAnalyticsServer(t)
	scanIn, scanOut := scanDirs(t)
	mount(t, scanIn, containerID)

	out := runCommand(t, map[string]string{"SERVER": srv.URL}, "--scanin", scanIn, "--scanout", scanOut, fastRetry)
	if out.code != exitOK || !reflect.DeepEqual(statusLines(out.stdout), []string{"Scanner execution status: True"}) {
		t.Fatalf("exit %d, stdout %q; want 0 and status True", out.code, out.stdout)
	}
	// Results go to the folder atomic made, named by the container's id,
	// which is also the result's UUID, as in the original; the labels are
	// those of the container's image.
	got := readResults(t, scanOut, containerID)
	checkSummary(t, got, containerID)
	r := got.result
	if !r.Successful || r.UUID != containerID || r.ScanResults.ImageName != name+":latest" || r.ScanResults.GitSHA != "46e443d" {
		t.Errorf("result = %+v; want success with UUID %s for the container of image %s (%s:latest)", r, containerID, imageID, name)
	}
	if n := len(srv.requests(emulator.EndpointRegister)); n != 1 {
		t.Errorf("%d registrations, want 1", n)
	}
}

func TestScanInTwoImagesGetTheirOwnLabels(t *testing.T) {
	t.Parallel()
	d := dockertest.New(t)
	labelsA := map[string]string{"git-url": "https://example.org/a", "git-sha": "aaaaaaa", "email-ids": "a@example.org"}
	labelsB := map[string]string{"git-url": "https://example.org/b", "git-sha": "bbbbbbb", "email-ids": "b@example.org"}
	nameA, idA := buildImage(t, d, "scan-two-a", labelsA)
	nameB, idB := buildImage(t, d, "scan-two-b", labelsB)
	srv := newAnalyticsServer(t)
	scanIn, scanOut := scanDirs(t)
	// Some atomic versions keep the id's "sha256:" as "sha256-".
	folderA, folderB := idA, "sha256-"+idB
	mount(t, scanIn, folderA)
	mount(t, scanIn, folderB)

	// IMAGE_NAME names A only; B must still be scanned with its own labels.
	out := runCommand(t, map[string]string{"IMAGE_NAME": nameA, "SERVER": srv.URL}, "--scanin", scanIn, "--scanout", scanOut, fastRetry)
	if out.code != exitOK {
		t.Fatalf("exit %d, want 0", out.code)
	}
	if got := statusLines(out.stdout); !reflect.DeepEqual(got, []string{"Scanner execution status: True", "Scanner execution status: True"}) {
		t.Errorf("status lines = %q, want two True", got)
	}
	// Each status line names its image, so that two can be told apart.
	if got, want := statusImages(out.stdout), []string{"image " + nameA + ", id " + idA[:12], "image " + nameB + ":latest, id " + idB[:12]}; !reflect.DeepEqual(got, want) {
		t.Errorf("status lines name %q, want %q", got, want)
	}
	tests := []struct {
		folder, id, imageName string
		labels                map[string]string
	}{
		{folderA, idA, nameA, labelsA},             // IMAGE_NAME's image: shown as IMAGE_NAME
		{folderB, idB, nameB + ":latest", labelsB}, // another: shown by its first tag
	}
	for _, tt := range tests {
		got := readResults(t, scanOut, tt.folder)
		checkSummary(t, got, tt.folder)
		want := scan.ScanResults{GitURL: tt.labels["git-url"], GitSHA: tt.labels["git-sha"], EmailIDs: tt.labels["email-ids"], ImageName: tt.imageName, ServerURL: srv.URL}
		if got.result.ScanResults != want || got.result.UUID != tt.id || !got.result.Successful {
			t.Errorf("result in %s = %+v\nwant %+v for %s", tt.folder, got.result, want, tt.id)
		}
	}
	regs := srv.registrations(t)
	wantRegs := []map[string]any{
		{"git-url": "https://example.org/a", "git-sha": "aaaaaaa", "email-ids": "a@example.org"},
		{"git-url": "https://example.org/b", "git-sha": "bbbbbbb", "email-ids": "b@example.org"},
	}
	if !reflect.DeepEqual(regs, wantRegs) {
		t.Errorf("registrations = %v\nwant %v", regs, wantRegs)
	}
}

func TestScanServerConfiguration(t *testing.T) {
	t.Parallel()
	d := dockertest.New(t)
	name, id := buildImage(t, d, "scan-server", goodLabels)
	absent := dockertest.UniqueName("analytics-scanner-test/absent")

	tests := []struct {
		name string
		// env and args get the test server's URL in place of %s and its
		// host:port in place of %h.
		env        map[string]string
		args       []string
		wantErr    string // substring of the result's first error; "" for success
		wantPath   string // where the registration must land; "" for no request
		wantServer string // the result's server_url
	}{
		{name: "SERVER unset", env: map[string]string{}, wantErr: "SERVER is not set"},
		{name: "SERVER empty", env: map[string]string{"SERVER": "  "}, wantErr: "SERVER is not set"},
		{name: "SERVER without scheme", env: map[string]string{"SERVER": "localhost:%p"}, wantErr: "has no scheme; use http:// or https://"},
		{name: "SERVER host without scheme", env: map[string]string{"SERVER": "%h/api/v1"}, wantErr: "SERVER is invalid"},
		{name: "SERVER other scheme", env: map[string]string{"SERVER": "ftp://%h"}, wantErr: `has scheme "ftp"`},
		{name: "SERVER plain", env: map[string]string{"SERVER": "%s"}, wantPath: "/register", wantServer: "%s"},
		{name: "SERVER with path prefix", env: map[string]string{"SERVER": "%s/api/v1"}, wantPath: "/api/v1/register", wantServer: "%s/api/v1"},
		{name: "SERVER with trailing slash", env: map[string]string{"SERVER": "%s/api/v1/"}, wantPath: "/api/v1/register", wantServer: "%s/api/v1/"},
		{name: "--server overrides SERVER", env: map[string]string{"SERVER": "nope"}, args: []string{"--server", "%s/api/v1"}, wantPath: "/api/v1/register", wantServer: "%s/api/v1"},
		{name: "--image overrides IMAGE_NAME", env: map[string]string{"SERVER": "%s", "IMAGE_NAME": absent}, args: []string{"--image", name}, wantPath: "/register", wantServer: "%s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newAnalyticsServer(t)
			hostPort := strings.TrimPrefix(srv.URL, "http://")
			port := hostPort[strings.LastIndexByte(hostPort, ':')+1:]
			fill := func(s string) string {
				return strings.NewReplacer("%s", srv.URL, "%h", hostPort, "%p", port).Replace(s)
			}
			env := map[string]string{"IMAGE_NAME": name}
			for k, v := range tt.env {
				env[k] = fill(v)
			}
			scanIn, scanOut := scanDirs(t)
			args := []string{"--scanin", scanIn, "--scanout", scanOut, fastRetry}
			for _, a := range tt.args {
				args = append(args, fill(a))
			}

			out := runCommand(t, env, args...)
			// A configuration problem is reported in the result, as atomic
			// expects, not by the exit code.
			if out.code != exitOK {
				t.Fatalf("exit %d, want 0", out.code)
			}
			got := readResults(t, scanOut, id)
			checkSummary(t, got, id)
			r := got.result
			if tt.wantErr != "" {
				if r.Successful || !strings.Contains(strings.Join(r.Errors, "\n"), tt.wantErr) {
					t.Errorf("Errors = %q, want one containing %q", r.Errors, tt.wantErr)
				}
				// The labels are still read and shown.
				if r.ScanResults.GitSHA != "46e443d" || r.ScanResults.ServerURL != "" {
					t.Errorf("Scan Results = %+v", r.ScanResults)
				}
				if reqs := srv.requests(""); len(reqs) != 0 {
					t.Errorf("server received %d requests, want none", len(reqs))
				}
				return
			}
			if !r.Successful || r.ScanResults.ServerURL != fill(tt.wantServer) {
				t.Errorf("Successful, server_url = %v, %q; want true, %q (errors %q)", r.Successful, r.ScanResults.ServerURL, fill(tt.wantServer), r.Errors)
			}
			reqs := srv.requests("")
			if len(reqs) != 1 || reqs[0].Path != tt.wantPath || reqs[0].Method != http.MethodPost {
				t.Errorf("requests = %+v, want one POST %s", reqs, tt.wantPath)
			}
		})
	}
}

func TestScanRetriesOnlyTransientFailures(t *testing.T) {
	t.Parallel()
	d := dockertest.New(t)
	name, id := buildImage(t, d, "scan-retry", goodLabels)
	maxTries := int(scan.DefaultRetry.MaxTries)

	// always answers every registration with code and body.
	always := func(code int, body string) func(*emulator.Server) {
		return func(emu *emulator.Server) {
			emu.Always(emulator.EndpointRegister, emulator.Answer{Status: code, Body: body})
		}
	}
	tests := []struct {
		name         string
		script       func(*emulator.Server) // what the server answers instead of its own answers
		down         bool                   // the server is not listening at all
		args         []string               // extra flags
		wantSuccess  bool
		wantErr      string
		wantRegister int // register requests the server receives
		wantReports  int
		wantRetries  int
		maxElapsed   time.Duration
	}{
		{
			name:        "server down",
			down:        true,
			wantErr:     "connection refused",
			wantRetries: maxTries - 1,
		},
		{
			name: "500 then 200",
			script: func(emu *emulator.Server) {
				emu.Script(emulator.EndpointRegister,
					emulator.Answer{Status: http.StatusInternalServerError, Body: `{"success": false, "summary": "database is down"}`})
			},
			wantSuccess:  true,
			wantRegister: 2,
			wantRetries:  1,
		},
		{
			name:         "500 every time",
			script:       always(http.StatusInternalServerError, `{"success": false, "summary": "database is down"}`),
			wantErr:      "server answered 500 Internal Server Error: database is down",
			wantRegister: maxTries,
			wantReports:  1,
			wantRetries:  maxTries - 1,
		},
		{
			name:         "4xx is not retried",
			script:       always(http.StatusBadRequest, `{"success": false, "summary": "Set content type to application/json"}`),
			wantErr:      "server answered 400 Bad Request: Set content type to application/json",
			wantRegister: 1,
			wantReports:  1,
		},
		{
			name:         "success false in a 200 is a failure",
			script:       always(http.StatusOK, `{"success": false, "summary": "refused"}`),
			wantErr:      "server answered 200 with success false: refused",
			wantRegister: 1,
			wantReports:  1,
		},
		{
			name: "hanging server",
			script: func(emu *emulator.Server) {
				// Holds every request until the client gives up on it.
				hang := emulator.Answer{Status: http.StatusOK, Delay: time.Hour}
				emu.Always(emulator.EndpointRegister, hang)
				emu.Always(emulator.EndpointScannerError, hang)
			},
			args:         []string{"--timeout", "200ms"},
			wantErr:      "no answer in time",
			wantRegister: maxTries,
			wantReports:  maxTries, // the report hangs, and is retried, too
			wantRetries:  maxTries - 1,
			// maxTries registrations and as many reports, 200ms each, plus
			// millisecond waits: far below the default timeout of one.
			maxElapsed: 10 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newAnalyticsServer(t)
			if tt.script != nil {
				tt.script(srv.emu)
			}
			if tt.down {
				// Nothing listens on a closed server's port: connection
				// refused.
				srv.Close()
			}
			scanIn, scanOut := scanDirs(t)
			args := append([]string{"--scanin", scanIn, "--scanout", scanOut, fastRetry}, tt.args...)

			out := runCommand(t, map[string]string{"IMAGE_NAME": name, "SERVER": srv.URL}, args...)
			if out.code != exitOK {
				t.Fatalf("exit %d, want 0", out.code)
			}
			r := readResults(t, scanOut, id).result
			if r.Successful != tt.wantSuccess {
				t.Errorf("Successful = %v, want %v (errors %q)", r.Successful, tt.wantSuccess, r.Errors)
			}
			if tt.wantErr != "" && !hasError(r, tt.wantErr) {
				t.Errorf("Errors = %q, want one containing %q", r.Errors, tt.wantErr)
			}
			if tt.down && !hasError(r, "could not report the errors") {
				t.Errorf("Errors = %q, want the failed report too", r.Errors)
			}
			if n := len(srv.requests(emulator.EndpointRegister)); n != tt.wantRegister {
				t.Errorf("%d register requests, want %d", n, tt.wantRegister)
			}
			if n := len(srv.requests(emulator.EndpointScannerError)); n != tt.wantReports {
				t.Errorf("%d scanner-error requests, want %d", n, tt.wantReports)
			}
			checkRetries(t, out.stderr, tt.wantRetries)
			if tt.maxElapsed > 0 && out.elapsed > tt.maxElapsed {
				t.Errorf("took %s, want at most %s", out.elapsed, tt.maxElapsed)
			}
		})
	}
}

func TestScanSendsTheExactRequestAndKeepsSecrets(t *testing.T) {
	t.Parallel()
	d := dockertest.New(t)
	_, goodID := buildImage(t, d, "scan-exact", goodLabels)
	bad, badID := buildImage(t, d, "scan-exact-bad", withLabels(nil, "git-sha"))
	const (
		token  = "tok-3f9a1c6e-secret-value"
		secret = "threescale-8d2b-secret-value"
	)
	srv := newAnalyticsServer(t)
	scanIn, scanOut := scanDirs(t)
	mount(t, scanIn, goodID)
	mount(t, scanIn, badID)

	out := runCommand(t, map[string]string{
		"SERVER": srv.URL + "/api/v1", "ANALYTICS_TOKEN": token, "ANALYTICS_3SCALE_SECRET": secret,
	}, "--scanin", scanIn, "--scanout", scanOut, "--verbose", "--json", fastRetry)
	if out.code != exitOK {
		t.Fatalf("exit %d, want 0", out.code)
	}

	reqs := srv.requests("")
	if len(reqs) != 2 {
		t.Fatalf("server received %d requests, want a registration and an error report", len(reqs))
	}
	wantBodies := map[string]map[string]any{
		"/api/v1/register": {"git-url": goodLabels["git-url"], "git-sha": "46e443d", "email-ids": goodLabels["email-ids"]},
		"/api/v1/scanner-error": {
			"image-name": bad + ":latest", "email-ids": goodLabels["email-ids"],
			"error": []any{"label git-sha is missing"},
		},
	}
	for _, q := range reqs {
		if q.Method != http.MethodPost {
			t.Errorf("%s: method %s, want POST", q.Path, q.Method)
		}
		// The real server compares the whole header.
		if got := q.Header.Values("Content-Type"); !reflect.DeepEqual(got, []string{"application/json"}) {
			t.Errorf("%s: Content-Type = %q, want exactly application/json", q.Path, got)
		}
		if got := q.Header.Get("Authorization"); got != "Bearer "+token {
			t.Errorf("%s: Authorization = %q, want Bearer <token>", q.Path, got)
		}
		if got := q.Header.Get("X-3scale-Account-Secret"); got != secret {
			t.Errorf("%s: x-3scale-account-secret = %q", q.Path, got)
		}
		want, ok := wantBodies[q.Path]
		if !ok {
			t.Errorf("unexpected request to %s", q.Path)
			continue
		}
		var body map[string]any
		dec := json.NewDecoder(strings.NewReader(string(q.Body)))
		if err := dec.Decode(&body); err != nil {
			t.Fatalf("%s: body %q: %v", q.Path, q.Body, err)
		}
		if !reflect.DeepEqual(body, want) {
			t.Errorf("%s: body = %v\nwant exactly %v", q.Path, body, want)
		}
	}

	// The secrets reach the server and nothing else.
	places := map[string]string{"stdout": out.stdout, "stderr": out.stderr}
	err := filepath.Walk(scanOut, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		places[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(places) != 6 {
		t.Errorf("expected stdout, stderr and 4 result files, got %d places", len(places))
	}
	for where, text := range places {
		for _, s := range []string{token, secret, "tok-3f9a", "8d2b-secret"} {
			if strings.Contains(text, s) {
				t.Errorf("%s contains a secret", where)
			}
		}
	}
}

func TestScanMissingImageName(t *testing.T) {
	t.Parallel()
	// No daemon is needed: there is nothing to ask it.
	tests := []struct {
		name       string
		withServer bool
	}{
		{"SERVER known: the error is reported", true},
		{"SERVER unset too: the result says both", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newAnalyticsServer(t)
			env := map[string]string{"IMAGE_NAME": ""}
			if tt.withServer {
				env["SERVER"] = srv.URL
			}
			// No scan-in directory at all, as when run outside atomic.
			base := t.TempDir()
			scanOut := filepath.Join(base, "out")
			out := runCommand(t, env, "--scanin", filepath.Join(base, "absent"), "--scanout", scanOut, fastRetry)
			if out.code != exitOK || !reflect.DeepEqual(statusLines(out.stdout), []string{"Scanner execution status: False"}) {
				t.Fatalf("exit %d, stdout %q; want 0 and status False", out.code, out.stdout)
			}
			got := readResults(t, scanOut, atomicscan.UnknownImageFolder)
			checkSummary(t, got, atomicscan.UnknownImageFolder)
			if !hasError(got.result, "IMAGE_NAME is not set") {
				t.Errorf("Errors = %q, want one naming IMAGE_NAME", got.result.Errors)
			}
			reports := srv.errorReports(t)
			if !tt.withServer {
				if !hasError(got.result, "SERVER is not set") || len(reports) != 0 {
					t.Errorf("Errors = %q, reports %v; want SERVER named and no report", got.result.Errors, reports)
				}
				return
			}
			// The original never read SERVER in this case; the error must
			// reach the server.
			if len(reports) != 1 || reports[0]["image-name"] != "" || !reflect.DeepEqual(reports[0]["error"], toAny(got.result.Errors)) {
				t.Errorf("error reports = %v, want one with image-name \"\" and the errors %q", reports, got.result.Errors)
			}
			if n := len(srv.requests(emulator.EndpointRegister)); n != 0 {
				t.Errorf("%d registrations, want none", n)
			}
		})
	}
}

func TestScanDaemonUnreachable(t *testing.T) {
	t.Parallel()
	srv := newAnalyticsServer(t)
	scanIn, scanOut := scanDirs(t)
	socket := filepath.Join(t.TempDir(), "no-daemon.sock")
	const name = "analytics-scanner-test/any:v1"

	out := runCommand(t, map[string]string{"IMAGE_NAME": name, "SERVER": srv.URL, "DOCKER_HOST": "unix://" + socket},
		"--scanin", scanIn, "--scanout", scanOut, fastRetry)
	if out.code != exitOK {
		t.Fatalf("exit %d, want 0", out.code)
	}
	got := readResults(t, scanOut, atomicscan.FolderName(name))
	if got.result.Successful || !hasError(got.result, "docker daemon unavailable") {
		t.Errorf("Errors = %q, want the daemon named", got.result.Errors)
	}
	checkRetries(t, out.stderr, int(scan.DefaultRetry.MaxTries)-1)
	reports := srv.errorReports(t)
	if len(reports) != 1 || reports[0]["image-name"] != name {
		t.Errorf("error reports = %v, want one for %s", reports, name)
	}
}

func TestScanJSONPrintsTheResults(t *testing.T) {
	t.Parallel()
	d := dockertest.New(t)
	name, id := buildImage(t, d, "scan-json", goodLabels)
	srv := newAnalyticsServer(t)
	scanIn, scanOut := scanDirs(t)

	// Flags after SCAN_TYPE work too.
	out := runCommand(t, map[string]string{"IMAGE_NAME": name, "SERVER": srv.URL}, "register", "--json", "--scanin", scanIn, "--scanout", scanOut, fastRetry)
	if out.code != exitOK {
		t.Fatalf("exit %d, want 0", out.code)
	}
	status, doc, ok := strings.Cut(out.stdout, "\n")
	if !ok || status != "Scanner execution status: True (image "+name+", id "+id[:12]+")" {
		t.Fatalf("stdout = %q, want the status line first", out.stdout)
	}
	file := readResults(t, scanOut, id)
	if doc != file.raw {
		t.Errorf("printed document differs from the result file:\n%s\nfile:\n%s", doc, file.raw)
	}
}

func TestScanExitCodes(t *testing.T) {
	t.Parallel()
	d := dockertest.New(t)
	name, _ := buildImage(t, d, "scan-exit", goodLabels)
	absent := dockertest.UniqueName("analytics-scanner-test/absent")
	srv := newAnalyticsServer(t)

	tests := []struct {
		name       string
		image      string
		args       []string
		unwritable bool
		want       int
		wantStatus string
	}{
		{name: "success", image: name, want: exitOK, wantStatus: "True"},
		{name: "success with --strict", image: name, args: []string{"--strict"}, want: exitOK, wantStatus: "True"},
		{name: "failure", image: absent, want: exitOK, wantStatus: "False"},
		{name: "failure with --strict", image: absent, args: []string{"--strict"}, want: exitUnsuccessful, wantStatus: "False"},
		// Said before anything is scanned: no status line claims a
		// result that was never written.
		{name: "unwritable scanout", image: name, unwritable: true, want: exitWrite},
		{name: "unwritable scanout with --strict and a failure", image: absent, args: []string{"--strict"}, unwritable: true, want: exitWrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			scanIn, scanOut := scanDirs(t)
			if tt.unwritable {
				// We may be root: a file where the directory should be
				// stops even root.
				if err := os.WriteFile(scanOut, []byte("not a directory"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{"--scanin", scanIn, "--scanout", scanOut, fastRetry}, tt.args...)
			out := runCommand(t, map[string]string{"IMAGE_NAME": tt.image, "SERVER": srv.URL}, args...)
			if out.code != tt.want {
				t.Errorf("exit %d, want %d", out.code, tt.want)
			}
			var want []string
			if tt.wantStatus != "" {
				want = []string{"Scanner execution status: " + tt.wantStatus}
			}
			if got := statusLines(out.stdout); !reflect.DeepEqual(got, want) {
				t.Errorf("status lines = %q, want %q", got, want)
			}
			if tt.unwritable && (!strings.Contains(out.stderr, "cannot write results") || !strings.Contains(out.stderr, "not a directory") || out.stdout != "") {
				t.Errorf("stderr does not say first that the results cannot be written; stdout %q", out.stdout)
			}
		})
	}
}

func TestScanUsageErrors(t *testing.T) {
	t.Parallel()
	file := plainFile(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown flag", []string{"--bogus"}, "flag provided but not defined: -bogus"},
		{"unknown scan type", []string{"scan"}, `unknown scan type "scan"`},
		{"two scan types", []string{"register", "register"}, "too many arguments"},
		{"zero timeout", []string{"--timeout", "0s"}, "--timeout must be positive"},
		{"bad timeout", []string{"--timeout", "soon"}, "invalid value"},
		{"empty scanout", []string{"--scanout", ""}, "--scanout must not be empty"},
		{"empty scanin", []string{"--scanin", ""}, "--scanin must not be empty"},
		{"scanin is a file", []string{"--scanin", file}, "read scan-in directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			scanOut := filepath.Join(t.TempDir(), "out")
			out := runCommand(t, map[string]string{"IMAGE_NAME": "x", "SERVER": "http://127.0.0.1:1"}, append([]string{"--scanout", scanOut}, tt.args...)...)
			if out.code != exitUsage {
				t.Errorf("exit %d, want %d", out.code, exitUsage)
			}
			if out.stdout != "" {
				t.Errorf("stdout = %q, want nothing", out.stdout)
			}
			lines := strings.Split(strings.TrimSpace(out.stderr), "\n")
			if !strings.HasPrefix(lines[0], "scan: ") || !strings.Contains(lines[0], tt.wantErr) || len(lines) != 2 {
				t.Errorf("stderr = %q, want one message containing %q and a pointer to --help", out.stderr, tt.wantErr)
			}
			if _, err := os.Stat(scanOut); !os.IsNotExist(err) {
				t.Errorf("a usage error wrote results: %v", err)
			}
		})
	}
}

func TestScanHelpAndVersion(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"-h", "--help"} {
		out := runCommand(t, nil, flag)
		if out.code != exitOK || out.stderr != "" {
			t.Errorf("%s: exit %d, stderr %q", flag, out.code, out.stderr)
		}
		for _, want := range []string{
			"scan [flags] [SCAN_TYPE]", "scan install", "scan uninstall",
			"IMAGE_NAME", "SERVER", "ANALYTICS_TOKEN", "ANALYTICS_3SCALE_SECRET", "DOCKER_HOST",
			"--image", "--server", "--scanin", "--scanout", "--json", "--timeout", "--strict", "--verbose", "--version",
			"Exit codes", "0  results were written", "1  with --strict", "2  usage", "3  some result could not be written",
			"(default 15s)",
		} {
			if !strings.Contains(out.stdout, want) {
				t.Errorf("%s: usage lacks %q", flag, want)
			}
		}
		if strings.Contains(out.stdout, "retry-initial") {
			t.Errorf("%s: usage shows the test-only flag", flag)
		}
	}
	out := runCommand(t, nil, "--version")
	if out.code != exitOK || out.stdout != "scan "+version.Get().String()+"\n" || !strings.Contains(out.stdout, version.Get().Module+" rev ") {
		t.Errorf("--version: exit %d, stdout %q", out.code, out.stdout)
	}
}

// A missing --scanout is created only when it was given; the default is
// atomic's mount, and making it at a host's root is refused with a hint.
func TestPrepareScanOut(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	missing := filepath.Join(base, "missing")
	code, err := prepareScanOut(scanOptions{scanOut: missing})
	if code != exitUsage || err == nil || !strings.Contains(err.Error(), "pass --scanout DIR") {
		t.Errorf("default scanout missing: %d, %v; want a usage error saying what to pass", code, err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("the default scanout was created: %v", err)
	}
	if code, err := prepareScanOut(scanOptions{scanOut: missing, scanOutGiven: true}); code != exitOK || err != nil {
		t.Errorf("given scanout missing: %d, %v; want it created", code, err)
	}
	if info, err := os.Stat(missing); err != nil || !info.IsDir() {
		t.Errorf("the given scanout was not created: %v", err)
	}
	if entries, _ := os.ReadDir(missing); len(entries) != 0 {
		t.Errorf("the write test left %d entries behind", len(entries))
	}
	if code, err := prepareScanOut(scanOptions{scanOut: missing}); code != exitOK || err != nil {
		t.Errorf("default scanout present: %d, %v", code, err)
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, err := prepareScanOut(scanOptions{scanOut: file, scanOutGiven: true}); code != exitWrite || err == nil {
		t.Errorf("scanout is a file: %d, %v; want exit %d", code, err, exitWrite)
	}
}

func TestStatusImage(t *testing.T) {
	t.Parallel()
	id := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, uuid, want string
	}{
		{"myimage:1.0", id, "image myimage:1.0, id abababababab"},
		{"", id, "image abababababab"},
		{id[:12], id, "image abababababab"},
		{"absent:1", "", "image absent:1"},
		{"", "", "no image"},
	} {
		r := scan.Result{UUID: tc.uuid}
		r.ScanResults.ImageName = tc.name
		if got := statusImage(r); got != tc.want {
			t.Errorf("statusImage(%q, %q) = %q, want %q", tc.name, tc.uuid, got, tc.want)
		}
	}
}
