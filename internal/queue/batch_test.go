package queue

import (
	"context"
	"strings"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// pushedImage adds an image as the registry source finds it: by digest
// reference, with its origin.
func (env *testEnv) pushedImage(ref, platform string) scan.Origin {
	repo, digest, _ := strings.Cut(ref, "@")
	origin := scan.Origin{Source: scan.SourceRegistry, Reference: ref, Digest: digest,
		ManifestDigest: "sha256:" + strings.Repeat("e", 64), Platform: platform}
	env.source.AddImage(scan.Image{ID: "sha256:" + strings.Repeat("c", 64), Names: []string{ref},
		Labels: map[string]string{
			scan.KeyOCISource:   "https://github.com/example/" + strings.ReplaceAll(repo, "/", "-"),
			scan.KeyOCIRevision: "0123456789abcdef0123456789abcdef01234567",
			scan.LabelEmailIDs:  "dev@example.com",
		}, Origin: origin}, ref)
	return origin
}

func countScans(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM scans`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSubmitManyQueuesEachDigestOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		ctx := context.Background()
		s := env.open()
		refA := "registry.example:5000/team/a@sha256:" + strings.Repeat("a", 64)
		refB := "registry.example:5000/team/b@sha256:" + strings.Repeat("b", 64)
		originA := env.pushedImage(refA, "linux/amd64")
		env.pushedImage(refB, "")
		reqs := []scan.Request{
			{Image: refA, Source: scan.SourceRegistry, Name: "registry.example:5000/team/a:1"},
			{Image: refB, Source: scan.SourceRegistry},
			{Image: refA, Source: scan.SourceRegistry, Name: "registry.example:5000/team/a:latest"},
		}

		subs, err := s.SubmitMany(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		if len(subs) != 3 || !subs[0].Created || !subs[1].Created || subs[2].Created || subs[2].Record.ID != subs[0].Record.ID {
			t.Fatalf("submissions = %+v; want a and b created, the second a standing for the first", subs)
		}
		if subs[0].Record.Source != scan.SourceRegistry || subs[0].Record.Status != scan.StatusQueued {
			t.Errorf("record = %+v, want a queued registry scan", subs[0].Record)
		}

		// A repeated delivery changes nothing.
		again, err := s.SubmitMany(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		for i, sub := range again {
			if sub.Created || sub.Record.ID != subs[i].Record.ID {
				t.Errorf("redelivery %d = %s created %v, want %s not created", i, sub.Record.ID, sub.Created, subs[i].Record.ID)
			}
		}
		if n := countScans(t, s); n != 2 {
			t.Fatalf("%d scans stored, want 2", n)
		}

		// The same reference from the daemon is another image, so another scan.
		if _, created, err := s.Submit(ctx, scan.Request{Image: refA, Source: scan.SourceDaemon}); err != nil || !created {
			t.Errorf("Submit(daemon) created %v, %v; want a new scan", created, err)
		}

		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		rec := waitFinal(t, s, subs[0].Record.ID)
		if rec.Status != scan.StatusSucceeded {
			t.Fatalf("scan of a: %s (%s)", rec.Status, rec.LastError)
		}
		if rec.ImageID != "sha256:"+strings.Repeat("c", 64) || rec.Digest != originA.Digest ||
			rec.ManifestDigest != originA.ManifestDigest || rec.Platform != "linux/amd64" || rec.Source != scan.SourceRegistry {
			t.Errorf("record = %+v; want the image id, digests and platform of %+v", rec, originA)
		}
		if rec.Result == nil || rec.Result.ScanResults.ImageName != "registry.example:5000/team/a:1" ||
			rec.Result.LabelSources[scan.LabelGitURL] != scan.KeyOCISource {
			t.Errorf("result = %+v; want the tag as the image name and git-url from %s", rec.Result, scan.KeyOCISource)
		}

		// Once scanned, a digest is not scanned again by a notification;
		// a user may still ask for it.
		later, err := s.SubmitMany(ctx, reqs[:1])
		if err != nil || later[0].Created || later[0].Record.ID != rec.ID {
			t.Errorf("SubmitMany(scanned) = %+v, %v; want the finished scan %s", later, err, rec.ID)
		}
		if _, created, err := s.Submit(ctx, scan.Request{Image: refA, Source: scan.SourceRegistry}); err != nil || !created {
			t.Errorf("Submit(scanned digest) created %v, %v; want a new scan", created, err)
		}
	})
}

// All or nothing: a batch that does not fit in the queue, or holds a bad
// request, stores nothing.
func TestSubmitManyIsAllOrNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		ctx := context.Background()
		s := env.open(func(c *Config) { c.MaxQueueDepth = 2 })
		var reqs []scan.Request
		for _, c := range "abc" {
			reqs = append(reqs, scan.Request{Image: "registry.example/x@sha256:" + strings.Repeat(string(c), 64), Source: scan.SourceRegistry})
		}
		_, err := s.SubmitMany(ctx, reqs)
		wantCode(t, err, scan.EQueueFull)
		if n := countScans(t, s); n != 0 {
			t.Errorf("%d scans stored after a refused batch, want 0", n)
		}

		_, err = s.SubmitMany(ctx, []scan.Request{reqs[0], {Image: reqs[1].Image, Source: "floppy"}})
		wantCode(t, err, scan.EInvalid)
		if n := countScans(t, s); n != 0 {
			t.Errorf("%d scans stored after a batch with a bad request, want 0", n)
		}
		if subs, err := s.SubmitMany(ctx, reqs[:2]); err != nil || len(subs) != 2 {
			t.Errorf("SubmitMany(2) = %+v, %v; want two scans", subs, err)
		}
	})
}
