package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultReadTimeout bounds the arrival of a request body when
// Config.ReadTimeout is zero: a submit body is a few hundred bytes, so 30 s
// only ever cuts clients that are stalled or hostile.
const DefaultReadTimeout = 30 * time.Second

// bodyDeadline bounds the arrival of a request's body by ReadTimeout,
// counted from when the handler chain starts (the headers have arrived
// by then, bounded by the server's ReadHeaderTimeout). The deadline is
// lifted once the body has been read to its end, so that a held ?wait=
// is not cut by it; and a request answered without its body being read
// (refused by its headers: no token, wrong method or type) has its
// connection closed at once instead of net/http waiting to drain the body
// from a client that may never send it.
//
// It must run first, on net/http's own ResponseWriter, for
// http.ResponseController to reach the connection.
func (s *server) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		// Errors mean a ResponseWriter without a connection (a test's
		// recorder): there is no deadline to set.
		_ = rc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
		body := &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		r.Body = body
		next.ServeHTTP(w, r)
		if !body.finished() {
			// A deadline in the past makes net/http's drain of the
			// unread body fail at once, and so close the connection
			// right after the answer.
			_ = rc.SetReadDeadline(time.Now().Add(-time.Second))
		}
	})
}

// deadlineBody lifts the read deadline when its body has been read to the
// end.
type deadlineBody struct {
	io.ReadCloser
	lift func()

	mu   sync.Mutex
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.mu.Lock()
		if !b.done {
			b.done = true
			b.lift()
		}
		b.mu.Unlock()
	}
	return n, err
}

func (b *deadlineBody) finished() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// isTimeout reports whether err is a read that hit its deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// Listener wraps ln so that the one answer net/http writes by itself on
// the connection, before any handler runs, comes in the API's error shape
// too: the 431 to a request whose headers are over the server's
// MaxHeaderBytes (plain text otherwise). Everything else passes unchanged.
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c}, nil
}

// plainHeaderTooLarge is net/http's own 431, written in one piece.
const plainHeaderTooLarge = "HTTP/1.1 431 Request Header Fields Too Large\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large"

// jsonHeaderTooLarge is the same answer in the API's shape.
var jsonHeaderTooLarge = func() []byte {
	body, _ := json.Marshal(errorResponse{Error: errorBody{Code: EHeaderTooLarge,
		Message: "the request's header is too large"}})
	body = append(body, '\n')
	return fmt.Appendf(nil, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}()

type conn struct{ net.Conn }

func (c *conn) Write(p []byte) (int, error) {
	if len(p) == len(plainHeaderTooLarge) && bytes.Equal(p, []byte(plainHeaderTooLarge)) {
		if _, err := c.Conn.Write(jsonHeaderTooLarge); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// CloseWrite lets net/http half-close the connection after an error answer,
// as it does on a bare TCP connection, so that the client reads the answer
// before the connection is reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// maxLoggedPath bounds the path in an access-log line: a path is as long
// as the header allows, and a log line per request must stay small.
const maxLoggedPath = 256

// logPath is p cut to maxLoggedPath bytes, marked when cut.
func logPath(p string) string {
	if len(p) <= maxLoggedPath {
		return p
	}
	return strings.ToValidUTF8(p[:maxLoggedPath], "") + "…"
}
