package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/registrytest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// startRealRegistry runs Debian's docker-registry for the test and returns
// its host:port.
func startRealRegistry(tb testing.TB) string {
	tb.Helper()
	return registrytest.Start(tb, registrytest.Options{}).Host
}

// pushFromDaemon builds a labelled image on the real daemon, pushes it to
// the registry at host and returns its name, its id and the manifest digest
// the daemon reports.
func pushFromDaemon(t *testing.T, host string, labels map[string]string) (ref, id, digest string) {
	t.Helper()
	d := dockertest.New(t)
	ref = host + "/" + dockertest.UniqueName("scanner-registry-test") + ":1"
	id = d.BuildLabelled(t, ref, labels)
	digest = registrytest.Push(t, d, ref)
	return ref, id, digest
}

func TestRealRegistryDaemonPush(t *testing.T) {
	host := startRealRegistry(t)
	labels := map[string]string{
		scan.LabelGitURL: "https://github.com/acme/app", scan.LabelGitSHA: "46e443d", scan.LabelEmailIDs: "dev@acme.org",
		scan.KeyOCISource: "https://github.com/acme/app",
	}
	ref, id, digest := pushFromDaemon(t, host, labels)
	s := newSource(t, Options{})
	for _, r := range []string{ref, strings.TrimSuffix(ref, ":1") + "@" + digest} {
		got, err := s.Inspect(context.Background(), r)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		// The registry's config digest is the daemon's image id: the same
		// image, whichever source reads it.
		if got.ID != id || !maps.Equal(got.Labels, labels) || got.Origin.Digest != digest ||
			got.Origin.MediaType != string(types.DockerManifestSchema2) {
			t.Errorf("%s: got id %s labels %v origin %+v; want id %s labels %v digest %s", r, got.ID, got.Labels, got.Origin, id, labels, digest)
		}
	}
	_, err := s.Inspect(context.Background(), host+"/no/such:1")
	if !errors.Is(err, scan.ErrImageNotFound) {
		t.Errorf("missing repository: %v, want ErrImageNotFound", err)
	}
}

func TestRealRegistryIndex(t *testing.T) {
	host := startRealRegistry(t)
	reg := &testRegistry{host: host}
	amd := registrytest.Image(t, map[string]string{"arch": "amd64"}, map[string]string{scan.KeyOCIRevision: "abc"})
	arm := registrytest.Image(t, map[string]string{"arch": "arm64"}, nil)
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	), types.OCIImageIndex)
	ref := reg.pushIndex(t, "team/multi:1", idx)
	got, err := newSource(t, Options{}).Inspect(context.Background(), ref.String())
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != configDigest(t, amd) || got.Labels["arch"] != "amd64" || got.Labels[scan.KeyOCIRevision] != "abc" ||
		got.Origin.Platform != "linux/amd64" || got.Origin.Digest != digestOf(t, idx) || got.Origin.ManifestDigest != digestOf(t, amd) {
		t.Errorf("got %+v", got)
	}
}

// The raw manifest+config fetch rate and the LabelSource's rate on the
// same registry, 8 at a time. By hand:
//
//	go test -run XXX -bench RealRegistry -benchtime 5s ./internal/registry/
func BenchmarkRealRegistryRawFetch(b *testing.B) {
	host := startRealRegistry(b)
	runParallel8(b, rawFetchOp(b, host))
}

func BenchmarkRealRegistryInspect(b *testing.B) {
	host := startRealRegistry(b)
	runParallel8(b, inspectOp(b, host))
}

// TestMeasureRealRegistryRates alternates one-second windows of the raw
// fetch and of Inspect, 8 at a time, and logs the median rate of each: on
// a shared machine whose load moves, alternating keeps the two comparable.
// By hand only: SCANNER_MEASURE=1 go test -run MeasureRealRegistry -v ./internal/registry/
func TestMeasureRealRegistryRates(t *testing.T) {
	if os.Getenv("SCANNER_MEASURE") != "1" {
		t.Skip("a measurement, not a test: set SCANNER_MEASURE=1")
	}
	host := startRealRegistry(t)
	ops := map[string]func() error{"raw manifest+config": rawFetchOp(t, host), "LabelSource.Inspect": inspectOp(t, host)}
	rates := map[string][]float64{}
	for range 7 {
		for _, name := range []string{"raw manifest+config", "LabelSource.Inspect"} {
			r, err := rateFor(time.Second, 8, ops[name])
			if err != nil {
				t.Fatal(err)
			}
			rates[name] = append(rates[name], r)
		}
	}
	for name, rs := range rates {
		slices.Sort(rs)
		t.Logf("%s: median %.0f/s (min %.0f, max %.0f) over %d one-second windows, 8 at a time", name, rs[len(rs)/2], rs[0], rs[len(rs)-1], len(rs))
	}
}

// rateFor runs op from workers goroutines for d and returns ops per second.
func rateFor(d time.Duration, workers int, op func() error) (float64, error) {
	var done atomic.Int64
	var failed atomic.Value
	stop := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if err := op(); err != nil {
					failed.Store(err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

// rawFetchOp pushes an image and returns one plain-HTTP fetch of its
// manifest and config: the floor under any label source's cost.
func rawFetchOp(tb testing.TB, host string) func() error {
	repo, cfgDigest, mDigest := benchImage(tb, host)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	get := func(url, accept string) error {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %d", url, resp.StatusCode)
		}
		return nil
	}
	return func() error {
		if err := get("http://"+host+"/v2/"+repo+"/manifests/"+mDigest, string(types.DockerManifestSchema2)); err != nil {
			return err
		}
		return get("http://"+host+"/v2/"+repo+"/blobs/"+cfgDigest, "")
	}
}

// inspectOp pushes an image and returns one Inspect of it by digest.
func inspectOp(tb testing.TB, host string) func() error {
	repo, cfgDigest, mDigest := benchImage(tb, host)
	s, err := New(Options{Keychain: authn.NewMultiKeychain()})
	if err != nil {
		tb.Fatal(err)
	}
	ref := host + "/" + repo + "@" + mDigest
	return func() error {
		img, err := s.Inspect(context.Background(), ref)
		if err == nil && img.ID != cfgDigest {
			err = fmt.Errorf("id %s, want %s", img.ID, cfgDigest)
		}
		return err
	}
}

// benchImage pushes one labelled image with a layer and returns its
// repository, config digest and manifest digest.
func benchImage(b testing.TB, host string) (repo, cfgDigest, mDigest string) {
	img := registrytest.Image(b, map[string]string{scan.LabelGitURL: "https://github.com/acme/app", scan.LabelGitSHA: "46e443d", scan.LabelEmailIDs: "dev@acme.org"}, nil)
	r := (&testRegistry{host: host}).push(b, "bench/app:1", img)
	return r.Context().RepositoryStr(), configDigest(b, img), digestOf(b, img)
}

// runParallel8 runs op b.N times from 8 goroutines and reports ops/s.
func runParallel8(b *testing.B, op func() error) {
	var failed atomic.Value
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := op(); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}

// A `docker save` archive from the real daemon reads like the daemon's own
// inspect: same id, same labels, same tags.
func TestRealDockerSaveArchive(t *testing.T) {
	d := dockertest.New(t)
	tag := dockertest.UniqueName("scanner-archive-test") + ":1"
	labels := map[string]string{scan.LabelGitURL: "https://github.com/acme/app", scan.LabelGitSHA: "46e443d", scan.LabelEmailIDs: "dev@acme.org"}
	// docker save refuses an image without a layer ("empty export"): the
	// image gets one small file.
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for _, f := range []struct{ name, body string }{
		{"Dockerfile", "FROM scratch\nCOPY hello.txt /hello.txt\n" +
			fmt.Sprintf("LABEL %q=%q %q=%q %q=%q\n", scan.LabelGitURL, labels[scan.LabelGitURL], scan.LabelGitSHA, labels[scan.LabelGitSHA], scan.LabelEmailIDs, labels[scan.LabelEmailIDs])},
		{"hello.txt", "hello\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := d.Client.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true, Version: build.BuilderV1})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(out, []byte(`"error"`)) {
		t.Fatalf("build: %s", out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = d.Client.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true})
	})
	inspected, err := d.Client.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := d.Client.ImageSave(ctx, []string{tag})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "saved.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(f, rc)
	rc.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := ArchiveSource{}.Inspect(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != inspected.ID || !maps.Equal(got.Labels, labels) || len(got.Names) != 1 || got.Names[0] != tag {
		t.Errorf("archive gives %+v; the daemon says id %s, tag %s, labels %v", got, inspected.ID, tag, labels)
	}
}
