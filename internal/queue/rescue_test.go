package queue

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Environment of the child process of TestKilledRunnerScanRunsAgain.
const (
	childDatabaseURL = "QUEUE_TEST_CHILD_DATABASE_URL"
	childDataDir     = "QUEUE_TEST_CHILD_DATA_DIR"
	childAnalytics   = "QUEUE_TEST_CHILD_ANALYTICS_URL"
	childToken       = "QUEUE_TEST_CHILD_TOKEN"
)

// TestKilledRunnerScanRunsAgain kills -9 a process in the middle of a scan
// (its inspection never returns) and checks that a live store runs the scan
// again as soon as the dead one's heartbeats stop, not after River's
// rescue delay (JobTimeout + 30 s, on a 30-second round).
func TestKilledRunnerScanRunsAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a process")
	}
	eachBackend(t, func(t *testing.T, env *testEnv) {
		env.image("example/orphan")
		submitter := env.open()
		rec := submit(t, submitter, "example/orphan")

		child := exec.Command(os.Args[0], "-test.run=^TestRescueChildProcess$")
		child.Env = append(os.Environ(), childDatabaseURL+"="+env.url, childDataDir+"="+env.dataDir,
			childAnalytics+"="+env.emuURL, childToken+"="+env.token)
		child.Stdout, child.Stderr = os.Stderr, os.Stderr
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
		running := waitStatus(t, submitter, rec.ID, scan.StatusRunning)
		if err := child.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = child.Wait()
		killed := time.Now()

		// A replica heartbeating every 250 ms, which deems a runner
		// silent for a second dead; the River rescue delay stays at its
		// default of 1m30s, so a pass can only come from the heartbeats.
		s := env.start(func(c *Config) { c.DeadAfter = time.Second })
		done := waitFinal(t, s, rec.ID)
		took := time.Since(killed)
		if done.Status != scan.StatusSucceeded || done.Attempts != running.Attempts+1 {
			t.Fatalf("record = %s after %d attempts (%q); want succeeded after %d", done.Status, done.Attempts, done.LastError, running.Attempts+1)
		}
		if took > 10*time.Second {
			t.Errorf("the orphaned scan ended %s after the kill, want within a few seconds", took)
		}
		if regs := env.emu.Registrations(); len(regs) != 1 {
			t.Errorf("%d registrations, want 1", len(regs))
		}
	})
}

// TestRescueChildProcess is the process TestKilledRunnerScanRunsAgain
// kills: a started store whose scans never get past inspection. It does
// nothing when run directly.
func TestRescueChildProcess(t *testing.T) {
	if os.Getenv(childDataDir) == "" {
		t.Skip("the child of TestKilledRunnerScanRunsAgain")
	}
	env := newTestEnv(t, "sqlite")
	env.url, env.dataDir, env.emuURL, env.token = os.Getenv(childDatabaseURL), os.Getenv(childDataDir), os.Getenv(childAnalytics), os.Getenv(childToken)
	env.image("example/orphan")
	env.source.Gate(t, "example/orphan")
	env.start(func(c *Config) { c.DeadAfter = time.Second })
	<-context.Background().Done() // until killed
}
