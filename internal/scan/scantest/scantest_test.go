package scantest

import (
	"context"
	"errors"
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
