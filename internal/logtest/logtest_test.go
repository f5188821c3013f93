package logtest

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestLinesAndWaitFor(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { fmt.Fprintf(&b, "{\"n\":%d,\"message\":\"hello\"}\n", i) })
	}
	wg.Wait()
	if got := len(b.Lines(t)); got != 20 {
		t.Fatalf("%d lines, want 20", got)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintln(&b, `{"message":"late"}`)
	}()
	if l := b.WaitFor(t, "late", func(m map[string]any) bool { return m["message"] == "late" }); l == nil {
		t.Fatal("WaitFor returned nil")
	}
}
