package main

import (
	"bytes"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if _, err := run(t.Context(), []string{"--version"}, func(string) string { return "" }, &stdout, &stderr); err != nil {
		t.Fatalf("--version: %v", err)
	}
	if got, want := stdout.String(), "bench "+version.Get().String()+"\n"; got != want {
		t.Errorf("--version printed %q, want %q", got, want)
	}
}
