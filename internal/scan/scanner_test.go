package scan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/scan/scantest"
)

// The seed's image id: its first character is the one the original dropped.
const (
	seedHex = "aa295492a6702264ffe86c341e92aa83f9687e810cf29d72593eb7a2c27d0449"
	seedID  = "sha256:" + seedHex
)

// seedImage is the seed README's image, reachable by name, tag and id.
func seedImage(labels map[string]string) *scantest.LabelSource {
	src := scantest.NewLabelSource()
	src.AddImage(scan.Image{ID: seedID, Names: []string{"nshaikh/test_label:latest"}, Labels: labels},
		"nshaikh/test_label", "nshaikh/test_label:latest", seedID, seedHex, seedHex[:12])
	return src
}

// analyticsServer is the emulator, standing in for the analytics server,
// with the credentials newScanner's client sends.
type analyticsServer struct {
	*emulator.Server
	URL string
}

func newAnalyticsServer(t *testing.T) *analyticsServer {
	t.Helper()
	emu := emulator.New(emulator.Config{Token: "t0ken-s3cret", ThreeScaleSecret: "3scale-s3cret"})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &analyticsServer{Server: emu, URL: srv.URL}
}

// request is one request the analytics server received, its body decoded
// generically so that a comparison also catches an extra field.
type request struct {
	emulator.Request
	Body map[string]any
}

// calls returns the requests to endpoint, oldest first.
func (s *analyticsServer) calls(e emulator.Endpoint) []request {
	var out []request
	for _, q := range s.Requests() {
		if strings.HasSuffix(q.Path, "/"+string(e)) {
			r := request{Request: q}
			_ = json.Unmarshal(q.Body, &r.Body)
			out = append(out, r)
		}
	}
	return out
}

// always answers every call to e with status and body.
func (s *analyticsServer) always(e emulator.Endpoint, status int, body string) {
	s.Always(e, emulator.Answer{Status: status, Body: body})
}

const registered = `{"success": true, "summary": "Repository https://github.com/fabric8-analytics/f8a-server-backbone with commit-hash 46e443d has been successfully registered."}`

// fast retries quickly so that tests of retries take milliseconds.
var fast = scan.RetryPolicy{MaxTries: 4, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, MaxElapsed: 5 * time.Second}

// clock returns a Now that starts at a fixed time and advances a second
// per call, so that results carry predictable, distinct times.
func clock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2018, 3, 1, 10, 23, 39, 719301000, time.Local)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func newScanner(t *testing.T, src scan.LabelSource, srv *analyticsServer, retry scan.RetryPolicy) *scan.Scanner {
	t.Helper()
	s := &scan.Scanner{Source: src, Retry: retry, Now: clock()}
	if srv != nil {
		c, err := analytics.New(analytics.Config{ServerURL: srv.URL, Timeout: 5 * time.Second,
			Token: "t0ken-s3cret", ThreeScaleSecret: "3scale-s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		s.Registrar = c
	}
	return s
}

// assertNoSecrets fails when a credential shows in the result.
func assertNoSecrets(t *testing.T, r scan.Result) {
	t.Helper()
	b, _ := json.Marshal(r)
	for _, secret := range []string{"t0ken-s3cret", "3scale-s3cret"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("result holds a credential: %s", b)
		}
	}
}

func TestScanSuccess(t *testing.T) {
	srv := newAnalyticsServer(t)
	srv.always(emulator.EndpointRegister, http.StatusOK, registered)
	src := seedImage(scan.GoodLabels())
	s := newScanner(t, src, srv, fast)

	r := s.Scan(context.Background(), scan.Target{Ref: "nshaikh/test_label"})

	want := scan.Result{
		ScanType:           scan.ScanTypeRegister,
		CVEFeedLastUpdated: "NA",
		UUID:               seedHex,
		ScanResults: scan.ScanResults{
			EmailIDs:  scan.WantGood.EmailIDs,
			GitSHA:    scan.WantGood.GitSHA,
			GitURL:    scan.WantGood.GitURL,
			ImageName: "nshaikh/test_label",
			ServerURL: srv.URL,
		},
		Successful: true,
		Summary:    scan.SuccessSummary,
		Scanner:    scan.ScannerName,
		ServerResponse: &scan.ServerResponse{Status: 200,
			Summary: "Repository https://github.com/fabric8-analytics/f8a-server-backbone with commit-hash 46e443d has been successfully registered."},
		LabelSources: scan.Provenance{scan.LabelGitURL: scan.LabelGitURL, scan.LabelGitSHA: scan.LabelGitSHA, scan.LabelEmailIDs: scan.LabelEmailIDs},
		Image:        &scan.ResultImage{ID: "sha256:" + seedHex},
	}
	got := r
	got.StartTime, got.FinishedTime = scan.Timestamp{}, scan.Timestamp{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("result\n%+v\nwant\n%+v", got, want)
	}
	if r.StartTime.String() != "2018-03-01-10-23-40-719301" || !r.FinishedTime.After(r.StartTime.Time) {
		t.Errorf("times = %s .. %s, want the clock's first reading then a later one", r.StartTime, r.FinishedTime)
	}

	regs := srv.calls(emulator.EndpointRegister)
	if len(regs) != 1 {
		t.Fatalf("register calls = %d, want 1", len(regs))
	}
	wantBody := map[string]any{"git-url": scan.WantGood.GitURL, "git-sha": scan.WantGood.GitSHA, "email-ids": scan.WantGood.EmailIDs}
	if regs[0].Method != http.MethodPost || !reflect.DeepEqual(regs[0].Body, wantBody) {
		t.Errorf("register = %s %v, want POST %v", regs[0].Method, regs[0].Body, wantBody)
	}
	if n := len(srv.calls(emulator.EndpointScannerError)); n != 0 {
		t.Errorf("scanner-error calls = %d after a success, want 0", n)
	}
	assertNoSecrets(t, r)
}

func TestScanLabelsMissing(t *testing.T) {
	srv := newAnalyticsServer(t)
	src := seedImage(map[string]string{scan.LabelEmailIDs: " a@x.org,b@y.org "})
	s := newScanner(t, src, srv, fast)

	r := s.Scan(context.Background(), scan.Target{Ref: seedID, Name: "nshaikh/test_label"})

	if n := len(srv.calls(emulator.EndpointRegister)); n != 0 {
		t.Errorf("register calls = %d, want none for an image without its labels", n)
	}
	if n := src.AllInspections(); n != 1 {
		t.Errorf("inspections = %d, want 1: missing labels are not retried", n)
	}
	wantErrs := []string{"label git-url is missing", "label git-sha is missing"}
	reports := srv.calls(emulator.EndpointScannerError)
	if len(reports) != 1 {
		t.Fatalf("scanner-error calls = %d, want 1", len(reports))
	}
	wantReport := map[string]any{"image-name": "nshaikh/test_label", "email-ids": "a@x.org,b@y.org",
		"error": []any{wantErrs[0], wantErrs[1]}}
	if !reflect.DeepEqual(reports[0].Body, wantReport) {
		t.Errorf("report body = %v, want %v", reports[0].Body, wantReport)
	}
	if r.Successful || !reflect.DeepEqual(r.Errors, wantErrs) || r.Summary != scan.FailureSummary(wantErrs) {
		t.Errorf("result: successful %v, errors %q, summary %q; want a failure with %q",
			r.Successful, r.Errors, r.Summary, wantErrs)
	}
	if r.ScanResults.EmailIDs != "a@x.org,b@y.org" || r.ScanResults.GitURL != "" || r.UUID != seedHex {
		t.Errorf("scan results = %+v, uuid %q", r.ScanResults, r.UUID)
	}
	if r.ServerResponse != nil {
		t.Errorf("server response = %+v, want none: nothing was registered", r.ServerResponse)
	}
}

func TestScanWithoutServer(t *testing.T) {
	configErr := fmt.Errorf("%w: server URL is empty", analytics.ErrConfig)
	cases := []struct {
		name    string
		err     error
		wantErr string
	}{
		{"SERVER empty", configErr, configErr.Error()},
		{"no reason given", nil, "no analytics server configured"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := seedImage(scan.GoodLabels())
			s := newScanner(t, src, nil, fast)
			s.RegistrarErr = tc.err

			a := s.Attempt(context.Background(), scan.Target{Ref: "nshaikh/test_label"})
			if a.Retryable() || a.Succeeded() {
				t.Errorf("attempt retryable %v, succeeded %v; want a final failure", a.Retryable(), a.Succeeded())
			}
			r := s.Finish(context.Background(), a)

			if r.Successful || !reflect.DeepEqual(r.Errors, []string{tc.wantErr}) {
				t.Errorf("result: successful %v, errors %q; want %q", r.Successful, r.Errors, tc.wantErr)
			}
			if r.ScanResults.ServerURL != "" {
				t.Errorf("server_url = %q, want empty", r.ScanResults.ServerURL)
			}
			// The image is still read, unlike the original, which gave up
			// before reading anything.
			if r.ScanResults.GitURL != scan.WantGood.GitURL || r.UUID != seedHex {
				t.Errorf("scan results = %+v, uuid %q; want the image's labels", r.ScanResults, r.UUID)
			}
		})
	}
}

func TestScanImageNotFound(t *testing.T) {
	cases := []struct {
		name, ref, wantUUID, wantName string
	}{
		{"by name", "nosuch/image:1", "nosuch/image:1", "nosuch/image:1"},
		{"by sha256 id", "sha256:" + strings.Repeat("b", 64), strings.Repeat("b", 64), "sha256:" + strings.Repeat("b", 64)},
		{"by hex id", strings.Repeat("c", 64), strings.Repeat("c", 64), strings.Repeat("c", 64)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newAnalyticsServer(t)
			src := scantest.NewLabelSource()
			s := newScanner(t, src, srv, fast)

			r := s.Scan(context.Background(), scan.Target{Ref: tc.ref})

			if r.UUID != tc.wantUUID || r.ScanResults.ImageName != tc.wantName {
				t.Errorf("uuid %q, image_name %q; want %q, %q", r.UUID, r.ScanResults.ImageName, tc.wantUUID, tc.wantName)
			}
			if r.Successful || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "image not found") {
				t.Errorf("result: successful %v, errors %q; want one 'image not found'", r.Successful, r.Errors)
			}
			if n := src.AllInspections(); n != 1 {
				t.Errorf("inspections = %d, want 1: a missing image is final", n)
			}
			if n := len(srv.calls(emulator.EndpointRegister)); n != 0 {
				t.Errorf("register calls = %d, want 0", n)
			}
			reports := srv.calls(emulator.EndpointScannerError)
			if len(reports) != 1 {
				t.Fatalf("scanner-error calls = %d, want 1", len(reports))
			}
			if reports[0].Body["image-name"] != tc.wantName || reports[0].Body["email-ids"] != "" {
				t.Errorf("report = %v", reports[0].Body)
			}
		})
	}
}

func TestScanDaemonUnavailable(t *testing.T) {
	down := fmt.Errorf("%w: ping: connection refused", scan.ErrDaemonUnavailable)

	t.Run("retried until tries run out", func(t *testing.T) {
		srv := newAnalyticsServer(t)
		src := scantest.NewLabelSource()
		src.FailNext(down, down, down, down, down)
		s := newScanner(t, src, srv, fast)

		a := s.Attempt(context.Background(), scan.Target{Ref: "x/y"})
		if !a.Retryable() {
			t.Errorf("attempt with %v is not retryable", a.Err())
		}
		r := s.Scan(context.Background(), scan.Target{Ref: "x/y"})
		if n := src.AllInspections(); n != 1+int(fast.MaxTries) {
			t.Errorf("inspections = %d, want 1 by scan.Attempt + %d by Scan", n, fast.MaxTries)
		}
		if r.Successful || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "docker daemon unavailable") {
			t.Errorf("result: successful %v, errors %q", r.Successful, r.Errors)
		}
		if n := len(srv.calls(emulator.EndpointScannerError)); n != 1 {
			t.Errorf("scanner-error calls = %d, want 1 (the final failure only)", n)
		}
	})
	t.Run("recovers", func(t *testing.T) {
		srv := newAnalyticsServer(t)
		src := seedImage(scan.GoodLabels())
		src.FailNext(down)
		r := newScanner(t, src, srv, fast).Scan(context.Background(), scan.Target{Ref: "nshaikh/test_label"})
		if !r.Successful || src.AllInspections() != 2 {
			t.Errorf("successful %v after %d inspections (errors %q), want success after 2", r.Successful, src.AllInspections(), r.Errors)
		}
	})
}

func TestScanRetriesServerErrors(t *testing.T) {
	srv := newAnalyticsServer(t)
	srv.Script(emulator.EndpointRegister, emulator.Answer{Status: http.StatusInternalServerError, Body: `{"success": false, "summary": "database is down"}`})
	r := newScanner(t, seedImage(scan.GoodLabels()), srv, fast).Scan(context.Background(), scan.Target{Ref: "nshaikh/test_label"})

	if !r.Successful || r.Errors != nil {
		t.Errorf("successful %v, errors %q; want success", r.Successful, r.Errors)
	}
	if n := len(srv.calls(emulator.EndpointRegister)); n != 2 {
		t.Errorf("register calls = %d, want 2", n)
	}
	if n := len(srv.calls(emulator.EndpointScannerError)); n != 0 {
		t.Errorf("scanner-error calls = %d, want 0: the scan succeeded", n)
	}
	if r.ServerResponse == nil || r.ServerResponse.Status != 200 {
		t.Errorf("server response = %+v, want 200", r.ServerResponse)
	}
}

func TestScanDoesNotRetryClientErrors(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		body    string
		summary string
	}{
		{"400 wrong content type", 400, `{"success": false, "summary": "Set content type to application/json"}`, "Set content type to application/json"},
		{"401", 401, `{"error": "Authentication failed - could not decode JWT token"}`, "Authentication failed - could not decode JWT token"},
		{"404 validation", 404, `{"success": false, "summary": "git-url cannot be empty"}`, "git-url cannot be empty"},
		{"200 success false", 200, `{"success": false, "summary": "refused"}`, "refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newAnalyticsServer(t)
			srv.always(emulator.EndpointRegister, tc.status, tc.body)
			s := newScanner(t, seedImage(scan.GoodLabels()), srv, fast)

			r := s.Scan(context.Background(), scan.Target{Ref: "nshaikh/test_label"})

			if n := len(srv.calls(emulator.EndpointRegister)); n != 1 {
				t.Errorf("register calls = %d, want 1: a %d is not retried", n, tc.status)
			}
			if n := len(srv.calls(emulator.EndpointScannerError)); n != 1 {
				t.Errorf("scanner-error calls = %d, want 1", n)
			}
			if r.Successful || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], tc.summary) {
				t.Errorf("result: successful %v, errors %q; want one error with %q", r.Successful, r.Errors, tc.summary)
			}
			if r.ServerResponse == nil || r.ServerResponse.Status != tc.status {
				t.Errorf("server response = %+v, want status %d", r.ServerResponse, tc.status)
			}
			assertNoSecrets(t, r)

			// What the service's queue sees of the same answer.
			a := s.Attempt(context.Background(), scan.Target{Ref: "nshaikh/test_label"})
			if a.Retryable() || a.ServerStatus() != tc.status || a.Response != nil {
				t.Errorf("attempt: retryable %v, server status %d; want final, %d", a.Retryable(), a.ServerStatus(), tc.status)
			}
		})
	}
}

func TestScanReportFailure(t *testing.T) {
	cases := []struct {
		name        string
		report      []emulator.Answer // the scanner-error answers in order, the last one standing
		wantReports int
		wantFailure bool
	}{
		// The real server has no scanner-error endpoint.
		{"404 not retried", []emulator.Answer{{Status: 404, Body: `{"error": "not found"}`}}, 1, true},
		{"503 retried until tries run out", []emulator.Answer{{Status: 503}}, int(fast.MaxTries), true},
		{"503 then 200", []emulator.Answer{{Status: 503}, {Status: 200, Body: `{}`}}, 2, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newAnalyticsServer(t)
			srv.always(emulator.EndpointRegister, 400, `{"success": false, "summary": "bad"}`)
			srv.Script(emulator.EndpointScannerError, tc.report[:len(tc.report)-1]...)
			srv.Always(emulator.EndpointScannerError, tc.report[len(tc.report)-1])
			r := newScanner(t, seedImage(scan.GoodLabels()), srv, fast).Scan(context.Background(), scan.Target{Ref: "nshaikh/test_label"})

			if n := len(srv.calls(emulator.EndpointScannerError)); n != tc.wantReports {
				t.Errorf("scanner-error calls = %d, want %d", n, tc.wantReports)
			}
			wantLen := 1
			if tc.wantFailure {
				wantLen = 2
			}
			if len(r.Errors) != wantLen || !strings.Contains(r.Errors[0], "register request") {
				t.Fatalf("errors = %q, want the register error first, %d in all", r.Errors, wantLen)
			}
			if tc.wantFailure {
				if !strings.HasPrefix(r.Errors[1], "could not report") || !strings.Contains(r.Errors[1], "scanner-error") {
					t.Errorf("last error = %q, want 'could not report ...scanner-error...'", r.Errors[1])
				}
				if r.Summary != scan.FailureSummary(r.Errors) {
					t.Errorf("summary %q does not list the report failure", r.Summary)
				}
			}
			// The report itself carries only the scan's own errors.
			for _, q := range srv.calls(emulator.EndpointScannerError) {
				if errs, _ := q.Body["error"].([]any); len(errs) != 1 {
					t.Errorf("reported errors = %v, want the one register error", q.Body["error"])
				}
			}
			assertNoSecrets(t, r)
		})
	}
}

func TestScanHonoursRetryAfter(t *testing.T) {
	t.Run("short Retry-After waited for", func(t *testing.T) {
		srv := newAnalyticsServer(t)
		srv.Script(emulator.EndpointRegister, emulator.Answer{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"1"}}})
		r := newScanner(t, seedImage(scan.GoodLabels()), srv, fast).Scan(context.Background(), scan.Target{Ref: "nshaikh/test_label"})
		if !r.Successful {
			t.Fatalf("errors %q, want success on the second try", r.Errors)
		}
		regs := srv.calls(emulator.EndpointRegister)
		if len(regs) != 2 {
			t.Fatalf("register calls = %d, want 2", len(regs))
		}
		gap := regs[1].Time.Sub(regs[0].Time)
		// fast would retry after milliseconds; the server asked for 1 s.
		if gap < 900*time.Millisecond {
			t.Errorf("retried after %v, want about 1s as Retry-After asked", gap)
		}
	})
	t.Run("Retry-After beyond the policy is not waited for", func(t *testing.T) {
		srv := newAnalyticsServer(t)
		srv.Always(emulator.EndpointRegister, emulator.Answer{Status: http.StatusTooManyRequests, Body: `{"summary": "slow down"}`,
			Header: http.Header{"Retry-After": {"3600"}}})
		policies := map[string]scan.RetryPolicy{
			"with MaxElapsed":    {MaxTries: 3, InitialInterval: time.Millisecond, MaxInterval: 10 * time.Millisecond, MaxElapsed: 2 * time.Second},
			"without MaxElapsed": {MaxTries: 3, InitialInterval: time.Millisecond, MaxInterval: 10 * time.Millisecond},
			"default intervals":  {MaxTries: 3},
		}
		for name, p := range policies {
			t.Run(name, func(t *testing.T) {
				before := len(srv.calls(emulator.EndpointRegister))
				// A deadline only so that a regression fails instead of
				// hanging for an hour.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				start := time.Now()
				r := newScanner(t, seedImage(scan.GoodLabels()), srv, p).Scan(ctx, scan.Target{Ref: "nshaikh/test_label"})
				if elapsed := time.Since(start); elapsed > 3*time.Second {
					t.Errorf("Scan took %v; a Retry-After of an hour must end the retries", elapsed)
				}
				if n := len(srv.calls(emulator.EndpointRegister)) - before; n != 1 {
					t.Errorf("register calls = %d, want 1: retrying sooner than asked is no use", n)
				}
				if r.Successful || len(r.Errors) == 0 || !strings.Contains(r.Errors[0], "429") {
					t.Errorf("result: successful %v, errors %q; want the 429", r.Successful, r.Errors)
				}
			})
		}
	})
}

func TestResultUUIDIsTheWholeID(t *testing.T) {
	srv := newAnalyticsServer(t)
	s := newScanner(t, seedImage(scan.GoodLabels()), srv, fast)
	for _, ref := range []string{"nshaikh/test_label", seedID, seedHex, seedHex[:12]} {
		t.Run(ref, func(t *testing.T) {
			r := s.Scan(context.Background(), scan.Target{Ref: ref})
			// The original wrote "a2954..." for "aa2954...".
			if r.UUID != seedHex || len(r.UUID) != 64 {
				t.Errorf("UUID = %q, want all 64 digits %q", r.UUID, seedHex)
			}
		})
	}
	if got := (scan.Image{ID: seedID}).ShortID(); got != seedHex {
		t.Errorf("ShortID() = %q, want %q", got, seedHex)
	}
}

// atomic mounts a container under /scanin/<container id>: the result's UUID
// is that id, the one asked for, not the id of the container's image.
func TestResultUUIDOfAContainerIsTheContainerID(t *testing.T) {
	const containerID = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
	img := scan.Image{ID: seedID, Labels: scan.GoodLabels()}
	src := scantest.NewLabelSource()
	src.AddImage(img, containerID, containerID[:12])
	s := newScanner(t, src, newAnalyticsServer(t), fast)
	if r := s.Scan(context.Background(), scan.Target{Ref: containerID}); r.UUID != containerID {
		t.Errorf("UUID = %q, want the container id %q", r.UUID, containerID)
	}
	// A short id is not what atomic uses; the image's full id is the
	// better identity then.
	if r := s.Scan(context.Background(), scan.Target{Ref: containerID[:12]}); r.UUID != seedHex {
		t.Errorf("UUID = %q, want the image id %q", r.UUID, seedHex)
	}
}

func TestResultImageName(t *testing.T) {
	tagged := scan.Image{ID: seedID, Names: []string{"first/tag:1", "second/tag:2"}, Labels: scan.GoodLabels()}
	untagged := scan.Image{ID: seedID, Labels: scan.GoodLabels()}
	cases := []struct {
		name   string
		target scan.Target
		img    scan.Image
		want   string
	}{
		{"scan.Target.Name wins", scan.Target{Ref: seedID, Name: "given/name"}, tagged, "given/name"},
		{"scan.Target.Name wins over a name ref", scan.Target{Ref: "some/ref:tag", Name: "given/name"}, tagged, "given/name"},
		{"name ref as asked", scan.Target{Ref: "some/ref"}, tagged, "some/ref"},
		{"name:tag ref as asked", scan.Target{Ref: "registry.example:5000/some/ref:v1"}, tagged, "registry.example:5000/some/ref:v1"},
		{"sha256 id ref gives the first tag", scan.Target{Ref: seedID}, tagged, "first/tag:1"},
		{"hex id ref gives the first tag", scan.Target{Ref: seedHex}, tagged, "first/tag:1"},
		{"short id ref gives the first tag", scan.Target{Ref: seedHex[:12]}, tagged, "first/tag:1"},
		{"untagged id ref gives the id", scan.Target{Ref: seedID}, untagged, seedHex},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := scantest.NewLabelSource()
			src.AddImage(tc.img, tc.target.Ref)
			srv := newAnalyticsServer(t)
			srv.always(emulator.EndpointRegister, 400, `{"success": false}`)
			r := newScanner(t, src, srv, fast).Scan(context.Background(), tc.target)
			if r.ScanResults.ImageName != tc.want {
				t.Errorf("image_name = %q, want %q", r.ScanResults.ImageName, tc.want)
			}
			// The report names the image the same way.
			if reps := srv.calls(emulator.EndpointScannerError); len(reps) != 1 || reps[0].Body["image-name"] != tc.want {
				t.Errorf("reports = %v, want one for %q", reps, tc.want)
			}
		})
	}
}

func TestLooksLikeID(t *testing.T) {
	cases := map[string]bool{
		seedHex:                  true,
		seedID:                   true,
		seedHex[:12]:             true,
		"sha256:" + seedHex[:12]: true,
		seedHex[:11]:             false,
		seedHex + "0":            false,
		strings.ToUpper(seedHex): false,
		"nshaikh/test_label":     false,
		"abcdef012345:latest":    false,
		"":                       false,
		"sha256:":                false,
	}
	for in, want := range cases {
		if got := scan.LooksLikeID(in); got != want {
			t.Errorf("scan.LooksLikeID(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestScanType(t *testing.T) {
	srv := newAnalyticsServer(t)
	s := newScanner(t, seedImage(scan.GoodLabels()), srv, fast)
	for in, want := range map[string]string{"": scan.ScanTypeRegister, "scan": "scan"} {
		if got := s.Scan(context.Background(), scan.Target{Ref: "nshaikh/test_label", ScanType: in}).ScanType; got != want {
			t.Errorf("ScanType %q gives %q, want %q", in, got, want)
		}
	}
}

func TestScanCanceledStillGivesResult(t *testing.T) {
	srv := newAnalyticsServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := newScanner(t, seedImage(scan.GoodLabels()), srv, fast).Scan(ctx, scan.Target{Ref: "nshaikh/test_label"})
	if r.Successful || len(r.Errors) == 0 || r.UUID != "nshaikh/test_label" || r.Scanner != scan.ScannerName {
		t.Errorf("result = %+v, want a failed result for the asked ref", r)
	}
}

func TestScanConcurrent(t *testing.T) {
	// The service shares one scan.Scanner between its workers.
	srv := newAnalyticsServer(t)
	// Every other registration fails, whichever scan sends it.
	var flaky []emulator.Answer
	for range 40 {
		flaky = append(flaky, emulator.Answer{Status: 502}, emulator.Answer{Status: 200, Body: registered})
	}
	srv.Script(emulator.EndpointRegister, flaky...)
	s := newScanner(t, seedImage(scan.GoodLabels()), srv, scan.RetryPolicy{MaxTries: 20, InitialInterval: time.Millisecond, MaxInterval: 2 * time.Millisecond})
	var wg sync.WaitGroup
	results := make([]scan.Result, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.Scan(context.Background(), scan.Target{Ref: "nshaikh/test_label"})
		}()
	}
	wg.Wait()
	for i, r := range results {
		if !r.Successful {
			t.Errorf("scan %d failed: %q", i, r.Errors)
		}
	}
}
