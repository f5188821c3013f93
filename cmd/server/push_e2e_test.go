package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/registrytest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/server"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// deliveries is a real HTTP hop between the registry and the service that
// keeps every notification it passes on, for the test to show.
type deliveries struct {
	mu     sync.Mutex
	bodies []string
	url    string
}

func newDeliveries(t *testing.T, service string) *deliveries {
	t.Helper()
	target, err := url.Parse(service)
	if err != nil {
		t.Fatal(err)
	}
	d := &deliveries{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.bodies = append(d.bodies, string(body))
		d.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	d.url = srv.URL
	return d
}

func (d *deliveries) all() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.bodies...)
}

// pushService is a service with the registry source and the hooks on, and
// a real docker-registry notifying it of every push.
type pushService struct {
	srv       *inProcess
	c         *client
	peer      *analyticsPeer
	reg       *registrytest.Registry
	delivered *deliveries
	hookToken string
}

func startPushService(t *testing.T, mods ...func(*server.Config)) *pushService {
	return startPushServiceNotifying(t, true, mods...)
}

// startPushServiceNotifying is startPushService with the registry's
// notifications on or off.
func startPushServiceNotifying(t *testing.T, notify bool, mods ...func(*server.Config)) *pushService {
	t.Helper()
	s := newSecrets()
	p := &pushService{peer: newAnalyticsPeer(t, s, 0), hookToken: "hook-tok-" + testenv.RandomHex(12)}
	cfg := serverConfig(t, s, p.peer, "")
	cfg.Sources = []string{scan.SourceDaemon, scan.SourceRegistry}
	cfg.HookToken = p.hookToken
	for _, mod := range mods {
		mod(&cfg)
	}
	p.srv = startServer(t, cfg)
	p.c = newClient(t, p.srv.url, s.apiToken)
	p.delivered = newDeliveries(t, p.srv.url)
	opts := registrytest.Options{NotifyURL: p.delivered.url + "/hooks/distribution", Token: p.hookToken}
	if !notify {
		opts = registrytest.Options{}
	}
	p.reg = registrytest.Start(t, opts)
	t.Cleanup(func() {
		logs := p.srv.stderr.String()
		s.assertAbsent(t, "the server's log", logs)
		if strings.Contains(logs, p.hookToken) {
			t.Error("the server's log holds the hook token")
		}
	})
	return p
}

// waitRegistered polls the analytics peer until a registration of each
// git-url arrived, then waits for the scans' records to be final and
// returns the registry scans by image.
func (p *pushService) waitRegistered(t *testing.T, gitURLs ...string) map[string]scan.Record {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := map[string]bool{}
		for _, r := range p.peer.emu.Registrations() {
			got[r.GitURL] = true
		}
		missing := 0
		for _, u := range gitURLs {
			if !got[u] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d images not registered after 90 s; scans %+v; deliveries %q", missing, len(gitURLs), p.c.listAll(), p.delivered.all())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ids []string
	for _, rec := range p.c.listAll() {
		ids = append(ids, rec.ID)
	}
	byImage := map[string]scan.Record{}
	for _, rec := range waitFinal(t, p.c, ids, 30*time.Second) {
		byImage[rec.Image] = rec
	}
	return byImage
}

// The "done when": a docker push to the registry ends, with nothing
// else done, in a registered scan with the right labels and the manifest
// digest in the record.
func TestScanOnDockerPush(t *testing.T) {
	d := dockertest.New(t)
	p := startPushService(t)

	// One image with the pipeline's labels, one with only the OCI keys.
	repoA, repoB := dockertest.UniqueName("push-a"), dockertest.UniqueName("push-b")
	labelsA := map[string]string{scan.LabelGitURL: "https://github.com/example/" + repoA, scan.LabelGitSHA: "aaaa111", scan.LabelEmailIDs: "dev@example.org"}
	labelsB := map[string]string{scan.KeyOCISource: "https://github.com/example/" + repoB, scan.KeyOCIRevision: "bbbb222",
		scan.KeyOCIAuthors: "Dev <dev@example.org>, ops@example.org"}
	refA, refB := p.reg.Host+"/"+repoA+":1", p.reg.Host+"/"+repoB+":1"
	var wg sync.WaitGroup
	wg.Go(func() { d.BuildLabelled(goroutineTB{t}, refA, labelsA) })
	wg.Go(func() { d.BuildLabelled(goroutineTB{t}, refB, labelsB) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	digestA, digestB := registrytest.Push(t, d, refA), registrytest.Push(t, d, refB)
	// Gone from the daemon: the scans can only read the registry.
	for _, ref := range []string{refA, refB} {
		if _, err := d.Client.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Fatalf("remove %s: %v", ref, err)
		}
	}

	byImage := p.waitRegistered(t, labelsA[scan.LabelGitURL], labelsB[scan.KeyOCISource])
	for _, tc := range []struct {
		repo, digest, sha string
		gitURLFrom        string
	}{
		{repoA, digestA, "aaaa111", scan.LabelGitURL},
		{repoB, digestB, "bbbb222", scan.KeyOCISource},
	} {
		ref := p.reg.Host + "/" + tc.repo + "@" + tc.digest
		rec, ok := byImage[ref]
		if !ok {
			t.Errorf("no scan of %s; scans %+v", ref, byImage)
			continue
		}
		if rec.Status != scan.StatusSucceeded || rec.Source != scan.SourceRegistry || rec.ManifestDigest != tc.digest || rec.Digest != tc.digest ||
			!strings.HasPrefix(rec.ImageID, "sha256:") {
			t.Errorf("record %+v; want a succeeded registry scan with manifest digest %s", rec, tc.digest)
		}
		res := rec.Result
		if res == nil || res.ScanResults.GitSHA != tc.sha || res.ScanResults.ImageName != p.reg.Host+"/"+tc.repo+":1" ||
			res.LabelSources[scan.LabelGitURL] != tc.gitURLFrom {
			t.Errorf("result %+v; want git-sha %s, the tag as the name, git-url from %s", res, tc.sha, tc.gitURLFrom)
		}
		if tc.repo == repoB && res != nil && res.ScanResults.EmailIDs != "dev@example.org,ops@example.org" {
			t.Errorf("email-ids %q, want the addresses of %s", res.ScanResults.EmailIDs, scan.KeyOCIAuthors)
		}
		if tc.repo == repoA {
			doc, _ := json.MarshalIndent(rec, "", "  ")
			t.Logf("the record of %s:\n%s", refA, doc)
		}
	}
	if regs := p.peer.emu.Registrations(); len(regs) != 2 {
		t.Errorf("%d registrations, want 2 (each push once): %+v", len(regs), regs)
	}
	for _, body := range p.delivered.all() {
		if strings.Contains(body, `"mediaType": "application/vnd.docker.distribution.manifest.v2+json"`) && strings.Contains(body, repoA) {
			t.Logf("a delivery of the registry:\n%s", body)
			break
		}
	}
	// Each delivery is answered well within Harbor's 3 s and distribution's
	// endpoint timeout; the access log says how long each took.
	var took []string
	for _, line := range p.srv.stderr.Lines(t) {
		if line["message"] == "request" && line["route"] == "/hooks/distribution" {
			ms, ok := line["duration_ms"].(float64)
			if !ok {
				t.Errorf("an access-log line without duration_ms: %v", line)
			}
			took = append(took, fmt.Sprintf("%.1fms", ms))
			if line["status"] != float64(http.StatusAccepted) || ms > 3000 {
				t.Errorf("a delivery answered %v in %.0f ms; want 202 within 3 s", line["status"], ms)
			}
		}
	}
	t.Logf("%d deliveries answered in %v", len(took), took)
	if len(took) == 0 {
		t.Error("no delivery reached the hook")
	}

	metrics := string(p.c.get("/metrics").body)
	if !strings.Contains(metrics, `scanner_hook_events_total{hook="distribution",outcome="enqueued"} 2`) {
		t.Errorf("metrics do not count 2 enqueued hook events:\n%s", grepLines(metrics, "scanner_hook_events_total"))
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// ociImage is an image for platform whose provenance is only in its
// manifest's OCI annotations, or in its config labels when labels is set.
func ociImage(t *testing.T, platform v1.Platform, labels, annotations map[string]string) v1.Image {
	t.Helper()
	layer, err := random.Layer(256, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = platform.OS, platform.Architecture, platform.Variant
	cfg.Config.Labels = labels
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	if annotations != nil {
		img = mutate.Annotations(img, annotations).(v1.Image)
	}
	return img
}

// A multi-platform index is scanned once, as linux/amd64 (its platform
// entries, pushed by digest before it, are not scanned on their own); an
// image whose provenance is only in OCI annotations registers from them.
func TestScanOnPushOfIndexAndOCIAnnotations(t *testing.T) {
	p := startPushService(t)
	repoIdx, repoOCI := dockertest.UniqueName("push-index"), dockertest.UniqueName("push-oci")
	amd64 := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, map[string]string{
		scan.LabelGitURL: "https://github.com/example/" + repoIdx, scan.LabelGitSHA: "amd64sha", scan.LabelEmailIDs: "dev@example.org"}, nil)
	arm64 := ociImage(t, v1.Platform{OS: "linux", Architecture: "arm64"}, map[string]string{
		scan.LabelGitURL: "https://github.com/example/" + repoIdx, scan.LabelGitSHA: "arm64sha", scan.LabelEmailIDs: "dev@example.org"}, nil)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	annotated := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, nil, map[string]string{
		scan.KeyOCISource: "https://github.com/example/" + repoOCI, scan.KeyOCIRevision: "0c1sha", scan.KeyOCIAuthors: "oci@example.org"})

	idxRef, err := name.ParseReference(p.reg.Host + "/" + repoIdx + ":multi")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(idxRef, idx); err != nil {
		t.Fatalf("push the index: %v", err)
	}
	ociRef, err := name.ParseReference(p.reg.Host + "/" + repoOCI + ":1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ociRef, annotated); err != nil {
		t.Fatalf("push the annotated image: %v", err)
	}

	byImage := p.waitRegistered(t, "https://github.com/example/"+repoIdx, "https://github.com/example/"+repoOCI)
	digestOf := func(d interface{ Digest() (v1.Hash, error) }) string {
		h, err := d.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return h.String()
	}
	rec := byImage[p.reg.Host+"/"+repoIdx+"@"+digestOf(idx)]
	if rec.Status != scan.StatusSucceeded || rec.Platform != "linux/amd64" || rec.Digest != digestOf(idx) ||
		rec.ManifestDigest != digestOf(amd64) || rec.Result == nil || rec.Result.ScanResults.GitSHA != "amd64sha" {
		t.Errorf("index scan %+v; want linux/amd64 read, index digest %s, manifest digest %s", rec, digestOf(idx), digestOf(amd64))
	}
	rec = byImage[p.reg.Host+"/"+repoOCI+"@"+digestOf(annotated)]
	if rec.Status != scan.StatusSucceeded || rec.Result == nil || rec.Result.ScanResults.GitSHA != "0c1sha" ||
		rec.Result.LabelSources[scan.LabelGitSHA] != scan.KeyOCIRevision || rec.Result.ScanResults.EmailIDs != "oci@example.org" {
		t.Errorf("annotated scan %+v; want its values from the OCI annotations", rec)
	}
	if n := len(byImage); n != 2 {
		t.Errorf("%d scans, want 2 (the index's entries are not scanned on their own): %v", n, keys(byImage))
	}
	for _, r := range p.peer.emu.Registrations() {
		if r.GitSHA == "arm64sha" {
			t.Error("the arm64 entry was registered; only linux/amd64 should be")
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// With only the registry source, the service opens no Docker client: it is
// ready and scans with DOCKER_HOST pointing nowhere, and /readyz checks the
// registry instead of a daemon.
func TestRegistryOnlyServiceNeedsNoDaemon(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	p := startPushService(t, func(c *server.Config) {
		c.Source = scan.SourceRegistry
		c.Sources = nil
	})
	r := p.c.get("/readyz")
	var ready struct {
		Status string
		Checks map[string]string
	}
	if err := json.Unmarshal(r.body, &ready); err != nil || r.status != http.StatusOK || ready.Checks["registry"] != "ok" {
		t.Fatalf("/readyz %d %s; want ready with a registry check", r.status, r.body)
	}
	if _, ok := ready.Checks["docker"]; ok {
		t.Errorf("/readyz checks a Docker daemon: %s", r.body)
	}

	repo := dockertest.UniqueName("registry-only")
	img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, map[string]string{
		scan.LabelGitURL: "https://github.com/example/" + repo, scan.LabelGitSHA: "f00d", scan.LabelEmailIDs: "dev@example.org"}, nil)
	ref, err := name.ParseReference(p.reg.Host + "/" + repo + ":1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	// Asked for by POST /scan this time, by tag, with the default source.
	rec := p.c.submit(ref.String(), "?wait=60s").record(t)
	if rec.Status != scan.StatusSucceeded || rec.Source != scan.SourceRegistry || rec.ManifestDigest == "" {
		t.Errorf("record %+v; want a succeeded registry scan", rec)
	}
	// A daemon scan is refused up front.
	body, _ := json.Marshal(map[string]string{"image": "nginx", "source": scan.SourceDaemon})
	r = p.c.do(http.MethodPost, "/scan", "application/json", string(body))
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "source_not_enabled") {
		t.Errorf("POST /scan source daemon: %d %s; want 400 source_not_enabled", r.status, r.body)
	}
}
