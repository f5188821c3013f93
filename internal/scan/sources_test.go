package scan_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/scan/scantest"
)

// A target naming a source is read from that source only; one the scanner
// does not have fails at once, without a registration or a retry.
func TestTargetSourcePicksTheLabelSource(t *testing.T) {
	srv := newAnalyticsServer(t)
	srv.always(emulator.EndpointRegister, http.StatusOK, registered)
	daemon := seedImage(scan.GoodLabels())
	reg := scantest.NewLabelSource()
	const ref = "registry.example/team/app@sha256:" + seedHex
	origin := scan.Origin{Source: scan.SourceRegistry, Reference: ref, Digest: "sha256:" + seedHex,
		ManifestDigest: "sha256:" + strings.Repeat("b", 64), Platform: "linux/amd64"}
	reg.AddImage(scan.Image{ID: "sha256:" + strings.Repeat("c", 64), Names: []string{ref}, Labels: scan.GoodLabels(), Origin: origin}, ref)
	s := newScanner(t, daemon, srv, fast)
	s.Sources = map[string]scan.LabelSource{scan.SourceDaemon: daemon, scan.SourceRegistry: reg}

	r := s.Scan(context.Background(), scan.Target{Ref: ref, Source: scan.SourceRegistry})
	if !r.Successful {
		t.Fatalf("registry scan failed: %v", r.Errors)
	}
	if reg.Inspections(ref) != 1 || daemon.AllInspections() != 0 {
		t.Errorf("inspections: registry %d, daemon %d; want 1 and 0", reg.Inspections(ref), daemon.AllInspections())
	}
	want := scan.ResultImage{ID: "sha256:" + strings.Repeat("c", 64), Origin: origin}
	if r.Image == nil || *r.Image != want {
		t.Errorf("result image = %+v, want %+v", r.Image, want)
	}

	s.Sources = map[string]scan.LabelSource{scan.SourceDaemon: daemon}
	a := s.Attempt(context.Background(), scan.Target{Ref: ref, Source: scan.SourceRegistry})
	if a.Succeeded() || a.Retryable() || len(a.Errors) != 1 || !errors.Is(a.Errors[0], scan.ErrSourceNotEnabled) {
		t.Errorf("attempt with a source not enabled: errors %v, retryable %v; want one final ErrSourceNotEnabled", a.Errors, a.Retryable())
	}
	if n := len(srv.calls(emulator.EndpointRegister)); n != 1 {
		t.Errorf("%d registrations, want only the first scan's", n)
	}
}

// The provenance keys stand in for missing labels whatever the source, the
// daemon's too, and the result names the key each value came from.
func TestProvenanceKeysFillMissingLabels(t *testing.T) {
	srv := newAnalyticsServer(t)
	srv.always(emulator.EndpointRegister, http.StatusOK, registered)
	src := seedImage(map[string]string{
		scan.KeyOCISource:     "https://github.com/example/app",
		scan.KeySchemaVCSRef:  "0123abc",
		scan.LabelEmailIDs:    "dev@example.org",
		scan.KeyOCIAuthors:    "ignored@example.org",
		scan.KeyOpenShiftSHA:  "not-used",
		"unrelated.label.key": "x",
	})
	s := newScanner(t, src, srv, fast)

	r := s.Scan(context.Background(), scan.Target{Ref: "nshaikh/test_label"})
	if !r.Successful {
		t.Fatalf("scan failed: %v", r.Errors)
	}
	wantSources := scan.Provenance{scan.LabelGitURL: scan.KeyOCISource, scan.LabelGitSHA: scan.KeySchemaVCSRef, scan.LabelEmailIDs: scan.LabelEmailIDs}
	if fmt.Sprint(r.LabelSources) != fmt.Sprint(wantSources) {
		t.Errorf("label sources = %v, want %v", r.LabelSources, wantSources)
	}
	regs := srv.calls(emulator.EndpointRegister)
	if len(regs) != 1 || regs[0].Body["git-url"] != "https://github.com/example/app" || regs[0].Body["git-sha"] != "0123abc" {
		t.Fatalf("registrations = %+v, want one with the OCI source and the label-schema ref", regs)
	}

	// With the fallback turned off, the same image misses two labels.
	keys, err := scan.ParseLabelKeys("git-url=;git-sha=")
	if err != nil {
		t.Fatal(err)
	}
	s.LabelKeys = keys
	r = s.Scan(context.Background(), scan.Target{Ref: "nshaikh/test_label"})
	if r.Successful || len(r.Errors) < 2 || r.Errors[0] != "label git-url is missing" || r.Errors[1] != "label git-sha is missing" {
		t.Errorf("without fallback: successful %v, errors %v; want git-url and git-sha missing", r.Successful, r.Errors)
	}
}

// A registry that cannot answer now is worth retrying, like a daemon.
func TestRegistryUnavailableIsRetried(t *testing.T) {
	srv := newAnalyticsServer(t)
	srv.always(emulator.EndpointRegister, http.StatusOK, registered)
	src := seedImage(scan.GoodLabels())
	src.FailNext(fmt.Errorf("%w: registry.example: 503", scan.ErrRegistryUnavailable))
	s := newScanner(t, src, srv, fast)

	r := s.Scan(context.Background(), scan.Target{Ref: "nshaikh/test_label"})
	if !r.Successful || src.AllInspections() != 2 {
		t.Errorf("successful %v after %d inspections (errors %v); want success on the second", r.Successful, src.AllInspections(), r.Errors)
	}
}
