package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// ociRefName is the annotation an OCI layout's index uses to name its
// images (what `skopeo copy … oci:DIR:NAME` and buildx write).
const ociRefName = "org.opencontainers.image.ref.name"

// splitFileRef splits "PATH[:NAME]" at the first ':', the form skopeo uses
// for docker-archive: and oci: references. PATH therefore cannot hold a ':'.
func splitFileRef(ref string) (path, ref2 string) {
	path, ref2, _ = strings.Cut(ref, ":")
	return path, ref2
}

// ArchiveSource reads images from `docker save` tarballs (docker-archive).
// A reference is "PATH" for an archive holding one image, or
// "PATH:REPO:TAG" to pick one of several by its tag. Only manifest.json and
// the config are read; the layers are not (the first one's first bytes are
// peeked at to see whether it is compressed).
type ArchiveSource struct{}

var _ scan.LabelSource = ArchiveSource{}

// Inspect implements scan.LabelSource; the image's Origin says which
// archive or layout entry was read.
func (ArchiveSource) Inspect(_ context.Context, ref string) (scan.Image, error) {
	path, tagText := splitFileRef(ref)
	if path == "" {
		return scan.Image{}, fmt.Errorf("%w: empty archive path", scan.ErrImageNotFound)
	}
	if err := statFile(path, false); err != nil {
		return scan.Image{}, err
	}
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	manifest, err := tarball.LoadManifest(opener)
	if err != nil {
		return scan.Image{}, fmt.Errorf("docker archive %s: %w", path, err)
	}
	var tag *name.Tag
	var names []string
	switch {
	case tagText != "":
		t, err := name.NewTag(tagText)
		if err != nil {
			return scan.Image{}, fmt.Errorf("%w: %q is not a valid tag: %v", scan.ErrImageNotFound, tagText, err)
		}
		tag = &t
		found := false
		for _, d := range manifest {
			for _, rt := range d.RepoTags {
				if rtt, err := name.NewTag(rt); err == nil && rtt.Name() == t.Name() {
					found, names = true, d.RepoTags
				}
			}
		}
		if !found {
			return scan.Image{}, fmt.Errorf("%w: no image tagged %s in %s (it has %s)",
				scan.ErrImageNotFound, tagText, path, strings.Join(allTags(manifest), ", "))
		}
	case len(manifest) == 1:
		names = manifest[0].RepoTags
	case len(manifest) == 0:
		return scan.Image{}, fmt.Errorf("%w: docker archive %s holds no image", scan.ErrImageNotFound, path)
	default:
		return scan.Image{}, fmt.Errorf("docker archive %s holds %d images: name one as %s:REPO:TAG (it has %s)",
			path, len(manifest), path, strings.Join(allTags(manifest), ", "))
	}
	img, err := tarball.Image(opener, tag)
	if err != nil {
		return scan.Image{}, fmt.Errorf("docker archive %s: %w", path, err)
	}
	id, labels, err := configOf(img)
	if err != nil {
		return scan.Image{}, fmt.Errorf("docker archive %s: %w", path, err)
	}
	return scan.Image{ID: id, Names: names, Labels: labels,
		Origin: scan.Origin{Source: scan.SourceDockerArchive, Reference: ref}}, nil
}

func allTags(m tarball.Manifest) []string {
	var out []string
	for _, d := range m {
		out = append(out, d.RepoTags...)
	}
	if len(out) == 0 {
		return []string{"no tags"}
	}
	return out
}

// LayoutSource reads images from OCI image layouts (oci). A reference is
// "DIR" for a layout holding one image or index, or "DIR:NAME" to pick the
// one whose org.opencontainers.image.ref.name annotation is NAME. An index
// resolves to one platform, as in the registry.
type LayoutSource struct {
	// Platform is picked from an index; zero means DefaultPlatform.
	Platform v1.Platform
}

var _ scan.LabelSource = LayoutSource{}

// Inspect implements scan.LabelSource; the image's Origin says which
// archive or layout entry was read.
func (l LayoutSource) Inspect(_ context.Context, ref string) (scan.Image, error) {
	platform := l.Platform
	if platform.OS == "" && platform.Architecture == "" {
		platform = DefaultPlatform
	}
	dir, refName := splitFileRef(ref)
	if dir == "" {
		return scan.Image{}, fmt.Errorf("%w: empty layout path", scan.ErrImageNotFound)
	}
	if err := statFile(dir, true); err != nil {
		return scan.Image{}, err
	}
	root, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return scan.Image{}, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	im, err := root.IndexManifest()
	if err != nil {
		return scan.Image{}, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	var picked *v1.Descriptor
	var have []string
	for i, d := range im.Manifests {
		n := d.Annotations[ociRefName]
		if n != "" {
			have = append(have, n)
		}
		if refName != "" && n == refName {
			picked = &im.Manifests[i]
			break
		}
	}
	switch {
	case picked != nil:
	case refName != "":
		return scan.Image{}, fmt.Errorf("%w: no image named %q in OCI layout %s (it has %s)",
			scan.ErrImageNotFound, refName, dir, strings.Join(orNone(have), ", "))
	case len(im.Manifests) == 1:
		picked = &im.Manifests[0]
	case len(im.Manifests) == 0:
		return scan.Image{}, fmt.Errorf("%w: OCI layout %s holds no image", scan.ErrImageNotFound, dir)
	default:
		return scan.Image{}, fmt.Errorf("OCI layout %s holds %d images: name one as %s:NAME (it has %s)",
			dir, len(im.Manifests), dir, strings.Join(orNone(have), ", "))
	}
	origin := scan.Origin{Source: scan.SourceOCILayout, Reference: ref, Digest: picked.Digest.String(),
		ManifestDigest: picked.Digest.String(), MediaType: string(picked.MediaType)}
	var names []string
	if n := picked.Annotations[ociRefName]; n != "" {
		names = []string{n}
	}
	var img v1.Image
	var indexAnnotations map[string]string
	switch {
	case picked.MediaType.IsIndex():
		idx, err := root.ImageIndex(picked.Digest)
		if err != nil {
			return scan.Image{}, fmt.Errorf("OCI layout %s: %w", dir, err)
		}
		inner, err := idx.IndexManifest()
		if err != nil {
			return scan.Image{}, fmt.Errorf("OCI layout %s: %w", dir, err)
		}
		child, err := pickPlatform(inner, platform)
		if err != nil {
			return scan.Image{}, fmt.Errorf("%w: OCI layout %s: %v", scan.ErrImageNotFound, dir, err)
		}
		if !child.MediaType.IsImage() {
			return scan.Image{}, fmt.Errorf("OCI layout %s: the %s entry is a %s, not an image", dir, formatPlatform(child.Platform), child.MediaType)
		}
		indexAnnotations = mergeAnnotations(mergeLabels(inner.Annotations, picked.Annotations), child.Annotations)
		if img, err = idx.Image(child.Digest); err != nil {
			return scan.Image{}, fmt.Errorf("OCI layout %s: %w", dir, err)
		}
		origin.ManifestDigest = child.Digest.String()
		origin.Platform = formatPlatform(child.Platform)
	case picked.MediaType.IsImage():
		if img, err = root.Image(picked.Digest); err != nil {
			return scan.Image{}, fmt.Errorf("OCI layout %s: %w", dir, err)
		}
		indexAnnotations = picked.Annotations
	default:
		return scan.Image{}, fmt.Errorf("OCI layout %s: %s is a %s, not an image or index", dir, picked.Digest, picked.MediaType)
	}
	m, err := img.Manifest()
	if err != nil {
		return scan.Image{}, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	if m.Config.Size > MaxConfigBytes {
		return scan.Image{}, fmt.Errorf("OCI layout %s: config blob declares %d bytes, over the %d-byte limit", dir, m.Config.Size, MaxConfigBytes)
	}
	id, labels, err := configOf(img)
	if err != nil {
		return scan.Image{}, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	// The layout's own bookkeeping annotation is not a label of the image.
	ann := mergeLabels(m.Annotations, indexAnnotations)
	delete(ann, ociRefName)
	return scan.Image{ID: id, Names: names, Labels: mergeLabels(labels, ann), Origin: origin}, nil
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"no named images"}
	}
	return slices.Clone(s)
}

// configOf returns an image's id (its config digest) and config labels.
func configOf(img v1.Image) (string, map[string]string, error) {
	id, err := img.ConfigName()
	if err != nil {
		return "", nil, err
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return "", nil, err
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return "", nil, fmt.Errorf("config %s: %w", id, err)
	}
	return id.String(), cfg.Config.Labels, nil
}

// statFile turns a missing path into scan.ErrImageNotFound (a final
// failure the user must fix) and checks that it is a file or a directory.
func statFile(path string, wantDir bool) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: no such file or directory %s", scan.ErrImageNotFound, path)
	case err != nil:
		return err
	case wantDir && !fi.IsDir():
		return fmt.Errorf("%s is not a directory: an OCI layout is one", path)
	case !wantDir && fi.IsDir():
		return fmt.Errorf("%s is a directory: a docker archive is a tar file", path)
	}
	return nil
}
