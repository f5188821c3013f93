package main

import (
	"context"
	"errors"
	"fmt"
	"go/build"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/server"
)

// TestCrashRecovery kills a server process with SIGKILL while scans are
// queued and running, starts another on the same SQLite database, and checks
// that every scan ends, succeeded, and that only a scan running at the kill
// is registered a second time.
//
// Timing: the analytics server holds each registration 400 ms, so with 2
// workers the kill catches 2 scans mid-registration and the rest queued. The
// queued ones run as soon as the second process starts. The running ones
// stay "running" in the queue until River's rescuer, which runs every 30 s
// on the elected leader, finds them running for longer than JOB_TIMEOUT
// (2 s) + 30 s, and queues them again; with the leader's lease and the
// rescuer's period, that takes 30 to 65 s after the kill, so this test takes
// about a minute. It runs in parallel with the package's other tests.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("takes about a minute: River rescues a killed process's scans after JOB_TIMEOUT + 30 s")
	}
	const (
		n       = 8
		workers = 2
	)
	d := dockertest.New(t)
	bin := buildServer(t)
	shas := make([]string, n)
	for i := range shas {
		shas[i] = fmt.Sprintf("c0ffee%d", i)
	}
	images := buildImages(t, d, "server-crash", shas)
	sec := newSecrets()
	peer := newAnalyticsPeer(t, sec, 400*time.Millisecond)
	cfg := serverConfig(t, sec, peer, "")
	cfg.Workers, cfg.JobTimeout, cfg.RetryBase = workers, 2*time.Second, 100*time.Millisecond
	vars := environOf(cfg)

	first := startProcess(t, "first", bin, vars)
	c := newClient(t, first.url, sec.apiToken)
	ids := make([]string, n)
	for i, img := range images {
		r := c.submit(img.name, "")
		if r.status != http.StatusAccepted {
			t.Fatalf("POST /scan of %s: %d %s, want 202", img.name, r.status, r.body)
		}
		ids[i] = r.record(t).ID
	}
	peer.waitArrivals(t, workers, 30*time.Second)
	first.kill(t)
	arrivedAtKill, _ := peer.arrived()

	second := startProcess(t, "second", bin, vars)
	restarted := time.Now()
	c = newClient(t, second.url, sec.apiToken)
	byID := waitFinal(t, c, ids, 120*time.Second)
	t.Logf("every scan final %s after the restart; %d registrations had arrived at the kill",
		time.Since(restarted).Round(time.Millisecond), arrivedAtKill)

	if list := c.listAll(); len(list) != n {
		t.Errorf("GET /scan lists %d scans, want %d", len(list), n)
	}
	_, arrivals := peer.arrived()
	answered := map[string]int{}
	for _, reg := range peer.emu.Registrations() {
		answered[reg.GitSHA]++
	}
	var rerun, runningAtKill int
	for i, id := range ids {
		rec, sha := byID[id], shas[i]
		if rec.Status != scan.StatusSucceeded || rec.Result == nil || !rec.Result.Successful || rec.Result.ScanResults.GitSHA != sha {
			t.Errorf("scan %s of git-sha %s: %+v, want succeeded with its labels", id, sha, rec)
			continue
		}
		// An attempt cut short by the kill is counted: a scan running
		// then has a second attempt, every other scan one.
		wasRunning := rec.Attempts > 1
		if wasRunning {
			runningAtKill++
		}
		switch {
		case arrivals[sha] == 2 && wasRunning:
			rerun++
		case arrivals[sha] != 1:
			t.Errorf("git-sha %s: %d register requests (attempts %d); want 1, or 2 for a scan running at the kill",
				sha, arrivals[sha], rec.Attempts)
		}
		if answered[sha] < 1 || answered[sha] > arrivals[sha] {
			t.Errorf("git-sha %s: the emulator answered %d registrations of %d sent", sha, answered[sha], arrivals[sha])
		}
	}
	if runningAtKill > workers {
		t.Errorf("%d scans had a second attempt, more than the %d that can run at once", runningAtKill, workers)
	}
	t.Logf("%d scans were running at the kill; %d of them were registered again", runningAtKill, rerun)
	sec.assertAbsent(t, "the first process's log", first.stderr.String())
	sec.assertAbsent(t, "the second process's log", second.stderr.String())
}

// buildServer builds this package's binary into a temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(build.Default.GOROOT, "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "server")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The test runs in the package's directory.
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is the server running as a child process.
type process struct {
	name   string
	cmd    *exec.Cmd
	url    string
	stderr *logtest.Buffer

	exited  chan struct{} // closed when Wait returned
	waitErr error
	once    sync.Once
}

// environOf is cfg as the binary reads it: one variable per field, named by
// its envconfig tag.
func environOf(cfg server.Config) map[string]string {
	vars := map[string]string{}
	v := reflect.ValueOf(cfg)
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("envconfig")
		if name == "" {
			continue
		}
		switch f := v.Field(i).Interface().(type) {
		case []string:
			vars[server.EnvPrefix+"_"+name] = strings.Join(f, ",")
		default:
			vars[server.EnvPrefix+"_"+name] = fmt.Sprint(f)
		}
	}
	return vars
}

// startProcess starts bin with vars added to the test's environment (less
// its own SCANNER_ variables) and returns once it listens. It is killed when
// the test ends, and its log shown if the test failed.
func startProcess(t *testing.T, name, bin string, vars map[string]string) *process {
	t.Helper()
	p := &process{name: name, stderr: &logtest.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = environWithout(server.EnvPrefix + "_")
	for k, v := range vars {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start the %s server: %v", name, err)
	}
	done := make(chan error, 1)
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
		done <- p.waitErr
	}()
	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() {
			t.Logf("the %s server's output:\n%s", name, p.stderr.String())
		}
	})
	p.url = "http://" + waitForAddr(t, p.stderr, done)
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill(t *testing.T) {
	t.Helper()
	p.once.Do(func() {
		if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("kill the %s server: %v", p.name, err)
		}
	})
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		t.Errorf("the %s server did not exit within %s of SIGKILL", p.name, stopTimeout)
	}
}

// TestProcessExitStatus runs the built binary: main's exit statuses are
// documented in the usage, and SIGTERM or SIGINT must stop it cleanly.
func TestProcessExitStatus(t *testing.T) {
	t.Parallel()
	bin := buildServer(t)

	t.Run("statuses", func(t *testing.T) {
		tests := []struct {
			name       string
			args       []string
			env        []string
			wantStatus int
			wantStderr string
		}{
			{"help", []string{"--help"}, nil, 0, ""},
			{"usage error", []string{"--bogus"}, nil, 2, `server: usage: unexpected argument "--bogus"`},
			{"configuration error", nil, []string{"SCANNER_WORKERS=0"}, 1, "server: configuration: SCANNER_WORKERS must be at least 1"},
			{"healthcheck of nothing", []string{"healthcheck", "http://127.0.0.1:1/healthz"}, nil, 1, "server: healthcheck:"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, tt.args...)
				cmd.Env = append(environWithout(server.EnvPrefix+"_"), tt.env...)
				var stderr strings.Builder
				cmd.Stderr = &stderr
				err := cmd.Run()
				status := 0
				var exitErr *exec.ExitError
				if errors.As(err, &exitErr) {
					status = exitErr.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				if status != tt.wantStatus || !strings.Contains(stderr.String(), tt.wantStderr) {
					t.Errorf("exit status %d, stderr %q; want %d and %q", status, stderr.String(), tt.wantStatus, tt.wantStderr)
				}
			})
		}
	})

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startProcess(t, "signalled", bin, map[string]string{
				"SCANNER_ADDR":     "127.0.0.1:0",
				"SCANNER_DATA_DIR": t.TempDir(),
			})
			waitHealthy(t, p.url)
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.exited:
			case <-time.After(stopTimeout):
				t.Fatalf("the server did not exit within %s of %s", stopTimeout, sig)
			}
			if p.waitErr != nil {
				t.Errorf("after %s the server exited with %v, want status 0", sig, p.waitErr)
			}
			if !strings.Contains(p.stderr.String(), `"message":"stopped"`) {
				t.Errorf("no 'stopped' line in the log:\n%s", p.stderr.String())
			}
		})
	}
}

// environWithout is the test's environment less the variables starting
// with prefix, so that a developer's own settings cannot leak in.
func environWithout(prefix string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}
