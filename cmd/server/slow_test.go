package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/api"
)

// The running service bounds slow clients: a 2 MiB header is answered 431
// in the JSON shape, and a body that stalls is cut at SCANNER_READ_TIMEOUT
// with a 408 and the close.
func TestServiceBoundsSlowClients(t *testing.T) {
	sec := newSecrets()
	cfg := serverConfig(t, sec, &analyticsPeer{url: "http://127.0.0.1:1"}, "")
	cfg.ReadTimeout = 500 * time.Millisecond
	srv := startServer(t, cfg)
	u, _ := url.Parse(srv.url)

	exchange := func(request string) (*http.Response, []byte, time.Duration) {
		t.Helper()
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() { _, _ = io.WriteString(c, request) }()
		start := time.Now()
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		// Then the server closes the connection.
		if _, err := io.Copy(io.Discard, br); err != nil {
			t.Fatalf("the connection was not closed: %v", err)
		}
		return resp, body, time.Since(start)
	}
	code := func(body []byte) string {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return e.Error.Code
	}

	resp, body, _ := exchange("GET /healthz HTTP/1.1\r\nHost: s\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || code(body) != api.EHeaderTooLarge {
		t.Errorf("2 MiB header: %s %s; want 431 %s", resp.Status, body, api.EHeaderTooLarge)
	}

	resp, body, took := exchange("POST /scan HTTP/1.1\r\nHost: s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n" +
		"Authorization: Bearer " + sec.apiToken + "\r\n\r\n{")
	if resp.StatusCode != http.StatusRequestTimeout || code(body) != api.ERequestTimeout || took > 5*time.Second {
		t.Errorf("stalled body: %s %s after %s; want 408 %s after %s", resp.Status, body, took, api.ERequestTimeout, cfg.ReadTimeout)
	}
}
