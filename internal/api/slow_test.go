package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/api"
	"github.com/centos-pipeline/analytics-scanner/internal/api/apitest"
	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// serveRaw serves the API as the service does (api.Listener, a header
// limit) on a real listener, for tests that speak raw HTTP to it.
func serveRaw(t *testing.T, cfg api.Config, svc *apitest.Service) (addr string, logs *logtest.Buffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs = &logtest.Buffer{}
	cfg.Log = newLogger(logs)
	srv := &http.Server{Handler: api.New(cfg, svc), ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() { _ = srv.Serve(api.Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), logs
}

// slowAnswer is what a slow client got and when its connection closed.
type slowAnswer struct {
	status   string
	code     string
	answered time.Duration // from the headers' end to the answer
	closed   time.Duration // from the headers' end to the close
	err      error
}

// sendSlowly sends a POST /scan header announcing 1,000 bytes, then one
// byte, and reads the answer and the close.
func sendSlowly(addr, auth string, bound time.Duration) slowAnswer {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return slowAnswer{err: err}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(bound))
	head := "POST /scan HTTP/1.1\r\nHost: scanner\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
	if auth != "" {
		head += "Authorization: Bearer " + auth + "\r\n"
	}
	if _, err := io.WriteString(c, head+"\r\n{"); err != nil {
		return slowAnswer{err: err}
	}
	start := time.Now()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return slowAnswer{err: fmt.Errorf("no answer: %w", err)}
	}
	a := slowAnswer{status: resp.Status, answered: time.Since(start)}
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	a.code = body.Error.Code
	// The connection must close: read until EOF.
	if _, err := io.Copy(io.Discard, br); err != nil {
		a.err = fmt.Errorf("connection not closed: %w", err)
		return a
	}
	a.closed = time.Since(start)
	return a
}

// Slow clients: a body must arrive within the read timeout. Without the
// token the answer comes from the headers alone, at once, and the
// connection closes; with it, the body is waited for until the timeout,
// then 408 and the close. All the while other clients are served.
func TestSlowClientsAreCutWithinTheBound(t *testing.T) {
	const (
		readTimeout = time.Second
		perKind     = 25
	)
	addr, _ := serveRaw(t, api.Config{APIToken: testToken, ReadTimeout: readTimeout}, &apitest.Service{})
	bound := readTimeout + 3*time.Second

	answers := make([]slowAnswer, 2*perKind)
	var wg sync.WaitGroup
	for i := range answers {
		auth := ""
		if i%2 == 1 {
			auth = testToken
		}
		wg.Go(func() { answers[i] = sendSlowly(addr, auth, bound) })
	}
	// While they hang, others are served.
	stop := make(chan struct{})
	healthy := make(chan int, 1)
	go func() {
		served := 0
		for {
			select {
			case <-stop:
				healthy <- served
				return
			default:
			}
			resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + addr + "/healthz")
			if err == nil {
				if resp.StatusCode == http.StatusOK {
					served++
				}
				resp.Body.Close()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	wg.Wait()
	close(stop)
	if n := <-healthy; n == 0 {
		t.Error("/healthz was not served while the slow clients were connected")
	}

	for i, a := range answers {
		withToken := i%2 == 1
		switch {
		case a.err != nil:
			t.Errorf("client %d (token %v): %v", i, withToken, a.err)
		case !withToken && (a.code != api.EUnauthorized || a.closed > readTimeout/2):
			t.Errorf("client %d without a token: %s %q, closed after %s; want 401 unauthorized and the close at once",
				i, a.status, a.code, a.closed)
		case withToken && (a.code != api.ERequestTimeout || !strings.HasPrefix(a.status, "408") ||
			a.answered < readTimeout-100*time.Millisecond || a.closed > bound):
			t.Errorf("client %d with the token: %s %q after %s, closed after %s; want 408 request_timeout after %s",
				i, a.status, a.code, a.answered, a.closed, readTimeout)
		}
	}
}

// The read deadline ends with the body: a submit that then waits for its
// scan longer than the read timeout is not cut by it.
func TestReadTimeoutDoesNotCutAWait(t *testing.T) {
	var waitErr captured[error]
	svc := &apitest.Service{
		SubmitFn: func(_ context.Context, req scan.Request) (scan.Record, bool, error) {
			return record("scan-1", req.Image, scan.StatusQueued), true, nil
		},
		WaitFn: func(ctx context.Context, id string) (scan.Record, error) {
			select {
			case <-ctx.Done():
				waitErr.put(ctx.Err())
				return record(id, "nginx", scan.StatusRunning), nil
			case <-time.After(1500 * time.Millisecond):
			}
			return record(id, "nginx", scan.StatusSucceeded), nil
		},
	}
	addr, _ := serveRaw(t, api.Config{ReadTimeout: 300 * time.Millisecond}, svc)
	c := apitest.NewClient(t, "http://"+addr, "")
	r := c.PostJSON("/scan?wait=5s", map[string]string{"image": "nginx"})
	if r.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200 after the wait; body: %s", r.StatusCode, r.Body)
	}
	if err, cut := waitErr.get(); cut {
		t.Errorf("the wait was cut: %v", err)
	}
}

// A header block over the limit is answered 431 in the API's error shape,
// not net/http's plain text. 2 MiB, as a hostile client would send.
func TestHugeHeaderGetsJSON431(t *testing.T) {
	addr, _ := serveRaw(t, api.Config{}, &apitest.Service{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		// The server answers and hangs up before all of it is sent; the
		// write error that follows is expected.
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: scanner\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n")
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || resp.Header.Get("Content-Type") != "application/json" ||
		json.Unmarshal(body, &e) != nil || e.Error.Code != api.EHeaderTooLarge || e.Error.Message == "" {
		t.Errorf("answer %s %q: %s; want 431 in the JSON error shape with code %s", resp.Status, resp.Header.Get("Content-Type"), body, api.EHeaderTooLarge)
	}
}

// An access-log line stays small whatever the path's length.
func TestAccessLogLinesAreBounded(t *testing.T) {
	addr, logs := serveRaw(t, api.Config{}, &apitest.Service{})
	// Not through apitest: the contract has no such path.
	resp, err := http.Get("http://" + addr + "/" + strings.Repeat("x", 20_000))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	for _, line := range lines {
		if len(line) > 1024 {
			t.Errorf("a log line of %d bytes: %.200s…", len(line), line)
		}
	}
	if !strings.Contains(logs.String(), `"path":"/xxxx`) {
		t.Errorf("the access log does not show the path's start: %s", logs.String())
	}
}
