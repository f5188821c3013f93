package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildBinaries builds cmd/server and cmd/scan of the module that holds the
// working directory into dir.
func buildBinaries(ctx context.Context, dir string) (server, scan string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return "", "", errors.New("run from inside the analytics-scanner module, or pass -server-bin and -scan-bin")
	}
	server, scan = filepath.Join(dir, "server"), filepath.Join(dir, "scan")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/server", "./cmd/scan")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build ./cmd/server ./cmd/scan: %w\n%s", err, out)
	}
	return server, scan, nil
}

// serverProc is the service under test, a subprocess.
type serverProc struct {
	URL string
	// pprofURL is the server's profiling listener, "" without one.
	pprofURL string
	cmd      *exec.Cmd
	logPath  string
	exited   chan struct{}
}

// freeAddr returns a loopback address no one listens on at the moment.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServer starts bin with the SCANNER_* variables of env (and none of the
// caller's own SCANNER_* variables, so that a stray setting in the shell
// cannot change what is measured), waits until /readyz answers 200, and
// returns it. Its log goes to logPath.
func startServer(ctx context.Context, bin, logPath string, env map[string]string) (*serverProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCANNER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "SCANNER_ADDR="+addr)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Should the suite itself be killed outright, the kernel kills the
	// server too instead of leaving it listening.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &serverProc{URL: "http://" + addr, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()

	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(readyCtx, http.MethodGet, p.URL+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("server exited at start-up (%v); its log ends:\n%s", cmd.ProcessState, tail(logPath, 10))
		case <-readyCtx.Done():
			p.stop()
			return nil, fmt.Errorf("server not ready within 30s; its log ends:\n%s", tail(logPath, 10))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and, if the server has not exited within 15 s, SIGKILL.
func (p *serverProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// memory reads the server's resident set size and its peak, in bytes.
func (p *serverProc) memory() (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, errors.New("no VmRSS/VmHWM in /proc/PID/status")
	}
	return rss, hwm, sc.Err()
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// apiClient talks to the service under test. Every request has a deadline:
// the client's own, and the caller's context.
type apiClient struct {
	base string
	http *http.Client
}

func newAPIClient(base string) *apiClient {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Open-loop runs have hundreds of requests in flight; without idle
	// connections to reuse, each would pay a new connection.
	t.MaxIdleConns = 2048
	t.MaxIdleConnsPerHost = 2048
	return &apiClient{base: base, http: &http.Client{Transport: t, Timeout: 30 * time.Second}}
}

// record is the part of a scan record the suite reads.
type record struct {
	ID         string     `json:"id"`
	Image      string     `json:"image"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
	LastError  string     `json:"last_error"`
}

// submit queues a scan of image and returns its record.
func (c *apiClient) submit(ctx context.Context, image string) (record, error) {
	body, _ := json.Marshal(map[string]string{"image": image})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/scan", bytes.NewReader(body))
	if err != nil {
		return record{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	var rec record
	err = c.do(req, &rec, http.StatusAccepted, http.StatusOK)
	return rec, err
}

// get fetches path and decodes a 200 answer into out (nil: discard it).
func (c *apiClient) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	return c.do(req, out, http.StatusOK)
}

func (c *apiClient) do(req *http.Request, out any, want ...int) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ok := false
	for _, s := range want {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if t, ok := out.(*textSink); ok {
		_, err = io.Copy(t.w, io.LimitReader(resp.Body, 8<<20))
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// textSink makes do copy a body as it is instead of decoding JSON.
type textSink struct{ w io.Writer }

// cpuTime is the server's CPU time so far, user and system, in seconds.
func (p *serverProc) cpuTime() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// after its closing parenthesis. utime and stime are fields 14 and 15
	// of the whole line, in clock ticks (100 per second on Linux).
	rest := string(b[bytes.LastIndexByte(b, ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	return (utime + stime) / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100
