package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// seedBatch is the pushes of one notification: the most a registry sends
// in one envelope that the service takes (hooks.MaxEvents is 1,000).
const seedBatch = 1000

// seedNotifiers is how many notifications are in flight at once.
const seedNotifiers = 4

// emptyRegistry is a registry on loopback that holds nothing: the pushes
// the suite notifies the service of name it, and each of their scans fails
// at its 404, as a scan of an absent image fails at the daemon's.
type emptyRegistry struct {
	host string
	srv  *http.Server
}

func startEmptyRegistry() (*emptyRegistry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &emptyRegistry{host: ln.Addr().String(), srv: &http.Server{
		Handler:           ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
	}}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *emptyRegistry) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

// hookToken is a fresh SCANNER_HOOK_TOKEN for a server that is to take
// registry notifications.
func hookToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// seeded is what a seeding stored.
type seeded struct {
	stored atomic.Int64
	// probe is the image of a scan from the middle of the seeding, or
	// the last stored when it was cut short before the middle.
	mu           sync.Mutex
	probe, last  string
	probeFromMid bool
}

func (s *seeded) add(images []string, fromMid bool) {
	s.stored.Add(int64(len(images)))
	if len(images) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = images[len(images)-1]
	if fromMid && !s.probeFromMid {
		s.probe, s.probeFromMid = images[len(images)/2], true
	}
}

func (s *seeded) probeImage() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probeFromMid {
		return s.probe
	}
	return s.last
}

// notifyPushes sends one distribution notification of n pushes to the
// registry at host, numbered from first, each a manifest of a digest of
// its own under a tag of its own, and returns the images of the scans the
// service queued for them.
func (s *suite) notifyPushes(ctx context.Context, api *apiClient, token, host string, first, n int) ([]string, error) {
	type target struct {
		MediaType  string `json:"mediaType"`
		Digest     string `json:"digest"`
		Repository string `json:"repository"`
		Tag        string `json:"tag"`
	}
	type event struct {
		ID      string            `json:"id"`
		Action  string            `json:"action"`
		Target  target            `json:"target"`
		Request map[string]string `json:"request"`
	}
	events := make([]event, n)
	repo := fmt.Sprintf("analytics-scanner-bench-%d/pushed", os.Getpid())
	for k := range events {
		i := first + k
		sum := sha256.Sum256(fmt.Appendf(nil, "%s %d", repo, i))
		events[k] = event{
			ID: fmt.Sprintf("bench-%d", i), Action: "push",
			Target: target{MediaType: "application/vnd.oci.image.manifest.v1+json",
				Digest: "sha256:" + hex.EncodeToString(sum[:]), Repository: repo, Tag: fmt.Sprintf("p%08d", i)},
			Request: map[string]string{"host": host},
		}
	}
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api.base+"/hooks/distribution", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v1+json")
	req.Header.Set("Authorization", "Bearer "+token)
	var answer struct {
		Enqueued int `json:"enqueued"`
		Scans    []struct {
			Image   string `json:"image"`
			Created bool   `json:"created"`
		} `json:"scans"`
	}
	if err := api.do(req, &answer, http.StatusAccepted); err != nil {
		return nil, err
	}
	if answer.Enqueued != n {
		return nil, fmt.Errorf("a notification of %d pushes queued %d scans", n, answer.Enqueued)
	}
	images := make([]string, 0, n)
	for _, sc := range answer.Scans {
		images = append(images, sc.Image)
	}
	return images, nil
}
