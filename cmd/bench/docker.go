package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// benchLabels are the labels of the image the suite scans: what a scan
// needs to register.
var benchLabels = map[string]string{
	"git-url":   "https://github.com/centos-pipeline/analytics-scanner",
	"git-sha":   "0123456789abcdef0123456789abcdef01234567",
	"email-ids": "bench@example.org",
}

// newDockerClient connects to the daemon Docker's environment names. Its
// connection pool is sized for the concurrency of the inspect runs: the
// client's default keeps 6 idle connections, and at 32 callers the
// measured "limit" would then include reconnecting.
func newDockerClient(ctx context.Context, conns int) (*client.Client, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation(), client.WithTimeout(30*time.Second))
	if err != nil {
		return nil, err
	}
	if t, ok := c.HTTPClient().Transport.(*http.Transport); ok {
		t.MaxIdleConns = conns
		t.MaxIdleConnsPerHost = conns
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Ping(pingCtx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("no Docker daemon: %w", err)
	}
	return c, nil
}

// defaultTagsPerImage is how many references each image gets. An
// inspect answers with every tag of the image, and the daemon's cost grows
// with them: on Docker 20.10 one image tagged 1,000 times inspects about
// ten times slower than one tagged 100 times, which would measure the tag
// list instead of the scan. Real images carry a few tags.
//
// One, since the service deduplicates submissions by image id (the tags of
// one image in flight are one scan): with more, the end-to-end run would
// wait for registrations that never come.
const defaultTagsPerImage = 1

// benchImages are labelled images, each tagged a few times: distinct
// references that each cost the daemon a real inspect.
type benchImages struct {
	c            *client.Client
	repo         string
	refs         []string
	tagsPerImage int
	// made lists, per image, every tag asked for so far, for removal
	// even when the setup fails half way.
	mu   sync.Mutex
	made [][]string
}

func newBenchImages(c *client.Client, tagsPerImage int) *benchImages {
	return &benchImages{c: c, repo: fmt.Sprintf("analytics-scanner-bench-%d/img", os.Getpid()), tagsPerImage: tagsPerImage}
}

// create makes images with benchLabels (and a label of their own, so that
// each is a distinct image), tagged n times in all. They are what a
// Dockerfile of FROM scratch and one LABEL builds, an image config and no
// layer, but written into one docker-archive and loaded in one call: a
// classic build of each costs the daemon about a quarter of a second on vfs
// (over three minutes for the 1,500 of a full run), the load a second or
// two for all of them.
func (b *benchImages) create(ctx context.Context, n int) error {
	b.refs = make([]string, n)
	for i := range b.refs {
		b.refs[i] = fmt.Sprintf("%s:t%06d", b.repo, i)
	}
	per := b.tagsPerImage
	images := (n + per - 1) / per
	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	manifest := make([]entry, 0, images)
	created := time.Now().UTC().Format(time.RFC3339Nano)
	for k := range images {
		tags := b.refs[k*per : min(n, (k+1)*per)]
		labels := map[string]string{"analytics-scanner-bench": strconv.Itoa(k)}
		for name, value := range benchLabels {
			labels[name] = value
		}
		// A commit of its own per image: the service registers a
		// repository's commit once, and a scan of another image of the
		// same commit succeeds without a registration.
		labels["git-sha"] = fmt.Sprintf("%040x", k)
		config, err := json.Marshal(map[string]any{
			"architecture": runtime.GOARCH,
			"os":           "linux",
			"created":      created,
			"config":       map[string]any{"Labels": labels},
			"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{}},
			"history":      []map[string]any{{"created": created, "created_by": "LABEL (analytics-scanner bench)", "empty_layer": true}},
		})
		if err != nil {
			return err
		}
		sum := sha256.Sum256(config)
		name := hex.EncodeToString(sum[:]) + ".json"
		if err := writeTarFile(tw, name, config); err != nil {
			return err
		}
		manifest = append(manifest, entry{Config: name, RepoTags: tags, Layers: []string{}})
	}
	m, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := writeTarFile(tw, "manifest.json", m); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}

	b.mu.Lock()
	for _, e := range manifest {
		b.made = append(b.made, e.RepoTags)
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	resp, err := b.c.ImageLoad(ctx, &archive, client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("load the labelled images: %w", err)
	}
	defer resp.Body.Close()
	if err := readJSONStream(resp.Body); err != nil {
		return fmt.Errorf("load the labelled images: %w", err)
	}
	return nil
}

func writeTarFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Now()}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// remove deletes every tag made; an image goes with its last tag. It runs
// on its own deadline, as the suite's context may already be cancelled.
func (b *benchImages) remove() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b.mu.Lock()
	made := b.made
	b.made = nil
	b.mu.Unlock()
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	// The tags of one image one after the other: when two removals of an
	// image's last tags race, both try to delete the image and one fails.
	closedLoop(ctx, 8, len(made), func(ctx context.Context, k int) error {
		for _, ref := range made[k] {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := b.c.ImageRemove(rctx, ref, image.RemoveOptions{})
			cancel()
			if err != nil && !cerrdefs.IsNotFound(err) {
				failed.Add(1)
				once.Do(func() { firstErr = err })
			}
		}
		return nil
	})
	if failed.Load() > 0 {
		return fmt.Errorf("%d tags of %s not removed: %w", failed.Load(), b.repo, firstErr)
	}
	return nil
}

// inspectRate measures raw image inspects per second through the Docker API
// at concurrency conc for dur, cycling over the references.
func inspectRate(ctx context.Context, c *client.Client, refs []string, conc int, dur time.Duration) (float64, error) {
	rate, errs := forDuration(ctx, conc, dur, func(ctx context.Context, i int) error {
		img, err := c.ImageInspect(ctx, refs[i%len(refs)])
		if err == nil && img.Config.Labels["git-url"] == "" {
			err = errors.New("inspected image has no git-url label")
		}
		return err
	})
	if errs.errors > 0 {
		return rate, fmt.Errorf("%d inspects failed: %w", errs.errors, errs.firstErr)
	}
	return rate, nil
}

// imageSize is the size the daemon reports for ref.
func imageSize(ctx context.Context, c *client.Client, ref string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	img, err := c.ImageInspect(ctx, ref)
	if err != nil {
		return 0, err
	}
	return img.Size, nil
}

// readJSONStream consumes the daemon's JSON message stream (of a load) and
// returns the first error it reports: the HTTP call succeeds even when the
// load fails.
func readJSONStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}
