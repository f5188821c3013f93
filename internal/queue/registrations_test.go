package queue

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// sameCommit makes refs one image whose labels name one repository and
// commit, as a daemon finds an image by its name and its ids.
func (env *testEnv) sameCommit(refs ...string) {
	env.source.AddImage(scan.Image{ID: "sha256:" + strings.Repeat("cd", 32), Names: refs[:1], Labels: map[string]string{
		scan.LabelGitURL:   "https://github.com/example/once",
		scan.LabelGitSHA:   "89abcdef0123456789abcdef0123456789abcdef",
		scan.LabelEmailIDs: "dev@example.com",
	}}, refs...)
}

// TestOneRegistrationPerCommit: scans of one image under several references,
// at once, register once; the others succeed naming that registration.
func TestOneRegistrationPerCommit(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		id := strings.Repeat("cd", 32)
		refs := []string{"example/once", "sha256:" + id, id, id[:12], id[:13], id[:20]}
		env.sameCommit(refs...)
		// The first registration takes a while, so that the other scans
		// find it under way and wait for it.
		env.emu.Script(emulator.EndpointRegister, emulator.Answer{Status: http.StatusOK, Delay: 500 * time.Millisecond,
			Body: `{"success": true, "summary": "registered"}`})
		s := env.start(func(c *Config) { c.Workers = 4 })
		// Without ResolveImage the references are told apart by their
		// text alone (the full id with and without sha256: excepted).
		var ids []string
		for _, ref := range refs {
			rec, _, err := s.Submit(context.Background(), scan.Request{Image: ref})
			if err != nil {
				t.Fatal(err)
			}
			if !contains(ids, rec.ID) {
				ids = append(ids, rec.ID)
			}
		}
		var registeredBy string
		reused := 0
		for _, id := range ids {
			rec := waitFinal(t, s, id)
			if rec.Status != scan.StatusSucceeded || rec.Result == nil || rec.Result.ServerResponse == nil {
				t.Fatalf("scan of %s: %s (%q), want succeeded with a server response", rec.Image, rec.Status, rec.LastError)
			}
			if rec.Attempts != 1 {
				t.Errorf("scan of %s took %d attempts; waiting for another's registration uses none", rec.Image, rec.Attempts)
			}
			if prior := rec.Result.ServerResponse.RegisteredBy; prior != nil {
				reused++
				if registeredBy != "" && prior.ScanID != registeredBy {
					t.Errorf("scan of %s names registration %s, another names %s", rec.Image, prior.ScanID, registeredBy)
				}
				registeredBy = prior.ScanID
				if prior.RegisteredAt.IsZero() || !strings.Contains(rec.Result.ServerResponse.Summary, prior.ScanID) {
					t.Errorf("scan of %s: server response %+v does not say when and by which scan", rec.Image, rec.Result.ServerResponse)
				}
			}
		}
		if regs := env.emu.Registrations(); len(regs) != 1 {
			t.Errorf("%d registrations of one commit, want 1", len(regs))
		}
		if reused != len(ids)-1 {
			t.Errorf("%d scans name an earlier registration, want %d", reused, len(ids)-1)
		}
		if registeredBy == "" || !contains(ids, registeredBy) {
			t.Errorf("the scans name registration %q, not one of theirs", registeredBy)
		}
	})
}

// TestReregisterAfter: once ReregisterAfter has passed, a commit registers
// again; a failed registration leaves the commit to the next scan.
func TestReregisterAfter(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		env.sameCommit("example/once", "example/again", "example/third")
		s := env.start(func(c *Config) { c.ReregisterAfter = 300 * time.Millisecond })
		env.emu.FailNext(1, http.StatusBadRequest)
		if rec := waitFinal(t, s, submit(t, s, "example/once").ID); rec.Status != scan.StatusFailed {
			t.Fatalf("first scan %s, want failed by the 400", rec.Status)
		}
		first := waitFinal(t, s, submit(t, s, "example/again").ID)
		if first.Status != scan.StatusSucceeded || first.Result.ServerResponse.RegisteredBy != nil {
			t.Fatalf("scan after a failed registration: %s %+v, want registered itself", first.Status, first.Result.ServerResponse)
		}
		time.Sleep(400 * time.Millisecond)
		second := waitFinal(t, s, submit(t, s, "example/third").ID)
		if second.Status != scan.StatusSucceeded || second.Result.ServerResponse.RegisteredBy != nil {
			t.Fatalf("scan after REREGISTER_AFTER: %s %+v, want registered again", second.Status, second.Result.ServerResponse)
		}
		if regs := env.emu.Registrations(); len(regs) != 2 {
			t.Errorf("%d registrations, want 2", len(regs))
		}
		// The second registration stands for 300 ms, then is pruned.
		time.Sleep(400 * time.Millisecond)
		if err := s.pruneRegistrations(context.Background()); err != nil {
			t.Fatal(err)
		}
		var left int
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM registrations`).Scan(&left); err != nil || left != 0 {
			t.Errorf("%d registrations left after pruning (%v), want 0", left, err)
		}
	})
}

// TestReregisterOff: a negative ReregisterAfter sends every registration.
func TestReregisterOff(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		env.sameCommit("example/once", "example/again")
		s := env.start(func(c *Config) { c.ReregisterAfter = -1 })
		waitFinal(t, s, submit(t, s, "example/once").ID)
		waitFinal(t, s, submit(t, s, "example/again").ID)
		if regs := env.emu.Registrations(); len(regs) != 2 {
			t.Errorf("%d registrations, want 2", len(regs))
		}
	})
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestSubmitResolvesImageIDs: with ResolveImage, one image submitted under
// its name, its ids and id prefixes is one scan; a reference it cannot
// resolve keeps its own key.
func TestSubmitResolvesImageIDs(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		id := strings.Repeat("cd", 32)
		refs := []string{"example/once", "sha256:" + id, id, id[:12], id[:13], id[:20]}
		env.sameCommit(refs...)
		s := env.open(func(c *Config) {
			c.ResolveImage = func(ctx context.Context, source, ref string) (string, error) {
				img, err := env.source.Inspect(ctx, ref)
				return img.ID, err
			}
		})
		first := submit(t, s, refs[0])
		for _, ref := range refs[1:] {
			rec, created, err := s.Submit(context.Background(), scan.Request{Image: ref})
			if err != nil || created || rec.ID != first.ID {
				t.Errorf("Submit(%q) = %s, created %v, %v; want scan %s of the same image", ref, rec.ID, created, err, first.ID)
			}
		}
		// Not in the source: its own scan, which the worker will fail.
		if _, created, err := s.Submit(context.Background(), scan.Request{Image: "example/missing"}); err != nil || !created {
			t.Errorf("Submit(missing) created %v, %v; want a scan of its own", created, err)
		}
	})
}
