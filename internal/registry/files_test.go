package registry

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/centos-pipeline/analytics-scanner/internal/registrytest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

func writeArchive(t *testing.T, images map[string]v1.Image) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "images.tar")
	refs := map[name.Reference]v1.Image{}
	for tag, img := range images {
		r, err := name.ParseReference(tag)
		if err != nil {
			t.Fatal(err)
		}
		refs[r] = img
	}
	if err := tarball.MultiRefWriteToFile(path, refs); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestArchiveSource(t *testing.T) {
	one := registrytest.Image(t, provLabels, nil)
	two := registrytest.Image(t, map[string]string{"n": "2"}, nil)
	single := writeArchive(t, map[string]v1.Image{"acme/app:1": one})
	multi := writeArchive(t, map[string]v1.Image{"acme/app:1": one, "registry.example:5000/acme/other:2": two})
	var s ArchiveSource

	t.Run("one image by path", func(t *testing.T) {
		got, err := s.Inspect(context.Background(), single)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != configDigest(t, one) || !maps.Equal(got.Labels, provLabels) ||
			!slices.Equal(got.Names, []string{"acme/app:1"}) || got.Origin.Source != scan.SourceDockerArchive {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("one of several by tag", func(t *testing.T) {
		got, err := s.Inspect(context.Background(), multi+":registry.example:5000/acme/other:2")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != configDigest(t, two) || got.Labels["n"] != "2" {
			t.Errorf("got %+v, want the second image", got)
		}
	})
	t.Run("several without a tag", func(t *testing.T) {
		_, err := s.Inspect(context.Background(), multi)
		if err == nil || !strings.Contains(err.Error(), "holds 2 images") || errors.Is(err, scan.ErrImageNotFound) {
			t.Errorf("err = %v, want a usage error listing the images", err)
		}
	})
	for _, ref := range []string{filepath.Join(t.TempDir(), "missing.tar"), single + ":acme/app:nope", ""} {
		t.Run("not found "+ref, func(t *testing.T) {
			if _, err := s.Inspect(context.Background(), ref); !errors.Is(err, scan.ErrImageNotFound) {
				t.Errorf("err = %v, want ErrImageNotFound", err)
			}
		})
	}
}

func TestLayoutSource(t *testing.T) {
	plain := registrytest.Image(t, provLabels, map[string]string{"org.opencontainers.image.revision": "r1"})
	amd := registrytest.Image(t, map[string]string{"arch": "amd64"}, nil)
	arm := registrytest.Image(t, map[string]string{"arch": "arm64"}, nil)
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	), types.OCIImageIndex)

	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(plain, layout.WithAnnotations(map[string]string{ociRefName: "app"})); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{ociRefName: "multi", "org.opencontainers.image.source": "https://x/multi"})); err != nil {
		t.Fatal(err)
	}

	t.Run("image by name", func(t *testing.T) {
		got, err := LayoutSource{}.Inspect(context.Background(), dir+":app")
		if err != nil {
			t.Fatal(err)
		}
		want := maps.Clone(provLabels)
		want["org.opencontainers.image.revision"] = "r1"
		if got.ID != configDigest(t, plain) || !maps.Equal(got.Labels, want) || !slices.Equal(got.Names, []string{"app"}) {
			t.Errorf("got %+v, want labels %v", got, want)
		}
		if got.Origin.Digest != digestOf(t, plain) || got.Origin.Platform != "" {
			t.Errorf("origin = %+v", got.Origin)
		}
	})
	t.Run("index by name, platform picked", func(t *testing.T) {
		got, err := LayoutSource{Platform: v1.Platform{OS: "linux", Architecture: "arm64"}}.Inspect(context.Background(), dir+":multi")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != configDigest(t, arm) || got.Labels["arch"] != "arm64" || got.Labels["org.opencontainers.image.source"] != "https://x/multi" {
			t.Errorf("got %+v", got)
		}
		if got.Origin.Digest != digestOf(t, idx) || got.Origin.ManifestDigest != digestOf(t, arm) || got.Origin.Platform != "linux/arm64" {
			t.Errorf("origin = %+v", got.Origin)
		}
	})
	t.Run("two images without a name", func(t *testing.T) {
		_, err := LayoutSource{}.Inspect(context.Background(), dir)
		if err == nil || !strings.Contains(err.Error(), "app, multi") {
			t.Errorf("err = %v, want a list of the names", err)
		}
	})
	for _, ref := range []string{dir + ":nope", filepath.Join(dir, "missing")} {
		t.Run("not found "+ref, func(t *testing.T) {
			if _, err := (LayoutSource{}).Inspect(context.Background(), ref); !errors.Is(err, scan.ErrImageNotFound) {
				t.Errorf("err = %v, want ErrImageNotFound", err)
			}
		})
	}
}
