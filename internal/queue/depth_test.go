package queue

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// MAX_QUEUE_DEPTH holds exactly under concurrent submissions: 300 distinct
// images submitted 64 at a time to a queue of 50 (no workers, so nothing
// leaves it) get exactly 50 accepted, the rest queue_full.
func TestMaxQueueDepthIsExactUnderConcurrency(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		const (
			limit       = 50
			submissions = 300
			concurrency = 64
		)
		s := env.open(func(c *Config) { c.MaxQueueDepth = limit })
		var accepted, full atomic.Int32
		next := make(chan int)
		var wg sync.WaitGroup
		for range concurrency {
			wg.Go(func() {
				for i := range next {
					_, _, err := s.Submit(context.Background(), scan.Request{Image: fmt.Sprintf("example/depth-%d", i)})
					switch {
					case err == nil:
						accepted.Add(1)
					case scan.ErrorCode(err) == scan.EQueueFull:
						full.Add(1)
					default:
						t.Errorf("Submit %d: %v", i, err)
					}
				}
			})
		}
		for i := range submissions {
			next <- i
		}
		close(next)
		wg.Wait()
		depth, err := s.QueueDepth(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if accepted.Load() != limit || depth != limit || full.Load() != submissions-limit {
			t.Errorf("%d accepted, %d refused as full, depth %d; want exactly %d accepted of %d", accepted.Load(), full.Load(), depth, limit, submissions)
		}
	})
}
