// Package logtest collects the JSON log lines a server under test writes, so
// that tests can assert on them (request ids, access logs, no secrets).
package logtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is an io.Writer for a logger. The server's goroutines (or a child
// process's output copier) may write to it while the test reads it.
type Buffer struct {
	// Echo, when set, also shows each line in the test's output under
	// go test -v, until Stop: the logs of a failing test read in place.
	Echo testing.TB

	mu      sync.Mutex
	buf     bytes.Buffer
	stopped bool
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Echo != nil && !b.stopped && testing.Verbose() {
		b.Echo.Log(strings.TrimSpace(string(p)))
	}
	return b.buf.Write(p)
}

// Stop ends the echo: background goroutines may still log after the test
// ended, when testing.TB.Log would panic.
func (b *Buffer) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines decodes the log lines written so far, failing the test on a line
// that is not JSON: every line a zerolog logger writes is one event.
func (b *Buffer) Lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Bytes(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the log: %v", err)
	}
	return out
}

// WaitFor polls for up to 5 s until a line satisfies match, and returns it:
// some lines (an access log) are written after the answer has gone out.
func (b *Buffer) WaitFor(t testing.TB, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, l := range b.Lines(t) {
			if match(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %s in:\n%s", what, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
