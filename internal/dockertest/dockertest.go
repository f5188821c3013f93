// Package dockertest gives tests a real Docker daemon and builds small
// labelled images on it. Tests that need a daemon call New, which asks
// testenv.Docker whether one is here: skipped under -short, and without a
// daemon skipped by hand and failed in CI (CI=true).
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// Daemon is a connection to the test daemon.
type Daemon struct {
	Client *client.Client
}

// New connects to the daemon named by Docker's environment.
func New(t testing.TB) *Daemon {
	t.Helper()
	return &Daemon{Client: testenv.Docker(t)}
}

var seq atomic.Int64

// UniqueName returns a repository name no other test uses.
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
}

// BuildLabelled builds an image FROM scratch that carries labels, tags it
// name (":latest" is added when name has no tag) and returns its id
// ("sha256:..."). The tag is removed when the test ends. Values may hold any
// printable text, padding, quotes and '$' included; a Dockerfile cannot
// carry control characters such as newlines or tabs, so those are refused.
func (d *Daemon) BuildLabelled(t testing.TB, name string, labels map[string]string) string {
	t.Helper()
	for k, v := range labels {
		if strings.ContainsFunc(k+v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			t.Fatalf("label %q: a Dockerfile label cannot hold control characters", k)
		}
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var df strings.Builder
	df.WriteString("FROM scratch\n")
	for _, k := range keys {
		// A JSON string is a double-quoted Dockerfile word, but only
		// without json.Marshal's HTML escaping: the builder keeps \u003c
		// as those six characters, not as the '<' it stands for.
		var v bytes.Buffer
		enc := json.NewEncoder(&v)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(labels[k]) // a string always encodes
		// The builder expands $VARS inside double quotes; \$ keeps a '$'.
		fmt.Fprintf(&df, "LABEL %q=%s\n", k, strings.ReplaceAll(strings.TrimSuffix(v.String(), "\n"), "$", `\$`))
	}
	if len(keys) == 0 {
		// An image needs at least one instruction after FROM to exist.
		df.WriteString("ENV DOCKERTEST=1\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := d.Client.ImageBuild(ctx, tarOf(t, "Dockerfile", df.String()), build.ImageBuildOptions{
		Tags:        []string{name},
		Remove:      true,
		ForceRemove: true,
		// Without the cache, two tests (or two packages) that build the
		// same labels get images of their own. With it they share the
		// cached intermediate images, and one test's removal, which
		// prunes those parents, made the other's build fail with
		// "unable to find image sha256:...".
		NoCache: true,
		Version: build.BuilderV1,
	})
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	defer resp.Body.Close()
	if err := readBuildStream(resp.Body); err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	img, err := d.Client.ImageInspect(ctx, name)
	if err != nil {
		t.Fatalf("inspect built %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// By name, not id: should two builds ever give the same id,
		// removing by id would untag another test's image. The image
		// itself goes with its last tag.
		_, _ = d.Client.ImageRemove(ctx, name, image.RemoveOptions{PruneChildren: true})
	})
	return img.ID
}

// CreateContainer creates (does not start) a container of img and returns
// its id; it is removed when the test ends.
func (d *Daemon) CreateContainer(t testing.TB, img string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A FROM-scratch image has no command; the container is never started,
	// so any path will do.
	resp, err := d.Client.ContainerCreate(ctx, &container.Config{Image: img, Cmd: []string{"/none"}}, nil, nil, nil, "")
	if err != nil {
		t.Fatalf("create container of %s: %v", img, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = d.Client.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true})
	})
	return resp.ID
}

func tarOf(t testing.TB, name, content string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// readBuildStream consumes the build's JSON message stream and returns the
// first error it reports: the HTTP call itself succeeds even when the build
// fails.
func readBuildStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return fmt.Errorf("%s", msg.Error)
		}
	}
}
