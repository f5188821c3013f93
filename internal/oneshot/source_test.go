package oneshot

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/centos-pipeline/analytics-scanner/internal/registrytest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// The other sources need no daemon: DOCKER_HOST points nowhere, and each
// scan still reads the labels and registers them.
func TestScanSourcesWithoutDaemon(t *testing.T) {
	labels := map[string]string{
		scan.KeyOCISource:   "https://github.com/example/pushed",
		scan.LabelGitSHA:    "0123abc",
		scan.LabelEmailIDs:  "dev@example.org",
		"unrelated.comment": "x",
	}
	img := registrytest.Image(t, labels, nil)
	cfgName, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	reg := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	ref, err := name.ParseReference(strings.TrimPrefix(reg.URL, "http://") + "/team/pushed:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}

	archive := filepath.Join(dir, "app.tar")
	tag, _ := name.NewTag("example/pushed:1")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		t.Fatal(err)
	}

	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "pushed"})); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ source, image, wantDigest string }{
		{scan.SourceRegistry, ref.String(), digest.String()},
		{scan.SourceDockerArchive, archive + ":example/pushed:1", ""},
		{scan.SourceOCILayout, filepath.Join(dir, "oci") + ":pushed", digest.String()},
	} {
		t.Run(tc.source, func(t *testing.T) {
			srv := newAnalyticsServer(t)
			_, scanOut := scanDirs(t)
			out := runCommand(t, map[string]string{"IMAGE_NAME": tc.image, "SERVER": srv.URL,
				"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
				"--source", tc.source, "--scanout", scanOut, "--scanin", filepath.Join(dir, "no-such-dir"), fastRetry)
			if out.code != exitOK || !strings.Contains(out.stdout, "Scanner execution status: True") {
				t.Fatalf("exit %d, stdout %q; want a successful scan", out.code, out.stdout)
			}
			got := readResults(t, scanOut, cfgName.Hex)
			r := got.result
			if r.ScanResults.GitURL != labels[scan.KeyOCISource] || r.LabelSources[scan.LabelGitURL] != scan.KeyOCISource ||
				r.LabelSources[scan.LabelGitSHA] != scan.LabelGitSHA {
				t.Errorf("result %+v; want git-url from %s", r, scan.KeyOCISource)
			}
			if r.Image == nil || r.Image.Source != tc.source || r.Image.ID != cfgName.String() || r.Image.Digest != tc.wantDigest {
				t.Errorf("result image = %+v; want source %s, id %s, digest %q", r.Image, tc.source, cfgName, tc.wantDigest)
			}
			regs := srv.registrations(t)
			if len(regs) != 1 || regs[0]["git-url"] != labels[scan.KeyOCISource] {
				b, _ := json.Marshal(regs)
				t.Errorf("registrations = %s, want one of %s", b, labels[scan.KeyOCISource])
			}
		})
	}
}

func TestScanSourceUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--source", "floppy"},
		{"--source", "registry", "--platform", "amd64"},
		{"--label-keys", "git-branch=x"},
	} {
		out := runCommand(t, nil, args...)
		if out.code != exitUsage || !strings.Contains(out.stderr, strings.TrimPrefix(args[len(args)-2], "--")) {
			t.Errorf("scan %q: exit %d, stderr %q; want a usage error naming the flag", args, out.code, out.stderr)
		}
	}
}
