package main

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// latencies is a sample of request latencies and how many of them failed.
type latencies struct {
	d      []time.Duration
	errors int
	// firstErr is kept to say why a run failed, not only how often.
	firstErr error
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100), or 0
// for an empty sample.
func (l latencies) percentile(p float64) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	rank := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(rank, len(s)-1))]
}

func (l latencies) max() time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	return slices.Max(l.d)
}

// openLoop calls do at rate per second for dur, each call in its own
// goroutine at its scheduled time, whether or not earlier calls have
// answered. A call's latency runs from its scheduled time, not from when it
// was actually sent: when the generator or the server falls behind, the
// delay counts against the server instead of silently lowering the rate
// (coordinated omission). do gets the call's sequence number.
func openLoop(ctx context.Context, rate float64, dur time.Duration, do func(ctx context.Context, i int) error) latencies {
	n := int(rate * dur.Seconds())
	lat := make([]time.Duration, n)
	failed := make([]error, n)
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	start := time.Now()
	sent := 0
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			// Sleep only to the next due call; calls already due go out
			// back to back.
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		sent++
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			failed[i] = do(ctx, i)
			lat[i] = time.Since(at)
		}(i, at)
	}
	wg.Wait()
	out := latencies{d: lat[:sent]}
	for _, err := range failed[:sent] {
		if err != nil {
			out.errors++
			if out.firstErr == nil {
				out.firstErr = err
			}
		}
	}
	return out
}

// closedLoop runs n calls of do with conc callers, each starting its next
// call when the previous one answers, and returns the wall time and the
// errors. It stops early when ctx ends.
func closedLoop(ctx context.Context, conc, n int, do func(ctx context.Context, i int) error) (time.Duration, latencies) {
	var next atomic.Int64
	var mu sync.Mutex
	var out latencies
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				err := do(ctx, i)
				d := time.Since(t)
				mu.Lock()
				out.d = append(out.d, d)
				if err != nil {
					out.errors++
					if out.firstErr == nil {
						out.firstErr = err
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return time.Since(start), out
}

// forDuration runs do with conc callers back to back for dur and returns how
// many calls succeeded per second, and the errors.
func forDuration(ctx context.Context, conc int, dur time.Duration, do func(ctx context.Context, i int) error) (float64, latencies) {
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var next, ok atomic.Int64
	var mu sync.Mutex
	var out latencies
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				err := do(ctx, i)
				if err == nil {
					ok.Add(1)
					continue
				}
				if ctx.Err() != nil {
					return // the call cut short by the end of the run
				}
				mu.Lock()
				out.errors++
				if out.firstErr == nil {
					out.firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds(), out
}
