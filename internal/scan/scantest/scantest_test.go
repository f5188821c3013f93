package scantest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

func TestLabelSource(t *testing.T) {
	s := NewLabelSource()
	s.Add("app:1", map[string]string{"git-url": "u"})
	img, err := s.Inspect(context.Background(), "app:1")
	if err != nil || img.ID != ImageID || img.Labels["git-url"] != "u" {
		t.Fatalf("Inspect = %+v, %v", img, err)
	}
	if _, err := s.Inspect(context.Background(), "nope"); !errors.Is(err, scan.ErrImageNotFound) {
		t.Errorf("missing image: %v, want ErrImageNotFound", err)
	}

	open := s.Gate(t, "app:1")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Inspect(ctx, "app:1"); !errors.Is(err, scan.ErrDaemonUnavailable) {
		t.Errorf("gated inspection past its deadline: %v, want ErrDaemonUnavailable", err)
	}
	open()
	if _, err := s.Inspect(context.Background(), "app:1"); err != nil {
		t.Errorf("after the gate opened: %v", err)
	}
	if n := s.Inspections("app:1"); n != 3 {
		t.Errorf("%d inspections, want 3", n)
	}
}

func TestAddImageAndFailNext(t *testing.T) {
	src := NewLabelSource()
	img := scan.Image{ID: "sha256:" + strings.Repeat("cd", 32), Labels: map[string]string{"a": "b"}}
	src.AddImage(img, "name", "name:tag")
	down := fmt.Errorf("%w: ping", scan.ErrDaemonUnavailable)
	src.FailNext(down)
	if _, err := src.Inspect(t.Context(), "name"); !errors.Is(err, down) {
		t.Errorf("first inspection = %v, want the injected failure", err)
	}
	for _, ref := range []string{"name", "name:tag"} {
		if got, err := src.Inspect(t.Context(), ref); err != nil || got.ID != img.ID {
			t.Errorf("Inspect(%q) = %+v, %v; want the added image", ref, got, err)
		}
	}
	if n := src.AllInspections(); n != 3 {
		t.Errorf("AllInspections = %d, want 3", n)
	}
}
