package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// image is one labelled image the harness loads into a daemon.
type image struct {
	ref    string // repository:tag
	gitSHA string
}

// imageSet is n images with distinct git-sha labels, so that the stand-in
// can count registrations per image. They are made as one `docker save`
// archive: one layer of one small file shared by all (an image without a
// layer cannot be saved or moved between daemons) and n configs, so that a
// single `docker load` brings in a thousand images in seconds where a
// thousand builds would take an hour on this machine.
type imageSet struct {
	repo   string
	gitURL string
	images []image
}

func newImageSet(runID string, n int) imageSet {
	s := imageSet{repo: "chaos-" + runID + "/img", gitURL: "https://github.com/example/chaos-" + runID}
	for i := range n {
		s.images = append(s.images, image{
			ref:    fmt.Sprintf("%s:s%d", s.repo, i),
			gitSHA: fmt.Sprintf("c4a05%07x", i),
		})
	}
	return s
}

// archive writes the docker-save tar of the set.
func (s imageSet) archive() ([]byte, error) {
	layer, err := tarOf(map[string]string{"chaos.txt": "a file, so that the image has a layer\n"})
	if err != nil {
		return nil, err
	}
	layerSum := sha256.Sum256(layer)
	files := map[string][]byte{"layer/layer.tar": layer}
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []entry
	for _, img := range s.images {
		cfg, err := json.Marshal(map[string]any{
			"architecture": "amd64",
			"os":           "linux",
			"created":      "2026-01-01T00:00:00Z",
			"config": map[string]any{"Labels": map[string]string{
				"git-url":   s.gitURL,
				"git-sha":   img.gitSHA,
				"email-ids": "chaos@example.org",
			}},
			"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(layerSum[:])}},
			"history": []map[string]string{{"created": "2026-01-01T00:00:00Z", "created_by": "chaos harness"}},
		})
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(cfg)
		name := hex.EncodeToString(sum[:]) + ".json"
		files[name] = cfg
		manifest = append(manifest, entry{Config: name, RepoTags: []string{img.ref}, Layers: []string{"layer/layer.tar"}})
	}
	m, err := json.Marshal(manifest)
	if err != nil {
		return nil, err
	}
	files["manifest.json"] = m
	out := map[string]string{}
	for k, v := range files {
		out[k] = string(v)
	}
	return tarOf(out)
}

func tarOf(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)),
			ModTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, content); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// dockerCLI runs the docker client against host ("" for the default
// daemon), bounded by timeout.
func dockerCLI(ctx context.Context, host string, timeout time.Duration, stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if host != "" {
		args = append([]string{"-H", host}, args...)
	}
	cmd := exec.CommandContext(ctx, "docker", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(lastLines(string(out), 5)))
	}
	return string(out), nil
}

// load loads the set into the daemon at host and registers the removal of
// its tags (the images go with their last tag).
func (s imageSet) load(ctx context.Context, host string, cl *cleanups) error {
	tarball, err := s.archive()
	if err != nil {
		return err
	}
	cl.add("remove images "+s.repo, func() error { return s.remove(host) })
	_, err = dockerCLI(ctx, host, 5*time.Minute, tarball, "load", "-q")
	return err
}

func (s imageSet) remove(host string) error {
	var refs []string
	for _, img := range s.images {
		refs = append(refs, img.ref)
	}
	var firstErr error
	for len(refs) > 0 {
		n := min(len(refs), 200)
		// Not the run's context: removal must happen after an interrupt too.
		out, err := dockerCLI(context.Background(), host, 2*time.Minute, nil, append([]string{"rmi", "--no-prune=false"}, refs[:n]...)...)
		if err != nil && !strings.Contains(out, "No such image") && firstErr == nil {
			firstErr = err
		}
		refs = refs[n:]
	}
	return firstErr
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
