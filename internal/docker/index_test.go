package docker_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/docker"
	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
)

// runIndex starts an index of s and waits until it answers from memory.
func runIndex(t *testing.T, s *docker.Source) *docker.Index {
	t.Helper()
	x := docker.NewIndex(s, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); x.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "the index is live", func() bool { return x.Live() })
	return x
}

// eventually polls cond for up to 10 s: the index learns of changes from
// the daemon's event stream, a few milliseconds after they are made.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIndexResolvesNamesAndIDsFromMemory(t *testing.T) {
	s, d := newSource(t)
	name := dockertest.UniqueName("docker-index")
	id := d.BuildLabelled(t, name, labels)
	hex := strings.TrimPrefix(id, "sha256:")
	x := runIndex(t, s)
	// Built before the index started: the first load must have it.
	for _, ref := range []string{name, name + ":latest", "docker.io/library/" + name + ":latest", id, hex, hex[:12]} {
		got, err := x.Resolve(ctxFor(t), ref)
		if err != nil || got != id {
			t.Errorf("Resolve(%q) = %q, %v; want %q", ref, got, err, id)
		}
	}
	// Not in the list: answered from memory, without asking the daemon,
	// which would have found the container.
	ctr := d.CreateContainer(t, id)
	for _, ref := range []string{dockertest.UniqueName("docker-index-absent"), name + ":other", ctr} {
		if got, err := x.Resolve(ctxFor(t), ref); !errors.Is(err, docker.ErrNotIndexed) {
			t.Errorf("Resolve(%q) = %q, %v; want ErrNotIndexed", ref, got, err)
		}
	}
}

func TestIndexFollowsTagsAndRemovals(t *testing.T) {
	s, d := newSource(t)
	name := dockertest.UniqueName("docker-index-tags")
	id := d.BuildLabelled(t, name, labels)
	x := runIndex(t, s)
	ctx := ctxFor(t)

	tag := dockertest.UniqueName("docker-index-new") + ":v1"
	if err := d.Client.ImageTag(ctx, id, tag); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = d.Client.ImageRemove(context.Background(), tag, image.RemoveOptions{}) })
	eventually(t, "a new tag resolves", func() bool {
		got, err := x.Resolve(ctx, tag)
		return err == nil && got == id
	})

	if _, err := d.Client.ImageRemove(ctx, tag, image.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a removed tag no longer resolves", func() bool {
		_, err := x.Resolve(ctx, tag)
		return errors.Is(err, docker.ErrNotIndexed)
	})
	if got, err := x.Resolve(ctx, name); err != nil || got != id {
		t.Errorf("the image's other tag: Resolve(%q) = %q, %v; want %q", name, got, err, id)
	}
}

func TestIndexAsksTheDaemonUntilLive(t *testing.T) {
	s, d := newSource(t)
	name := dockertest.UniqueName("docker-index-cold")
	id := d.BuildLabelled(t, name, labels)
	ctr := d.CreateContainer(t, id)
	x := docker.NewIndex(s, zerolog.Nop()) // not run: never live
	if x.Live() {
		t.Fatal("an index that has not loaded says it is live")
	}
	// The daemon's answer, container included, as without an index.
	for _, ref := range []string{name, ctr} {
		if got, err := x.Resolve(ctxFor(t), ref); err != nil || got != id {
			t.Errorf("Resolve(%q) = %q, %v; want %q", ref, got, err, id)
		}
	}
}

func TestIndexWithoutADaemonIsNotLive(t *testing.T) {
	// No daemon listens there: the event stream fails, and Resolve says
	// what the daemon's client says rather than "not indexed".
	sock := filepath.Join(t.TempDir(), "absent.sock")
	s, err := docker.New(client.WithHost("unix://"+sock), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	x := docker.NewIndex(s, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); x.Run(ctx) }()
	time.Sleep(300 * time.Millisecond)
	if x.Live() {
		t.Error("an index of an unreachable daemon says it is live")
	}
	_, rerr := x.Resolve(ctxFor(t), "anything")
	if rerr == nil || errors.Is(rerr, docker.ErrNotIndexed) {
		t.Errorf("Resolve with the daemon down = %v; want the daemon's error", rerr)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestIndexStreamOutlivesTheRequestTimeout(t *testing.T) {
	// The Source's requests time out after 300 ms: the event stream must
	// not, or the index would go cold and subscribe again each time.
	s, d := newSource(t, client.WithTimeout(300*time.Millisecond))
	name := dockertest.UniqueName("docker-index-long")
	id := d.BuildLabelled(t, name, labels)
	x := runIndex(t, s)
	time.Sleep(1500 * time.Millisecond)
	if n := x.Subscriptions(); n != 1 || !x.Live() {
		t.Errorf("after 1.5 s: %d subscriptions, live %v; want 1, true", n, x.Live())
	}
	if got, err := x.Resolve(ctxFor(t), name); err != nil || got != id {
		t.Errorf("Resolve(%q) = %q, %v; want %q", name, got, err, id)
	}
}
