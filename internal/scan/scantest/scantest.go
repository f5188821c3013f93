// Package scantest has an in-memory scan.LabelSource for tests of the
// service's logic (queue, store, API), where the Docker daemon is not the
// point; the Docker-backed source is tested against a real daemon.
package scantest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// ImageID is the id of every image a LabelSource holds.
var ImageID = "sha256:" + strings.Repeat("ab", 32)

// LabelSource is an in-memory scan.LabelSource. An image can be gated: its
// inspection then waits until the gate opens or its context ends, which
// holds its scan running. It is safe for concurrent use.
type LabelSource struct {
	mu     sync.Mutex
	images map[string]scan.Image
	gates  map[string]chan struct{}
	calls  map[string]int
	// failures are returned by the next inspections, one each, in order.
	failures []error
}

var _ scan.LabelSource = (*LabelSource)(nil)

// NewLabelSource returns an empty source.
func NewLabelSource() *LabelSource {
	return &LabelSource{images: map[string]scan.Image{}, gates: map[string]chan struct{}{}, calls: map[string]int{}}
}

// Add makes ref an image (named ref, id ImageID) with labels.
func (s *LabelSource) Add(ref string, labels map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.images[ref] = scan.Image{ID: ImageID, Names: []string{ref}, Labels: labels}
}

// AddImage makes img reachable by each of refs (a name, a tag, its id...),
// as the daemon finds one image by any of them.
func (s *LabelSource) AddImage(img scan.Image, refs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ref := range refs {
		s.images[ref] = img
	}
}

// FailNext makes the next len(errs) inspections, whatever their ref, fail
// with errs in order: a daemon that is down for a while, say.
func (s *LabelSource) FailNext(errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, errs...)
}

// Gate holds inspections of ref until the returned function is called; it
// is also called when the test ends, so that no scan stays held.
func (s *LabelSource) Gate(t testing.TB, ref string) (open func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.gates[ref] = ch
	var once sync.Once
	open = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(open)
	return open
}

// Inspect returns the image added as ref, after its gate opens; a context
// that ends first makes the daemon look unavailable, as a real one would.
// A context already done, or a failure FailNext asked for, fails at once.
func (s *LabelSource) Inspect(ctx context.Context, ref string) (scan.Image, error) {
	s.mu.Lock()
	s.calls[ref]++
	img, ok := s.images[ref]
	gate := s.gates[ref]
	var failure error
	if len(s.failures) > 0 {
		failure, s.failures = s.failures[0], s.failures[1:]
	}
	s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return scan.Image{}, fmt.Errorf("%w: %w", scan.ErrDaemonUnavailable, err)
	}
	if failure != nil {
		return scan.Image{}, failure
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return scan.Image{}, fmt.Errorf("%w: %w", scan.ErrDaemonUnavailable, ctx.Err())
		}
	}
	if !ok {
		return scan.Image{}, fmt.Errorf("%w: no image %q", scan.ErrImageNotFound, ref)
	}
	return img, nil
}

// AllInspections counts the inspections of any ref so far.
func (s *LabelSource) AllInspections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// Inspections counts the inspections of ref so far.
func (s *LabelSource) Inspections(ref string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[ref]
}
