package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/centos-pipeline/analytics-scanner/internal/registrytest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// testRegistry is go-containerregistry's in-memory registry behind an
// httptest server, with a log of the requests it served and an optional
// middleware in front.
type testRegistry struct {
	srv  *httptest.Server
	host string

	mu       sync.Mutex
	requests []string // "METHOD PATH"
	front    func(w http.ResponseWriter, r *http.Request) bool
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	inner := ggcrregistry.New(ggcrregistry.Logger(discardLogger()))
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.requests = append(tr.requests, r.Method+" "+r.URL.Path)
		front := tr.front
		tr.mu.Unlock()
		if front != nil && front(w, r) {
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "http://")
	return tr
}

// setFront puts f in front of the registry; f returns true when it answered.
func (tr *testRegistry) setFront(f func(w http.ResponseWriter, r *http.Request) bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.front = f
}

func (tr *testRegistry) log() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.requests...)
}

func (tr *testRegistry) resetLog() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.requests = nil
}

func (tr *testRegistry) push(t testing.TB, ref string, img v1.Image) name.Reference {
	t.Helper()
	r, err := name.ParseReference(tr.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", r, err)
	}
	return r
}

func (tr *testRegistry) pushIndex(t testing.TB, ref string, idx v1.ImageIndex) name.Reference {
	t.Helper()
	r, err := name.ParseReference(tr.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("push index %s: %v", r, err)
	}
	return r
}

func newSource(t *testing.T, opts Options) *Source {
	t.Helper()
	if opts.Keychain == nil {
		// The machine's own docker config must not leak into the tests.
		opts.Keychain = authn.NewMultiKeychain()
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func digestOf(t testing.TB, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func configDigest(t testing.TB, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

var provLabels = map[string]string{
	scan.LabelGitURL:   "https://github.com/acme/app",
	scan.LabelGitSHA:   "46e443d",
	scan.LabelEmailIDs: "dev@acme.org",
}

func TestInspectTagAndDigest(t *testing.T) {
	reg := newTestRegistry(t)
	img := registrytest.Image(t, provLabels, nil)
	tagRef := reg.push(t, "team/app:1", img)
	s := newSource(t, Options{})

	want := scan.Origin{Source: scan.SourceRegistry, Digest: digestOf(t, img), ManifestDigest: digestOf(t, img),
		MediaType: string(types.DockerManifestSchema2)}

	for _, ref := range []string{tagRef.String(), tagRef.Context().Digest(digestOf(t, img)).String()} {
		t.Run(ref, func(t *testing.T) {
			got, err := s.Inspect(context.Background(), ref)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != configDigest(t, img) {
				t.Errorf("ID = %s, want the config digest %s", got.ID, configDigest(t, img))
			}
			if !maps.Equal(got.Labels, provLabels) {
				t.Errorf("labels = %v, want %v", got.Labels, provLabels)
			}
			if len(got.Names) != 1 || got.Names[0] != ref {
				t.Errorf("names = %v, want [%s]", got.Names, ref)
			}
			w := want
			w.Reference = ref
			if got.Origin != w {
				t.Errorf("origin = %+v, want %+v", got.Origin, w)
			}
		})
	}
}

func TestInspectIndexPicksPlatform(t *testing.T) {
	reg := newTestRegistry(t)
	amd := registrytest.Image(t, map[string]string{"arch": "amd64", scan.LabelGitSHA: "a"}, map[string]string{"org.opencontainers.image.revision": "from-amd-manifest"})
	arm := registrytest.Image(t, map[string]string{"arch": "arm64"}, nil)
	armV7 := registrytest.Image(t, map[string]string{"arch": "arm/v7"}, nil)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: armV7, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	idx = mutate.Annotations(idx, map[string]string{
		"org.opencontainers.image.source":   "https://github.com/acme/multi",
		"org.opencontainers.image.revision": "from-index",
	}).(v1.ImageIndex)
	ref := reg.pushIndex(t, "team/multi:2", idx)

	cases := []struct {
		platform     v1.Platform
		img          v1.Image
		arch, pfText string
	}{
		{v1.Platform{}, amd, "amd64", "linux/amd64"},
		{v1.Platform{OS: "linux", Architecture: "arm64"}, arm, "arm64", "linux/arm64"},
		{v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, armV7, "arm/v7", "linux/arm/v7"},
	}
	for _, tc := range cases {
		t.Run(tc.pfText, func(t *testing.T) {
			s := newSource(t, Options{Platform: tc.platform})
			got, err := s.Inspect(context.Background(), ref.String())
			if err != nil {
				t.Fatal(err)
			}
			if got.Labels["arch"] != tc.arch || got.ID != configDigest(t, tc.img) {
				t.Errorf("got arch %q id %s, want %q %s", got.Labels["arch"], got.ID, tc.arch, configDigest(t, tc.img))
			}
			if got.Origin.Platform != tc.pfText || got.Origin.Digest != digestOf(t, idx) ||
				got.Origin.ManifestDigest != digestOf(t, tc.img) || got.Origin.MediaType != string(types.OCIImageIndex) {
				t.Errorf("origin = %+v; want platform %s, digest %s (index), manifest %s",
					got.Origin, tc.pfText, digestOf(t, idx), digestOf(t, tc.img))
			}
			// Index annotations count as labels, under the image's own.
			if got.Labels["org.opencontainers.image.source"] != "https://github.com/acme/multi" {
				t.Errorf("index annotation missing: %v", got.Labels)
			}
		})
	}
	t.Run("manifest annotation beats the index's", func(t *testing.T) {
		got, err := newSource(t, Options{}).Inspect(context.Background(), ref.String())
		if err != nil {
			t.Fatal(err)
		}
		if v := got.Labels["org.opencontainers.image.revision"]; v != "from-amd-manifest" {
			t.Errorf("revision = %q, want the image manifest's", v)
		}
	})
	t.Run("platform not in the index", func(t *testing.T) {
		s := newSource(t, Options{Platform: v1.Platform{OS: "windows", Architecture: "amd64"}})
		_, err := s.Inspect(context.Background(), ref.String())
		if !errors.Is(err, scan.ErrImageNotFound) || !strings.Contains(err.Error(), "linux/arm64") {
			t.Errorf("err = %v, want not found listing the platforms there are", err)
		}
	})
}

func TestInspectAnnotationsAsLabels(t *testing.T) {
	reg := newTestRegistry(t)
	img := registrytest.Image(t,
		map[string]string{scan.LabelGitURL: "from-config", "org.opencontainers.image.source": "config-source"},
		map[string]string{
			scan.LabelGitURL:                    "from-annotation",
			"org.opencontainers.image.source":   "annotation-source",
			"org.opencontainers.image.revision": "abc123",
			"org.opencontainers.image.authors":  "Jane <jane@acme.org>",
		})
	ref := reg.push(t, "team/annotated:1", img)
	got, err := newSource(t, Options{}).Inspect(context.Background(), ref.String())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		scan.LabelGitURL:                    "from-config", // config labels win
		"org.opencontainers.image.source":   "config-source",
		"org.opencontainers.image.revision": "abc123",
		"org.opencontainers.image.authors":  "Jane <jane@acme.org>",
	}
	if !maps.Equal(got.Labels, want) {
		t.Errorf("labels = %v, want %v", got.Labels, want)
	}
}

func TestInspectFetchesNoLayer(t *testing.T) {
	reg := newTestRegistry(t)
	img := registrytest.Image(t, provLabels, nil)
	ref := reg.push(t, "team/app:layers", img)
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("layers: %v, %v", layers, err)
	}
	layerDigest := digestOf(t, layers[0])
	reg.resetLog()

	s := newSource(t, Options{})
	for range 3 {
		if _, err := s.Inspect(context.Background(), ref.String()); err != nil {
			t.Fatal(err)
		}
	}
	var blobs, manifests int
	for _, req := range reg.log() {
		if strings.Contains(req, layerDigest) {
			t.Errorf("a layer was fetched: %s", req)
		}
		switch {
		case strings.Contains(req, "/blobs/"):
			blobs++
			if !strings.HasSuffix(req, configDigest(t, img)) {
				t.Errorf("unexpected blob request %s", req)
			}
		case strings.Contains(req, "/manifests/"):
			manifests++
		}
	}
	if blobs != 3 || manifests != 3 {
		t.Errorf("%d blob and %d manifest requests for 3 inspections, want 3 and 3: %v", blobs, manifests, reg.log())
	}
	// The ping (GET /v2/) happens once: the repository's transport is kept.
	if n := count(reg.log(), "GET /v2/"); n != 1 {
		t.Errorf("%d pings for 3 inspections of one repository, want 1: %v", n, reg.log())
	}
}

func count(log []string, exact string) int {
	n := 0
	for _, l := range log {
		if l == exact {
			n++
		}
	}
	return n
}

func TestInspectNotFound(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "team/app:1", registrytest.Image(t, provLabels, nil))
	s := newSource(t, Options{})
	for _, ref := range []string{
		reg.host + "/team/app:nope",
		reg.host + "/team/other:1",
		reg.host + "/team/app@sha256:" + strings.Repeat("0", 64),
		"",
		"UPPER/case:tag",
	} {
		_, err := s.Inspect(context.Background(), ref)
		if !errors.Is(err, scan.ErrImageNotFound) {
			t.Errorf("%q: err = %v, want ErrImageNotFound", ref, err)
		}
		if errors.Is(err, scan.ErrRegistryUnavailable) {
			t.Errorf("%q: not found is also transient: %v", ref, err)
		}
	}
}

func TestInspectRefusedCredentials(t *testing.T) {
	reg := newTestRegistry(t)
	ref := reg.push(t, "team/private:1", registrytest.Image(t, provLabels, nil))
	const user, password = "scanner", "s3cret-Pa55word"
	reg.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); ok && u == user && p == password {
			return false
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
		return true
	})

	t.Run("wrong password: final, names the registry, not the secret", func(t *testing.T) {
		s := newSource(t, Options{Keychain: staticKeychain{authn.FromConfig(authn.AuthConfig{Username: user, Password: "wrong-" + password})}})
		_, err := s.Inspect(context.Background(), ref.String())
		var ae *AccessError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
			t.Fatalf("err = %v, want an *AccessError with 401", err)
		}
		if errors.Is(err, scan.ErrRegistryUnavailable) || errors.Is(err, scan.ErrImageNotFound) {
			t.Errorf("a refusal is classified as transient or not found: %v", err)
		}
		if !strings.Contains(err.Error(), reg.host) {
			t.Errorf("error %q does not name the registry %s", err, reg.host)
		}
		if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString([]byte(user+":wrong-"+password))) {
			t.Errorf("error %q shows the credentials", err)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		_, err := newSource(t, Options{}).Inspect(context.Background(), ref.String())
		var ae *AccessError
		if !errors.As(err, &ae) {
			t.Fatalf("err = %v, want an *AccessError", err)
		}
	})
	t.Run("right password from DOCKER_CONFIG through the default keychain", func(t *testing.T) {
		dir := t.TempDir()
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
		cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.host, auth)
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("DOCKER_CONFIG", dir)
		t.Setenv("REGISTRY_AUTH_FILE", "")
		s, err := New(Options{}) // authn.DefaultKeychain
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Inspect(context.Background(), ref.String())
		if err != nil || !maps.Equal(got.Labels, provLabels) {
			t.Fatalf("Inspect = %+v, %v", got, err)
		}
	})
	t.Run("right password from REGISTRY_AUTH_FILE through the default keychain", func(t *testing.T) {
		// ggcr reads REGISTRY_AUTH_FILE (podman's) only when there is no
		// docker config at all: HOME and DOCKER_CONFIG point nowhere.
		home := t.TempDir()
		t.Setenv("HOME", home)
		t.Setenv("DOCKER_CONFIG", "")
		t.Setenv("XDG_RUNTIME_DIR", "")
		t.Setenv("XDG_CONFIG_HOME", "")
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
		file := filepath.Join(t.TempDir(), "auth.json")
		if err := os.WriteFile(file, []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.host, auth)), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("REGISTRY_AUTH_FILE", file)
		s, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Inspect(context.Background(), ref.String()); err != nil {
			t.Fatalf("Inspect: %v", err)
		}
	})
	t.Run("403", func(t *testing.T) {
		reg.setFront(func(w http.ResponseWriter, r *http.Request) bool {
			if strings.Contains(r.URL.Path, "/manifests/") {
				http.Error(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`, http.StatusForbidden)
				return true
			}
			return false
		})
		_, err := newSource(t, Options{}).Inspect(context.Background(), ref.String())
		var ae *AccessError
		if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || !strings.Contains(err.Error(), reg.host) {
			t.Fatalf("err = %v, want an *AccessError with 403 naming %s", err, reg.host)
		}
	})
}

type staticKeychain struct{ auth authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

// A bearer-token registry: the token exchange happens once per repository,
// not once per scan.
func TestInspectReusesTokenExchange(t *testing.T) {
	reg := newTestRegistry(t)
	ref := reg.push(t, "team/tokened:1", registrytest.Image(t, provLabels, nil))
	ref2 := reg.push(t, "team/tokened:2", registrytest.Image(t, map[string]string{"n": "2"}, nil))
	const token = "tok-123"
	var tokens int
	var mu sync.Mutex
	reg.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			mu.Lock()
			tokens++
			mu.Unlock()
			fmt.Fprintf(w, `{"token":%q,"expires_in":300}`, token)
			return true
		}
		if r.Header.Get("Authorization") == "Bearer "+token {
			return false
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, reg.host))
		w.WriteHeader(http.StatusUnauthorized)
		return true
	})
	s := newSource(t, Options{})
	for _, r := range []name.Reference{ref, ref2, ref, ref2} {
		if _, err := s.Inspect(context.Background(), r.String()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if tokens != 1 {
		t.Errorf("%d token exchanges for 4 scans of one repository, want 1", tokens)
	}
}

func TestInspectUnavailable(t *testing.T) {
	reg := newTestRegistry(t)
	ref := reg.push(t, "team/app:1", registrytest.Image(t, provLabels, nil))
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			reg.setFront(func(w http.ResponseWriter, r *http.Request) bool {
				if strings.Contains(r.URL.Path, "/manifests/") {
					http.Error(w, "no", status)
					return true
				}
				return false
			})
			_, err := newSource(t, Options{}).Inspect(context.Background(), ref.String())
			if !errors.Is(err, scan.ErrRegistryUnavailable) || !strings.Contains(err.Error(), fmt.Sprint(status)) {
				t.Errorf("err = %v, want ErrRegistryUnavailable naming %d", err, status)
			}
		})
	}
	t.Run("500 on the config blob", func(t *testing.T) {
		reg.setFront(func(w http.ResponseWriter, r *http.Request) bool {
			if strings.Contains(r.URL.Path, "/blobs/") {
				http.Error(w, "no", http.StatusInternalServerError)
				return true
			}
			return false
		})
		_, err := newSource(t, Options{}).Inspect(context.Background(), ref.String())
		if !errors.Is(err, scan.ErrRegistryUnavailable) {
			t.Errorf("err = %v, want ErrRegistryUnavailable", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = newSource(t, Options{}).Inspect(context.Background(), addr+"/team/app:1")
		if !errors.Is(err, scan.ErrRegistryUnavailable) {
			t.Errorf("err = %v, want ErrRegistryUnavailable", err)
		}
	})
}

func TestInspectHangingRegistryIsCut(t *testing.T) {
	reg := newTestRegistry(t)
	ref := reg.push(t, "team/app:1", registrytest.Image(t, provLabels, nil))
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	reg.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/") {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return true
		}
		return false
	})
	s := newSource(t, Options{Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := s.Inspect(context.Background(), ref.String())
	elapsed := time.Since(start)
	if !errors.Is(err, scan.ErrRegistryUnavailable) {
		t.Errorf("err = %v, want ErrRegistryUnavailable", err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("Inspect took %v with a 300ms bound", elapsed)
	}
}

func TestPlainHTTPGuard(t *testing.T) {
	s := newSource(t, Options{Insecure: []string{"registry.internal:5000", " Mirror.Local "}})
	for host, want := range map[string]bool{
		"127.0.0.1:5000":         true,
		"127.3.4.5":              true,
		"[::1]:5000":             true,
		"localhost:5000":         true,
		"registry.internal:5000": true,
		"mirror.local":           true,
		"registry.internal":      false, // the port is part of the entry
		"10.0.0.5:5000":          false, // ggcr would allow RFC 1918; we do not
		"example.org":            false,
	} {
		if got := s.plainHTTPAllowed(host); got != want {
			t.Errorf("plainHTTPAllowed(%q) = %v, want %v", host, got, want)
		}
	}
	// The guard refuses before any connection is made.
	g := &plainHTTPGuard{inner: http.DefaultTransport, allowed: s.plainHTTPAllowed}
	req, _ := http.NewRequest(http.MethodGet, "http://10.0.0.5:5000/v2/", nil)
	if _, err := g.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "plain HTTP to 10.0.0.5:5000 refused") {
		t.Errorf("RoundTrip = %v, want a refusal", err)
	}
	if _, err := New(Options{Insecure: []string{"host/path"}}); err == nil {
		t.Error("an insecure entry with a path was accepted")
	}
}

// An insecure entry makes a reference use plain HTTP (the test registry is
// loopback, so what is checked here is that the reference is parsed
// insecure and still works).
func TestInsecureListParsesReference(t *testing.T) {
	reg := newTestRegistry(t)
	ref := reg.push(t, "team/app:1", registrytest.Image(t, provLabels, nil))
	s := newSource(t, Options{Insecure: []string{reg.host}})
	r, err := s.parse(ref.String())
	if err != nil || r.Context().Scheme() != "http" {
		t.Fatalf("parse = %v (%v), want plain HTTP", r, err)
	}
	if _, err := s.Inspect(context.Background(), ref.String()); err != nil {
		t.Fatal(err)
	}
}

func TestParsePlatform(t *testing.T) {
	for in, want := range map[string]v1.Platform{
		"linux/amd64":   {OS: "linux", Architecture: "amd64"},
		" linux/arm/v7": {OS: "linux", Architecture: "arm", Variant: "v7"},
	} {
		got, err := ParsePlatform(in)
		if err != nil || got.String() != want.String() {
			t.Errorf("ParsePlatform(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "linux", "linux/", "/amd64", "a/b/c/d"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Errorf("ParsePlatform(%q) accepted", bad)
		}
	}
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// Eight scans at once all reach the registry's blob endpoint together:
// nothing in the source (ggcr's pull limiter defaults to 4) queues them.
func TestInspectConcurrentConfigFetches(t *testing.T) {
	reg := newTestRegistry(t)
	ref := reg.push(t, "team/app:1", registrytest.Image(t, provLabels, nil))
	const n = 8
	var mu sync.Mutex
	inFlight, peak := 0, 0
	allIn := make(chan struct{})
	reg.setFront(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.Contains(r.URL.Path, "/blobs/") {
			return false
		}
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		if inFlight == n {
			close(allIn)
		}
		mu.Unlock()
		select {
		case <-allIn:
		case <-time.After(2 * time.Second):
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return false
	})
	s := newSource(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Inspect(context.Background(), ref.String())
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if peak != n {
		t.Errorf("at most %d config fetches ran at once, want %d", peak, n)
	}
}
