package docker_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/centos-pipeline/analytics-scanner/internal/docker"
	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// newSource connects a Source to the test daemon, which dockertest.New
// requires (skipping by hand, failing in CI).
func newSource(t *testing.T, opts ...client.Opt) (*docker.Source, *dockertest.Daemon) {
	t.Helper()
	d := dockertest.New(t)
	s, err := docker.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, d
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// labels are the seed's labels, padded as careless Dockerfiles pad them, and
// one of every kind of awkward text a Dockerfile can hold.
var labels = map[string]string{
	scan.LabelGitURL:   "  https://github.com/fabric8-analytics/f8a-server-backbone  ",
	scan.LabelGitSHA:   " 46e443d ",
	scan.LabelEmailIDs: "nshaikh@redhat.com,samuzzal@redhat.com",
	"odd":              `a "quoted" $value, with commas = and 'quotes' and ünïcode`,
}

func TestInspectReadsLabelsExactly(t *testing.T) {
	s, d := newSource(t)
	name := dockertest.UniqueName("docker-labels")
	id := d.BuildLabelled(t, name, labels)

	img, err := s.Inspect(ctxFor(t), id)
	if err != nil {
		t.Fatal(err)
	}
	// Raw, padding included: trimming is CheckLabels' job.
	if !reflect.DeepEqual(img.Labels, labels) {
		t.Errorf("labels = %q, want %q", img.Labels, labels)
	}
	if img.ID != id || !reflect.DeepEqual(img.Names, []string{name + ":latest"}) {
		t.Errorf("image = %s %q, want %s [%s:latest]", img.ID, img.Names, id, name)
	}
	got, errs := scan.CheckLabels(img.Labels)
	want := scan.Labels{GitURL: "https://github.com/fabric8-analytics/f8a-server-backbone", GitSHA: "46e443d",
		EmailIDs: "nshaikh@redhat.com,samuzzal@redhat.com"}
	if len(errs) != 0 || got != want {
		t.Errorf("CheckLabels = %+v, %v; want %+v", got, errs, want)
	}
}

// commitLabelled makes an image named name whose labels are exactly labels
// by committing a container with them: a Dockerfile cannot hold a line
// over 64 KiB, nor a raw tab or newline in a label.
func commitLabelled(t *testing.T, d *dockertest.Daemon, name string, labels map[string]string) string {
	t.Helper()
	base := d.BuildLabelled(t, dockertest.UniqueName("docker-commit-base"), nil)
	ctr := d.CreateContainer(t, base)
	ctx := ctxFor(t)
	resp, err := d.Client.ContainerCommit(ctx, ctr, container.CommitOptions{
		Reference: name,
		Config:    &container.Config{Labels: labels},
	})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = d.Client.ImageRemove(ctx, resp.ID, image.RemoveOptions{Force: true})
	})
	return resp.ID
}

func TestInspectReadsControlCharactersExactly(t *testing.T) {
	s, d := newSource(t)
	raw := map[string]string{
		scan.LabelGitURL:   "\thttps://example.org/r.git\r\n",
		scan.LabelGitSHA:   "\n46e443d\n",
		scan.LabelEmailIDs: "a@x.org,\nb@y.org",
	}
	id := commitLabelled(t, d, dockertest.UniqueName("docker-raw"), raw)
	img, err := s.Inspect(ctxFor(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(img.Labels, raw) {
		t.Errorf("labels = %q, want %q", img.Labels, raw)
	}
	// Padding is trimmed; a control character inside a value is refused,
	// whatever the daemon hands over.
	got, errs := scan.CheckLabels(img.Labels)
	want := scan.Labels{GitURL: "https://example.org/r.git", GitSHA: "46e443d"}
	if got != want || len(errs) != 1 || errs[0].Error() != "label email-ids contains control characters" {
		t.Errorf("CheckLabels = %q, %v; want %q and the email-ids error", got, errs, want)
	}
}

func TestInspectContainerByName(t *testing.T) {
	s, d := newSource(t)
	id := d.BuildLabelled(t, dockertest.UniqueName("docker-ctrname"), labels)
	ctr := d.CreateContainer(t, id)
	ctx := ctxFor(t)
	// Container names may hold upper case, which no image reference may:
	// the daemon refuses such a ref as an image before it is tried as a
	// container.
	name := "Scan-Test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := d.Client.ContainerRename(ctx, ctr, name); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{name, "/" + name} {
		img, err := s.Inspect(ctx, ref)
		if err != nil || img.ID != id || !reflect.DeepEqual(img.Labels, labels) {
			t.Errorf("Inspect(%q) = %s, %v; want image %s", ref, img.ID, err, id)
		}
	}
}

func TestInspectByEveryKindOfRef(t *testing.T) {
	s, d := newSource(t)
	name := dockertest.UniqueName("docker-refs")
	id := d.BuildLabelled(t, name, labels)
	hex := strings.TrimPrefix(id, "sha256:")
	if len(hex) != 64 {
		t.Fatalf("built image id %q is not sha256:<64 hex>", id)
	}
	ctr := d.CreateContainer(t, id)

	refs := map[string]string{
		"name":               name,
		"name:tag":           name + ":latest",
		"sha256 id":          id,
		"64-hex id":          hex,
		"short id":           hex[:12],
		"container id":       ctr,
		"short container id": ctr[:12],
	}
	for kind, ref := range refs {
		t.Run(kind, func(t *testing.T) {
			img, err := s.Inspect(ctxFor(t), ref)
			if err != nil {
				t.Fatalf("Inspect(%q): %v", ref, err)
			}
			if img.ID != id || img.ShortID() != hex {
				t.Errorf("Inspect(%q).ID = %q, want %q", ref, img.ID, id)
			}
			if !reflect.DeepEqual(img.Labels, labels) {
				t.Errorf("Inspect(%q).Labels = %q, want %q", ref, img.Labels, labels)
			}
			if !reflect.DeepEqual(img.Names, []string{name + ":latest"}) {
				t.Errorf("Inspect(%q).Names = %q", ref, img.Names)
			}
		})
	}
}

func TestInspectNotFound(t *testing.T) {
	s, _ := newSource(t)
	missing := dockertest.UniqueName("docker-missing")
	refs := []string{
		"",
		missing,
		missing + ":v1",
		"sha256:" + strings.Repeat("0", 64),
		strings.Repeat("0", 64),
		strings.Repeat("0", 12),
		"Invalid/UPPER/Reference",
	}
	for _, ref := range refs {
		t.Run(strconv.Quote(ref), func(t *testing.T) {
			img, err := s.Inspect(ctxFor(t), ref)
			if !errors.Is(err, scan.ErrImageNotFound) {
				t.Fatalf("Inspect(%q) = %+v, %v; want ErrImageNotFound", ref, img, err)
			}
			if errors.Is(err, scan.ErrDaemonUnavailable) || scan.IsTransient(err) {
				t.Errorf("a missing image is reported as transient: %v", err)
			}
			if img.ID != "" || img.Labels != nil {
				t.Errorf("Inspect(%q) returned %+v with its error", ref, img)
			}
		})
	}
}

func TestUnreachableDaemon(t *testing.T) {
	socket := "unix://" + filepath.Join(t.TempDir(), "no-such-docker.sock")

	// A listener that accepts connections and never answers: a hung daemon.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close() // ends the accept loop
		held.Wait()
	})
	held.Add(1)
	go func() {
		defer held.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()

	cases := []struct {
		name    string
		source  func(t *testing.T) *docker.Source
		timeout time.Duration
	}{
		{"socket missing, via WithHost", func(t *testing.T) *docker.Source {
			s, err := docker.New(client.WithHost(socket))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, 10 * time.Second},
		{"socket missing, via DOCKER_HOST", func(t *testing.T) *docker.Source {
			t.Setenv("DOCKER_HOST", socket)
			s, err := docker.New()
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, 10 * time.Second},
		{"daemon hangs", func(t *testing.T) *docker.Source {
			s, err := docker.New(client.WithHost("tcp://" + ln.Addr().String()))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, 300 * time.Millisecond},
		{"daemon hangs, caller sets no deadline", func(t *testing.T) *docker.Source {
			s, err := docker.New(client.WithHost("tcp://"+ln.Addr().String()), client.WithTimeout(300*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.source(t)
			t.Cleanup(func() { _ = s.Close() })

			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			if tc.timeout == 0 {
				// No deadline from the caller: the client's own
				// request timeout must end the wait.
				ctx, cancel = context.WithCancel(context.Background())
			}
			defer cancel()
			start := time.Now()
			_, err := s.Inspect(ctx, "nshaikh/test_label")
			if !errors.Is(err, scan.ErrDaemonUnavailable) || !scan.IsTransient(err) {
				t.Errorf("Inspect: %v; want a transient ErrDaemonUnavailable", err)
			}
			if errors.Is(err, scan.ErrImageNotFound) {
				t.Errorf("Inspect: %v also claims the image is missing", err)
			}
			if elapsed := time.Since(start); elapsed > tc.timeout+3*time.Second {
				t.Errorf("Inspect took %v", elapsed)
			}

			ctx2, cancel2 := context.WithTimeout(context.Background(), tc.timeout)
			if tc.timeout == 0 {
				ctx2, cancel2 = context.WithCancel(context.Background())
			}
			defer cancel2()
			if err := s.Ping(ctx2); !errors.Is(err, scan.ErrDaemonUnavailable) {
				t.Errorf("Ping: %v; want ErrDaemonUnavailable", err)
			}
		})
	}
}

func TestPing(t *testing.T) {
	s, _ := newSource(t)
	if err := s.Ping(ctxFor(t)); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestAPIVersionNegotiation(t *testing.T) {
	// DOCKER_API_VERSION would pin the version and skip negotiation.
	t.Setenv("DOCKER_API_VERSION", "")
	s, d := newSource(t)
	id := d.BuildLabelled(t, dockertest.UniqueName("docker-version"), labels)
	ctx := ctxFor(t)

	sv, err := d.Client.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := api.DefaultVersion
	if versionAtMost(sv.APIVersion, api.DefaultVersion) {
		want = sv.APIVersion
	}
	if want == api.DefaultVersion {
		t.Logf("the daemon speaks API %s, not older than the client's %s: negotiation is not exercised", sv.APIVersion, api.DefaultVersion)
	} else {
		// The premise: a client that does not negotiate is refused.
		plain, err := client.NewClientWithOpts(client.FromEnv)
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		_, err = plain.ImageInspect(ctx, id)
		t.Logf("API %s client against API %s daemon without negotiation: %v", plain.ClientVersion(), sv.APIVersion, err)
	}

	img, err := s.Inspect(ctx, id)
	if err != nil || img.ID != id {
		t.Fatalf("Inspect against a daemon speaking API %s: %+v, %v", sv.APIVersion, img, err)
	}
	if got := s.Client().ClientVersion(); got != want {
		t.Errorf("negotiated API %s, want %s (daemon %s, client default %s)", got, want, sv.APIVersion, api.DefaultVersion)
	}
}

// versionAtMost reports whether API version a ("1.41") is at most b.
func versionAtMost(a, b string) bool {
	minor := func(v string) int {
		_, m, _ := strings.Cut(v, ".")
		n, _ := strconv.Atoi(m)
		return n
	}
	return strings.HasPrefix(a, "1.") && strings.HasPrefix(b, "1.") && minor(a) <= minor(b)
}

func TestImageWithoutLabels(t *testing.T) {
	s, d := newSource(t)
	id := d.BuildLabelled(t, dockertest.UniqueName("docker-nolabels"), nil)
	img, err := s.Inspect(ctxFor(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Labels) != 0 || img.ID != id {
		t.Errorf("image = %+v, want %s without labels", img, id)
	}
	_, errs := scan.CheckLabels(img.Labels)
	if len(errs) != 3 {
		t.Errorf("CheckLabels = %v, want the three labels missing", errs)
	}
}

func TestHugeLabel(t *testing.T) {
	s, d := newSource(t)
	huge := strings.Repeat("https://evil.example/", (1<<20)/21+1)
	name := dockertest.UniqueName("docker-huge")
	commitLabelled(t, d, name, map[string]string{
		scan.LabelGitURL: huge, scan.LabelGitSHA: "46e443d", scan.LabelEmailIDs: "a@x.org",
	})

	img, err := s.Inspect(ctxFor(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if img.Labels[scan.LabelGitURL] != huge {
		t.Fatalf("git-url label is %d bytes, want the %d committed", len(img.Labels[scan.LabelGitURL]), len(huge))
	}
	got, errs := scan.CheckLabels(img.Labels)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), strconv.Itoa(scan.MaxLabelBytes)) ||
		strings.Contains(errs[0].Error(), "evil.example") {
		t.Errorf("CheckLabels errors = %.200v, want one naming the limit and not the value", errs)
	}
	if got.GitURL != "" || got.GitSHA != "46e443d" || got.EmailIDs != "a@x.org" {
		t.Errorf("CheckLabels = %.200v", got)
	}
}

func TestConcurrentInspect(t *testing.T) {
	s, d := newSource(t)
	name := dockertest.UniqueName("docker-concurrent")
	id := d.BuildLabelled(t, name, labels)
	ctx := ctxFor(t)
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := []string{name, id, "nosuch-" + name}[i%3]
			img, err := s.Inspect(ctx, ref)
			switch {
			case i%3 == 2 && !errors.Is(err, scan.ErrImageNotFound):
				errs[i] = errors.Join(errors.New("want not found"), err)
			case i%3 != 2 && (err != nil || img.ID != id):
				errs[i] = errors.Join(errors.New("want the image"), err)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Inspect %d: %v", i, err)
		}
	}
}

// A one-shot scan passes no deadline: the client's own request timeout is
// what keeps a hung daemon from hanging it.
func TestDefaultRequestTimeout(t *testing.T) {
	s, err := docker.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c, ok := s.Client().(*client.Client)
	if !ok {
		t.Fatalf("Client() is %T, want *client.Client", s.Client())
	}
	if got := c.HTTPClient().Timeout; got != docker.DefaultRequestTimeout {
		t.Errorf("request timeout %v, want %v", got, docker.DefaultRequestTimeout)
	}
}
