package docker_test

// Tests of the Engine API client against an httptest server standing in for
// the daemon, for what a real daemon cannot be made to do on demand: answer
// with a given error status, speak an old API, sit behind TLS or a path
// prefix. The daemon-backed tests in source_test.go cover the real answers.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/docker"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// fakeDaemon answers /_ping with apiVersion and every other path from
// answers (path without the version prefix → status and body); it records
// the paths asked.
type fakeDaemon struct {
	apiVersion string
	answers    map[string]answer

	mu    sync.Mutex
	asked []string
}

type answer struct {
	status int
	body   string
}

func (f *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.asked = append(f.asked, r.URL.RequestURI())
	f.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/_ping") {
		if f.apiVersion != "" {
			w.Header().Set("API-Version", f.apiVersion)
		}
		_, _ = w.Write([]byte("OK"))
		return
	}
	// /prefix/v1.41/images/x/json → /images/x/json
	p := r.URL.Path
	if i := strings.Index(p, "/v1."); i >= 0 {
		if j := strings.Index(p[i+1:], "/"); j >= 0 {
			p = p[i+1+j:]
		}
	}
	a, ok := f.answers[p]
	if !ok {
		a = answer{http.StatusNotFound, `{"message":"no such thing: ` + p + `"}`}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

func (f *fakeDaemon) paths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

const labelledImage = `{"Id":"sha256:abc","RepoTags":["team/app:1"],"Config":{"Labels":{"git-url":"https://example.org/r"}}}`

func newFakeSource(t *testing.T, f *fakeDaemon, opts ...docker.Option) *docker.Source {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("DOCKER_API_VERSION", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	s, err := docker.New(append([]docker.Option{docker.WithHost("tcp://" + srv.Listener.Addr().String())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestNegotiatesAnOlderDaemonsVersion(t *testing.T) {
	f := &fakeDaemon{apiVersion: "1.41", answers: map[string]answer{"/images/team/app:1/json": {200, labelledImage}}}
	s := newFakeSource(t, f)
	img, err := s.Inspect(ctxFor(t), "team/app:1")
	if err != nil || img.ID != "sha256:abc" || img.Labels["git-url"] != "https://example.org/r" || img.Names[0] != "team/app:1" {
		t.Fatalf("Inspect = %+v, %v", img, err)
	}
	if got := f.paths(); len(got) != 2 || got[0] != "/_ping" || got[1] != "/v1.41/images/team/app:1/json" {
		t.Errorf("asked %q, want one ping, then the inspect at the daemon's version", got)
	}
	if s.APIVersion() != "1.41" {
		t.Errorf("APIVersion = %s", s.APIVersion())
	}
	// Negotiated once: the next inspect pings no more.
	if _, err := s.Inspect(ctxFor(t), "team/app:1"); err != nil || len(f.paths()) != 3 {
		t.Errorf("second inspect: %v, asked %q", err, f.paths())
	}
}

func TestNewerDaemonGetsOurVersion(t *testing.T) {
	f := &fakeDaemon{apiVersion: "1.99", answers: map[string]answer{"/images/a/json": {200, labelledImage}}}
	s := newFakeSource(t, f)
	if _, err := s.Inspect(ctxFor(t), "a"); err != nil {
		t.Fatal(err)
	}
	if got := f.paths(); got[len(got)-1] != "/v"+docker.MaxAPIVersion+"/images/a/json" {
		t.Errorf("asked %q, want the inspect at %s", got, docker.MaxAPIVersion)
	}
}

func TestPinnedVersionSkipsNegotiation(t *testing.T) {
	f := &fakeDaemon{apiVersion: "1.41", answers: map[string]answer{"/images/a/json": {200, labelledImage}}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("DOCKER_API_VERSION", "1.40")
	t.Setenv("DOCKER_HOST", "tcp://"+srv.Listener.Addr().String()+"/prefix/")
	t.Setenv("DOCKER_CERT_PATH", "")
	s, err := docker.New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Inspect(ctxFor(t), "a"); err != nil {
		t.Fatal(err)
	}
	if got := f.paths(); len(got) != 1 || got[0] != "/prefix/v1.40/images/a/json" {
		t.Errorf("asked %q, want only the inspect, under DOCKER_HOST's path at DOCKER_API_VERSION", got)
	}
}

func TestErrorStatuses(t *testing.T) {
	cases := []struct {
		name      string
		answers   map[string]answer
		notFound  bool
		transient bool
		message   string
	}{
		{"image missing, no container", nil, true, false, "no image or container"},
		{"invalid reference, no container", map[string]answer{"/images/Bad/json": {400, `{"message":"invalid reference format: repository name must be lowercase"}`}},
			true, false, "not a container and not a valid image reference"},
		{"daemon error", map[string]answer{"/images/Bad/json": {500, `{"message":"layer store broken"}`}}, false, true, "layer store broken"},
		{"daemon unavailable", map[string]answer{"/images/Bad/json": {503, `{"message":"starting"}`}}, false, true, "starting"},
		{"conflict", map[string]answer{"/images/Bad/json": {409, `{"message":"odd"}`}}, false, false, "odd"},
		{"container's image missing", map[string]answer{"/containers/Bad/json": {200, `{"Image":"sha256:gone"}`}}, true, false, "image sha256:gone of container"},
		{"container by name", map[string]answer{"/containers/Bad/json": {200, `{"Image":"sha256:abc"}`}, "/images/sha256:abc/json": {200, labelledImage}}, false, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeSource(t, &fakeDaemon{apiVersion: "1.41", answers: tc.answers})
			img, err := s.Inspect(ctxFor(t), "Bad")
			if tc.message == "" {
				if err != nil || img.ID != "sha256:abc" || img.Origin.Reference != "Bad" {
					t.Fatalf("Inspect = %+v, %v; want the container's image", img, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("Inspect error %v, want one saying %q", err, tc.message)
			}
			if errors.Is(err, scan.ErrImageNotFound) != tc.notFound {
				t.Errorf("ErrImageNotFound = %v, want %v: %v", !tc.notFound, tc.notFound, err)
			}
			if (errors.Is(err, scan.ErrDaemonUnavailable) && scan.IsTransient(err)) != tc.transient {
				t.Errorf("transient = %v, want %v: %v", !tc.transient, tc.transient, err)
			}
		})
	}
}

func TestLabelledTags(t *testing.T) {
	f := &fakeDaemon{apiVersion: "1.41", answers: map[string]answer{
		"/images/json": {200, `[{"RepoTags":["a:1","a:2"]},{"RepoTags":[]},{"RepoTags":["b:1"]}]`},
	}}
	s := newFakeSource(t, f)
	tags, err := s.LabelledTags(ctxFor(t), "git-url")
	if err != nil || strings.Join(tags, " ") != "a:1 a:2 b:1" {
		t.Fatalf("LabelledTags = %q, %v", tags, err)
	}
	got := f.paths()
	want := "/v1.41/images/json?filters=" + strings.NewReplacer(`{`, "%7B", `"`, "%22", `:`, "%3A", `[`, "%5B", `]`, "%5D", `}`, "%7D").Replace(`{"label":["git-url"]}`)
	if got[len(got)-1] != want {
		t.Errorf("asked %s, want %s", got[len(got)-1], want)
	}
}

// TLS as the CLI sets it up from DOCKER_CERT_PATH: with DOCKER_TLS_VERIFY
// the daemon's certificate must chain to ca.pem.
func TestTLSFromCertPath(t *testing.T) {
	f := &fakeDaemon{apiVersion: "1.41", answers: map[string]answer{"/images/a/json": {200, labelledImage}}}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_API_VERSION", "")
	t.Setenv("DOCKER_CERT_PATH", dir)
	t.Setenv("DOCKER_TLS_VERIFY", "1")
	s, err := docker.New(docker.WithHost("tcp://" + srv.Listener.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Inspect(ctxFor(t), "a"); err != nil {
		t.Fatalf("Inspect over TLS: %v", err)
	}

	// A CA that did not sign the daemon's certificate is refused.
	otherPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t)})
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), otherPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := docker.New(docker.WithHost("tcp://" + srv.Listener.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Inspect(ctxFor(t), "a"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Inspect with the wrong CA: %v, want a certificate error", err)
	}
}

func TestHTTPHostIsTCP(t *testing.T) {
	f := &fakeDaemon{apiVersion: "1.41", answers: map[string]answer{"/images/a/json": {200, labelledImage}}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("DOCKER_API_VERSION", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	s, err := docker.New(docker.WithHost(srv.URL)) // http://127.0.0.1:port
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if img, err := s.Inspect(ctxFor(t), "a"); err != nil || img.ID != "sha256:abc" {
		t.Errorf("Inspect via %s = %+v, %v", srv.URL, img, err)
	}
}

func TestUnusableHost(t *testing.T) {
	for _, host := range []string{"ssh://me@host", "no-scheme", "tcp://"} {
		if _, err := docker.New(docker.WithHost(host)); err == nil {
			t.Errorf("New(WithHost(%q)) = nil error", host)
		}
	}
}

// The answer decodes only the fields read; a daemon's extra fields and
// nulls are fine.
func TestInspectAnswerWithNulls(t *testing.T) {
	body, _ := json.Marshal(map[string]any{"Id": "sha256:n", "RepoTags": nil, "Config": nil, "Extra": 1})
	s := newFakeSource(t, &fakeDaemon{apiVersion: "1.41", answers: map[string]answer{"/images/n/json": {200, string(body)}}})
	img, err := s.Inspect(ctxFor(t), "n")
	if err != nil || img.ID != "sha256:n" || img.Labels != nil || img.Names != nil {
		t.Errorf("Inspect = %+v, %v", img, err)
	}
}

// selfSigned is a CA certificate of its own, unrelated to httptest's.
func selfSigned(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// The service's workers and accepts inspect at once: the connections they
// opened are kept for the next ones rather than dialled anew each time (Go
// keeps only 2 idle per host unless told otherwise).
func TestKeepsIdleConnections(t *testing.T) {
	const parallel = 8
	f := &fakeDaemon{apiVersion: "1.41", answers: map[string]answer{"/images/a/json": {200, labelledImage}}}
	arrived := make(chan struct{})
	var mu sync.Mutex
	var release chan struct{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/json") {
			mu.Lock()
			rel := release
			mu.Unlock()
			arrived <- struct{}{}
			<-rel // all parallel requests are in flight at once
		}
		f.ServeHTTP(w, r)
	}))
	var dials atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	t.Setenv("DOCKER_API_VERSION", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	s, err := docker.New(docker.WithHost("tcp://" + srv.Listener.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var afterFirst int32
	for round := range 3 {
		mu.Lock()
		release = make(chan struct{})
		mu.Unlock()
		errs := make(chan error, parallel)
		for range parallel {
			go func() {
				_, err := s.Inspect(ctxFor(t), "a")
				errs <- err
			}()
		}
		for range parallel {
			<-arrived
		}
		close(release)
		for range parallel {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if round == 0 {
			afterFirst = dials.Load()
		}
	}
	if got := dials.Load(); got != afterFirst || got < parallel {
		t.Errorf("%d connections dialled after the first round of %d parallel inspects, %d after three: want none new", afterFirst, parallel, got)
	}
}

// The image index follows the event stream for as long as the service runs:
// the request timeout bounds its headers, not the stream (the library's
// client cut it at its timeout, and the index went cold each time).
func TestEventStreamOutlivesTheRequestTimeout(t *testing.T) {
	f := &fakeDaemon{apiVersion: "1.41", answers: map[string]answer{
		"/images/json": {200, `[{"Id":"sha256:abc","RepoTags":["team/app:1"],"RepoDigests":null}]`},
	}}
	var streams atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/events") {
			f.ServeHTTP(w, r)
			return
		}
		streams.Add(1)
		if got := r.URL.Query().Get("filters"); got != `{"type":["image"]}` {
			t.Errorf("events filters = %s", got)
		}
		w.Header().Set("Content-Type", "application/json")
		w.(http.Flusher).Flush()
		for range 2 {
			select {
			case <-time.After(400 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
			_, _ = w.Write([]byte(`{"Type":"image","Action":"tag","Actor":{"ID":"sha256:abc"}}` + "\n"))
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	t.Setenv("DOCKER_API_VERSION", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	s, err := docker.New(docker.WithHost(srv.URL), docker.WithTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := docker.NewIndex(s, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); x.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, "the index is live", x.Live)
	// Two events, 0.4 s apart, each answered by a reload of the list: the
	// stream is still read at 0.8 s, four request timeouts in.
	eventually(t, "both events are read", func() bool {
		n := 0
		for _, p := range f.paths() {
			if strings.HasSuffix(strings.SplitN(p, "?", 2)[0], "/images/json") {
				n++
			}
		}
		return n >= 3
	})
	if n := streams.Load(); n != 1 || !x.Live() {
		t.Errorf("the event stream was opened %d times (live: %v); want once, read past the request timeout", n, x.Live())
	}
	if id, err := x.Resolve(ctxFor(t), "team/app:1"); err != nil || id != "sha256:abc" {
		t.Errorf("Resolve = %q, %v", id, err)
	}
}
