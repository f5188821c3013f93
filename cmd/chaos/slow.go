package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// slowConns is how many slow connections the slow-clients scenario opens.
const slowConns = 300

// readTimeout is the SCANNER_READ_TIMEOUT the slow-clients scenario sets.
const readTimeout = 5 * time.Second

// slowClients opens 300 connections that each send a POST /scan's headers
// (no token; the server has one) and 1 byte of a 1,000-byte body, then
// nothing. Each must be closed by the server within READ_TIMEOUT (plus a
// margin) while a /healthz loop keeps being answered; the server's open
// files are counted from /proc.
func (h *harness) slowClients(ctx context.Context, cl *cleanups) (r row) {
	start := time.Now()
	defer func() { r.took = time.Since(start) }()
	dir, err := h.dir("slow-clients")
	if err != nil {
		return r.fail(err)
	}
	sec := newSecrets()
	st, err := newStandin()
	if err != nil {
		return r.fail(err)
	}
	cl.add("close the stand-in", st.close)
	addr, err := freeAddr()
	if err != nil {
		return r.fail(err)
	}
	env := serverEnv(addr, st, sec, filepath.Join(dir, "data"), "", map[string]string{
		"SCANNER_READ_TIMEOUT": readTimeout.String(),
	})
	srv, err := startServer(ctx, "slow-clients", h.serverBin, env, filepath.Join(dir, "server.log"), cl)
	if err != nil {
		return r.fail(err)
	}
	fdsBefore := openFiles(srv.pid())

	// The other client: /healthz every 100 ms, each bounded by 2 s.
	var healthOK, healthBad atomic.Int64
	var healthMax atomic.Int64
	hctx, stopHealth := context.WithCancel(ctx)
	var hwg sync.WaitGroup
	hwg.Go(func() {
		hc := &http.Client{Timeout: 2 * time.Second}
		for hctx.Err() == nil {
			t0 := time.Now()
			resp, err := hc.Get(srv.url + "/healthz")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err == nil && resp.StatusCode == http.StatusOK {
				healthOK.Add(1)
			} else {
				healthBad.Add(1)
			}
			if d := int64(time.Since(t0)); d > healthMax.Load() {
				healthMax.Store(d)
			}
			_ = sleepCtx(hctx, 100*time.Millisecond)
		}
	})
	defer func() { stopHealth(); hwg.Wait() }()

	// Each slow connection waits for the server to close it, and notes
	// when.
	bound := readTimeout + 5*time.Second
	var closedIn []time.Duration
	var mu sync.Mutex
	var conns []net.Conn
	var cwg sync.WaitGroup
	opened := time.Now()
	req := fmt.Sprintf("POST /scan HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", addr)
	for i := range slowConns {
		d := net.Dialer{Timeout: 5 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return r.fail(fmt.Errorf("slow connection %d: %w", i, err))
		}
		conns = append(conns, conn)
		if _, err := io.WriteString(conn, req); err != nil {
			return r.fail(fmt.Errorf("slow connection %d: write: %w", i, err))
		}
		sent := time.Now()
		cwg.Go(func() {
			// The server may answer (a 401 or 408) before closing:
			// read until it closes, or until the harness gives up.
			_ = conn.SetReadDeadline(sent.Add(bound + 5*time.Second))
			_, err := io.Copy(io.Discard, conn)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return // still open
			}
			mu.Lock()
			closedIn = append(closedIn, time.Since(sent))
			mu.Unlock()
		})
	}
	cl.add("close the slow connections", func() error {
		for _, c := range conns {
			_ = c.Close()
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	fdsPeak := openFiles(srv.pid())
	_ = sleepCtx(ctx, time.Until(opened.Add(bound)))
	fdsAtBound := openFiles(srv.pid())
	mu.Lock()
	withinBound, slowest := 0, time.Duration(0)
	for _, d := range closedIn {
		if d <= bound {
			withinBound++
		}
		slowest = max(slowest, d)
	}
	mu.Unlock()
	// Then the harness closes its side; the server's files should go back.
	for _, c := range conns {
		_ = c.Close()
	}
	cwg.Wait()
	time.Sleep(time.Second)
	fdsAfter := openFiles(srv.pid())
	stopHealth()
	hwg.Wait()

	r.notes = append(r.notes, fmt.Sprintf("%d of %d slow connections closed by the server within %s (slowest %s); server open files %d before, %d with them, %d at %s, %d once the harness closed them; /healthz %d answered, %d not (slowest %s)",
		withinBound, slowConns, bound, slowest.Round(10*time.Millisecond), fdsBefore, fdsPeak, fdsAtBound, bound, fdsAfter,
		healthOK.Load(), healthBad.Load(), time.Duration(healthMax.Load()).Round(time.Millisecond)))
	r.expect("all closed within the bound", withinBound == slowConns, "",
		"%d of %d slow connections closed within %s", withinBound, slowConns, bound)
	r.expect("open files back within the bound", fdsAtBound <= fdsBefore+20, "",
		"%d open files at %s, %d before", fdsAtBound, bound, fdsBefore)
	r.expect("service answering", healthBad.Load() == 0 && healthOK.Load() > 0, "",
		"/healthz answered %d times, failed %d times", healthOK.Load(), healthBad.Load())
	return r
}

// openFiles counts the open files of a process; -1 when /proc cannot say.
func openFiles(pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(entries)
}
