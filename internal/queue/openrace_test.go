package queue

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Variables that turn this test binary into one of the processes of
// TestConcurrentOpenAcrossProcesses.
const (
	openChildDir   = "SCANNER_QUEUE_TEST_OPEN_DIR"
	openChildStart = "SCANNER_QUEUE_TEST_OPEN_AT"
)

// Processes started together on a data directory with no database yet all
// open it: the first creates and migrates it, the others wait for the lock
// beside it and find the work done. Without the lock, SQLite answers one of
// them SQLITE_BUSY (switching the new file to WAL, or River's migration).
// go test -run TestConcurrentOpen -count=50 runs it 50 times.
func TestConcurrentOpenAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; not a -short test")
	}
	const processes = 8
	for round := range 3 {
		dir := filepath.Join(t.TempDir(), "data")
		// One moment for all, well after they have started, so that they
		// reach Open together rather than in start-up order.
		at := time.Now().Add(300 * time.Millisecond).UnixNano()
		var wg sync.WaitGroup
		outs := make([][]byte, processes)
		errs := make([]error, processes)
		for i := range processes {
			wg.Go(func() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestOpenChildProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), openChildDir+"="+dir, openChildStart+"="+strconv.FormatInt(at, 10))
				outs[i], errs[i] = cmd.CombinedOutput()
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, process %d: %v\n%s", round, i, err, outs[i])
			}
		}
		if t.Failed() {
			return
		}
		// And the database they made is whole.
		s, err := Open(context.Background(), Config{DataDir: dir, ScannerFor: noScanner})
		if err != nil {
			t.Fatalf("round %d: open after the processes: %v", round, err)
		}
		if _, err := s.QueueDepth(context.Background()); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		closeStore(t, s)
	}
}

func noScanner(string) (*scan.Scanner, error) { return nil, fmt.Errorf("no scans here") }

// TestOpenChildProcess is one process of TestConcurrentOpenAcrossProcesses;
// run directly, it does nothing.
func TestOpenChildProcess(t *testing.T) {
	dir := os.Getenv(openChildDir)
	if dir == "" {
		t.Skip("a helper process of TestConcurrentOpenAcrossProcesses")
	}
	at, err := strconv.ParseInt(os.Getenv(openChildStart), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(time.Unix(0, at)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{DataDir: dir, ScannerFor: noScanner})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}
