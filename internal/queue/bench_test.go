package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/redact"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// BenchmarkSubmitAndComplete measures the store's throughput end to end:
// b.N scans submitted at once and run to success by one store with the
// default 4 workers, each registering with a real (local) analytics
// emulator. It reports scans/s; the store's own overhead dominates, since
// the fake label source and the emulator answer in microseconds.
func BenchmarkSubmitAndComplete(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			env := newTestEnv(b, backend)
			s := env.start(func(c *Config) {
				c.Workers = benchWorkers()
				c.MaxQueueDepth = b.N + 1
				c.Log = zerolog.Nop()
			})
			images := make([]string, b.N)
			for i := range images {
				images[i] = fmt.Sprintf("bench/image-%d", i)
				env.image(images[i])
			}
			ctx := context.Background()

			b.ResetTimer()
			start := time.Now()
			ids := make([]string, b.N)
			for i, image := range images {
				rec, _, err := s.Submit(ctx, scan.Request{Image: image})
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = rec.ID
			}
			for _, id := range ids {
				waitCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
				rec, err := s.Wait(waitCtx, id)
				cancel()
				if err != nil || rec.Status != scan.StatusSucceeded {
					b.Fatalf("scan %s: %s, %v", id, rec.Status, err)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "scans/s")
		})
	}
}

// BenchmarkSubmit is the accept's transaction alone, with no workers
// running: the duplicate lookup, the depth check, River's job insert and
// the record insert, committed. Each submission is of a new image, so every
// one creates a record.
func BenchmarkSubmit(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			env := newTestEnv(b, backend)
			s := env.open(func(c *Config) {
				c.MaxQueueDepth = 1 << 30
				c.Log = zerolog.Nop()
			})
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				_, created, err := s.Submit(ctx, scan.Request{Image: fmt.Sprintf("bench/submit-%d", i)})
				if err != nil || !created {
					b.Fatalf("Submit: created %v, %v", created, err)
				}
			}
		})
	}
}

// BenchmarkSubmitConcurrent is the accept path under load: 32 callers
// submitting new images at once, as the HTTP handlers of a busy server do,
// with no workers running. Concurrent submissions share transactions (see
// groupcommit.go), so this is where their cost per submission shows.
func BenchmarkSubmitConcurrent(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			env := newTestEnv(b, backend)
			s := env.open(func(c *Config) {
				c.MaxQueueDepth = 1 << 30
				c.Log = zerolog.Nop()
			})
			ctx := context.Background()
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16) // x GOMAXPROCS callers
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					image := fmt.Sprintf("bench/concurrent-%d", n.Add(1))
					if _, created, err := s.Submit(ctx, scan.Request{Image: image}); err != nil || !created {
						b.Errorf("Submit: created %v, %v", created, err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkEncodeResult is a finished scan's result made the text stored
// in its record, scrubbed of a configured secret.
func BenchmarkEncodeResult(b *testing.B) {
	s := &Store{cfg: Config{Scrub: redact.New("analytics-token-0123456789")}}
	result := scan.Result{
		ScanType: "register", UUID: "0192d4b0-7c9e-7f00-8000-000000000001", Successful: true,
		ScanResults: scan.ScanResults{EmailIDs: "dev@example.org", GitSHA: "0123456789abcdef0123456789abcdef01234567",
			GitURL: "https://github.com/example/app", ImageName: "registry.example.com/team/app:1.2.3",
			ServerURL: "https://analytics.example.com/api/v1/register"},
		StartTime: scan.Timestamp{Time: time.Now()}, FinishedTime: scan.Timestamp{Time: time.Now()},
		Summary: "registered", Scanner: "analytics-scanner",
		ServerResponse: &scan.ServerResponse{Status: 200, Summary: `{"status":"success"}`},
		LabelSources:   scan.Provenance{"git-url": "git-url", "git-sha": "git-sha", "email-ids": "email-ids"},
	}
	b.ReportAllocs()
	for b.Loop() {
		doc, lastErr, err := s.encodeResult(result)
		if err != nil || lastErr != "" || len(doc) < 200 {
			b.Fatalf("encodeResult: %d bytes, %q, %v", len(doc), lastErr, err)
		}
	}
}

// benchWorkers is SCANNER_BENCH_WORKERS, else the default.
func benchWorkers() int {
	if n, err := strconv.Atoi(os.Getenv("SCANNER_BENCH_WORKERS")); err == nil && n > 0 {
		return n
	}
	return DefaultWorkers
}

// BenchmarkList is GET /scan's read with listStored final scans stored,
// each with a result of the size a failed scan stores: the first page, the
// status filter, and a page deep down the list.
func BenchmarkList(b *testing.B) {
	const listStored = 20000
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			env := newTestEnv(b, backend)
			s := env.open(func(c *Config) {
				c.MaxQueueDepth = 1 << 30
				c.Log = zerolog.Nop()
			})
			ctx := context.Background()
			for i := 0; i < listStored; i += 1000 {
				reqs := make([]scan.Request, 1000)
				for j := range reqs {
					reqs[j] = scan.Request{Image: fmt.Sprintf("bench/list-%d", i+j)}
				}
				if _, err := s.SubmitMany(ctx, reqs); err != nil {
					b.Fatal(err)
				}
			}
			result, err := json.Marshal(scan.Result{Successful: false, ScanType: "register",
				Summary: "The image could not be read: no image or container on the daemon",
				Errors:  []string{"no image or container \"bench/list-0\" on the daemon: Error response from daemon: No such image"}})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.db.ExecContext(ctx, `UPDATE scans SET status = 'failed', result = $1, finished_at = updated_at`, string(result)); err != nil {
				b.Fatal(err)
			}
			deep, err := s.List(ctx, scan.Filter{Limit: scan.MaxListLimit})
			if err != nil {
				b.Fatal(err)
			}
			for range listStored / scan.MaxListLimit * 9 / 10 {
				if deep, err = s.List(ctx, scan.Filter{Limit: scan.MaxListLimit, Cursor: deep.NextCursor}); err != nil {
					b.Fatal(err)
				}
			}
			for name, f := range map[string]scan.Filter{
				"none":   {},
				"status": {Status: scan.StatusFailed},
				"deep":   {Cursor: deep.NextCursor},
			} {
				b.Run(name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						p, err := s.List(ctx, f)
						if err != nil || len(p.Scans) != scan.DefaultListLimit {
							b.Fatalf("List: %d scans, %v", len(p.Scans), err)
						}
					}
				})
			}
		})
	}
}
