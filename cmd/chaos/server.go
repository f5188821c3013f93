package main

import (
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
	"strings"
	"syscall"
	"time"
)

// buildBinaries builds the real server and one-shot into dir: the harness
// tests what ships, not a test double.
func buildBinaries(ctx context.Context, repo, dir string) (server, scan string, err error) {
	server, scan = filepath.Join(dir, "server"), filepath.Join(dir, "scan")
	for bin, pkg := range map[string]string{server: "./cmd/server", scan: "./cmd/scan"} {
		bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		cmd := exec.CommandContext(bctx, "go", "build", "-o", bin, pkg)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return "", "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	return server, scan, nil
}

// freeAddr returns a loopback address with a port free right now; a server
// restarted after a kill listens there again, so clients keep their URL.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// serverProc is one run of the server binary.
type serverProc struct {
	name   string
	cmd    *exec.Cmd
	url    string
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

// startServer runs bin with env (SCANNER_* from the harness's own
// environment are dropped, so that only what the scenario sets counts),
// appending its output to logPath, and returns once /healthz answers.
func startServer(ctx context.Context, name, bin string, env map[string]string, logPath string, cl *cleanups) (*serverProc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	p := &serverProc{name: name, url: "http://" + env["SCANNER_ADDR"], exited: make(chan struct{})}
	p.cmd = exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCANNER_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	// Its own process group, so that a Ctrl-C meant for the harness does
	// not reach it before the harness decides; and killed with the harness
	// should the harness itself be killed.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	cl.add("stop server "+name, func() error { return p.stop(10 * time.Second) })
	if err := waitHealthy(ctx, p, 60*time.Second); err != nil {
		return nil, fmt.Errorf("%s: %w (log: %s)", name, err, logPath)
	}
	return p, nil
}

func waitHealthy(ctx context.Context, p *serverProc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := c.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited before answering /healthz: %v", p.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/healthz did not answer 200 within %s (last error %v)", timeout, err)
		}
	}
}

func (p *serverProc) pid() int { return p.cmd.Process.Pid }

// kill is kill -9: no shutdown of any kind.
func (p *serverProc) kill() error {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s still running 10 s after SIGKILL", p.name)
	}
}

// stop is SIGTERM, then SIGKILL after grace; it is a no-op once exited.
func (p *serverProc) stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
	}
	return p.kill()
}

// record is the part of a scan record the harness reads.
type record struct {
	ID         string          `json:"id"`
	Image      string          `json:"image"`
	Status     string          `json:"status"`
	Attempts   int             `json:"attempts"`
	LastError  string          `json:"last_error"`
	Result     json.RawMessage `json:"result"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
}

func (r record) final() bool {
	return r.Status == "succeeded" || r.Status == "failed" || r.Status == "canceled"
}

// apiClient talks to the server's API; every request is bounded, and with
// keep answers every body it received, for the secret search.
type apiClient struct {
	base  string
	token string
	http  *http.Client
	keep  io.Writer
}

func newAPIClient(base, token string) *apiClient {
	return &apiClient{base: base, token: token, http: &http.Client{Timeout: 30 * time.Second}}
}

func (c *apiClient) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if c.keep != nil {
		fmt.Fprintf(c.keep, "%s %s -> %d\n", method, path, resp.StatusCode)
		_ = resp.Header.Write(c.keep)
		_, _ = c.keep.Write(b)
		_, _ = c.keep.Write([]byte("\n"))
	}
	return resp.StatusCode, b, err
}

// submit posts a scan of ref and returns its id when the server took it
// (202, or 200 for a scan of the same image already under way).
func (c *apiClient) submit(ctx context.Context, ref string) (id string, status int, err error) {
	body, _ := json.Marshal(map[string]string{"image": ref})
	status, b, err := c.do(ctx, http.MethodPost, "/scan", body)
	if err != nil {
		return "", status, err
	}
	if status != http.StatusAccepted && status != http.StatusOK {
		return "", status, fmt.Errorf("POST /scan: %d %s", status, bytes.TrimSpace(b))
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil || rec.ID == "" {
		return "", status, fmt.Errorf("POST /scan: %d answer without an id: %s", status, b)
	}
	return rec.ID, status, nil
}

// get returns the record of id; found is false on 404.
func (c *apiClient) get(ctx context.Context, id string) (rec record, found bool, err error) {
	status, b, err := c.do(ctx, http.MethodGet, "/scan/"+id, nil)
	if err != nil {
		return rec, false, err
	}
	switch status {
	case http.StatusOK:
		err = json.Unmarshal(b, &rec)
		return rec, true, err
	case http.StatusNotFound:
		return rec, false, nil
	}
	return rec, false, fmt.Errorf("GET /scan/%s: %d %s", id, status, bytes.TrimSpace(b))
}

// finishedAt parses the record's finished_at from its raw form; zero when
// absent.
func (r record) finishedAt() time.Time { return r.FinishedAt }
