package queue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

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
				c.Workers = DefaultWorkers
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
