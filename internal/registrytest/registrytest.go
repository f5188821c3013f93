// Package registrytest gives tests a real registry: Debian's docker-registry
// (distribution 2.8) on a free loopback port, optionally notifying an
// endpoint of every event as a production registry would, and a push of a
// labelled image from the real Docker daemon.
package registrytest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// Binary is where Debian's docker-registry package puts the registry.
const Binary = "/usr/bin/docker-registry"

// Options configure a registry.
type Options struct {
	// NotifyURL, when set, receives the registry's notification envelopes
	// (its notifications.endpoints entry), with Token as a Bearer header.
	NotifyURL string
	Token     string
}

// Registry is a running docker-registry.
type Registry struct {
	// Host is its "127.0.0.1:port".
	Host string
	// Dir holds its config.yml, data and registry.log.
	Dir string
}

// Start runs a registry for the test, stopped when it ends. Without the
// binary the test skips by hand (and under -short) and fails in CI.
func Start(tb testing.TB, opts Options) *Registry {
	tb.Helper()
	_, err := os.Stat(Binary)
	testenv.Require(tb, "docker-registry ("+Binary+", Debian package docker-registry)", err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := &Registry{Host: addr, Dir: tb.TempDir()}
	cfg := fmt.Sprintf("version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %s}, maintenance: {uploadpurging: {enabled: false}}}\nhttp: {addr: %s}\n",
		strconv.Quote(filepath.Join(r.Dir, "data")), strconv.Quote(addr))
	if opts.NotifyURL != "" {
		// The same settings as the README's snippet, with a short backoff
		// so that a test sees a retried delivery within seconds.
		cfg += fmt.Sprintf("notifications:\n  endpoints:\n    - name: scanner\n      url: %s\n      timeout: 3s\n      threshold: 5\n      backoff: 1s\n",
			strconv.Quote(opts.NotifyURL))
		if opts.Token != "" {
			cfg += fmt.Sprintf("      headers:\n        Authorization: [%s]\n", strconv.Quote("Bearer "+opts.Token))
		}
	}
	if err := os.WriteFile(r.ConfigPath(), []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	logf, err := os.Create(r.LogPath())
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(Binary, "serve", r.ConfigPath())
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(r.LogPath())
			tb.Fatalf("docker-registry did not answer on %s: %v\n%s", addr, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ConfigPath is the registry's config.yml.
func (r *Registry) ConfigPath() string { return filepath.Join(r.Dir, "config.yml") }

// LogPath is the registry's log.
func (r *Registry) LogPath() string { return filepath.Join(r.Dir, "registry.log") }

// Push pushes ref, an image on the daemon named in the registry, and
// returns the manifest digest the daemon reports.
func Push(t testing.TB, d *dockertest.Daemon, ref string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The daemon wants some auth header even for a registry without auth.
	rc, err := d.Client.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: base64.URLEncoding.EncodeToString([]byte("{}"))})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	digest := ""
	for {
		var msg struct {
			Error string `json:"error"`
			Aux   struct {
				Digest string `json:"Digest"`
			} `json:"aux"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
		if msg.Error != "" {
			t.Fatalf("push %s: %s", ref, msg.Error)
		}
		if msg.Aux.Digest != "" {
			digest = msg.Aux.Digest
		}
	}
	if digest == "" {
		t.Fatalf("push %s reported no digest", ref)
	}
	return digest
}
