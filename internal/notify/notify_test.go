package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/notify"
)

// A secret with distinctive text, so a leak into an error shows.
const secret = "whsec-7f3a9c1e55"

var body = []byte(`{"id":"01a2193c","status":"succeeded","report":{"state":"ready"}}`)

// receiver is a real HTTP server that verifies each delivery as a pipeline
// would, with notify.VerifyRequest and its own copy of the secret.
type receiver struct {
	*httptest.Server
	mu         sync.Mutex
	deliveries []delivery
	answer     func(w http.ResponseWriter, r *http.Request)
}

type delivery struct {
	method, contentType, id string
	body                    []byte
	verifyErr               error
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		rc.mu.Lock()
		rc.deliveries = append(rc.deliveries, delivery{
			method: r.Method, contentType: r.Header.Get("Content-Type"), id: r.Header.Get(notify.HeaderDelivery), body: got,
			verifyErr: notify.VerifyRequest([]byte(secret), r, got, time.Now(), 0),
		})
		rc.mu.Unlock()
		if rc.answer == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		rc.answer(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.deliveries...)
}

func newNotifier(t *testing.T, cfg notify.Config) *notify.Notifier {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = []byte(secret)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	n, err := notify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func assertNoLeak(t *testing.T, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range append([]string{secret, string(body)}, extra...) {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q holds %q", err, s)
		}
	}
}

func TestDeliverIsVerifiedByTheReceiver(t *testing.T) {
	rc := newReceiver(t, nil)
	n := newNotifier(t, notify.Config{UserAgent: "analytics-scanner/test"})
	receipt, err := n.Deliver(context.Background(), rc.URL+"/hooks/scan", body, "delivery-1")
	if err != nil {
		t.Fatal(err)
	}
	if receipt.StatusCode != http.StatusNoContent || time.Since(receipt.Timestamp) > time.Minute {
		t.Errorf("receipt %+v", receipt)
	}
	got := rc.received()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	d := got[0]
	if d.verifyErr != nil {
		t.Errorf("the receiver could not verify the delivery: %v", d.verifyErr)
	}
	if d.method != http.MethodPost || d.contentType != "application/json" || d.id != "delivery-1" || string(d.body) != string(body) {
		t.Errorf("delivery %+v", d)
	}
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	ts := fmt.Sprint(now.Unix())
	good := notify.Sign([]byte(secret), now, body)
	if !strings.HasPrefix(good, "sha256=") || len(good) != len("sha256=")+64 {
		t.Fatalf("signature %q, want sha256=<64 hex>", good)
	}
	if err := notify.Verify([]byte(secret), ts, good, body, now, 0); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	cases := []struct {
		name      string
		secret    string
		timestamp string
		signature string
		body      string
		now       time.Time
		want      error
	}{
		{"tampered body", secret, ts, good, string(body) + " ", now, notify.ErrBadSignature},
		{"wrong secret", "other", ts, good, string(body), now, notify.ErrBadSignature},
		{"no secret", "", ts, good, string(body), now, notify.ErrBadSignature},
		{"timestamp changed", secret, fmt.Sprint(now.Unix() + 1), good, string(body), now, notify.ErrBadSignature},
		{"replayed after the window", secret, ts, good, string(body), now.Add(notify.DefaultWindow + time.Second), notify.ErrStale},
		{"from too far in the future", secret, ts, good, string(body), now.Add(-notify.DefaultWindow - time.Second), notify.ErrStale},
		{"no signature", secret, ts, "", string(body), now, notify.ErrNoSignature},
		{"no timestamp", secret, "", good, string(body), now, notify.ErrNoSignature},
		{"signature without its prefix", secret, ts, strings.TrimPrefix(good, "sha256="), string(body), now, notify.ErrBadSignature},
		{"signature not hex", secret, ts, "sha256=zz" + good[9:], string(body), now, notify.ErrBadSignature},
		{"another algorithm", secret, ts, "sha1=" + good[7:], string(body), now, notify.ErrBadSignature},
		{"a signed timestamp", secret, "+" + ts, good, string(body), now, notify.ErrBadSignature},
		{"a huge timestamp", secret, "99999999999999999999", good, string(body), now, notify.ErrBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := notify.Verify([]byte(c.secret), c.timestamp, c.signature, []byte(c.body), c.now, 0)
			if !errors.Is(err, c.want) {
				t.Errorf("Verify = %v, want %v", err, c.want)
			}
		})
	}
	// Inside the window, either way, it passes; a rotation header with an
	// old signature first passes too.
	for _, at := range []time.Time{now.Add(notify.DefaultWindow), now.Add(-notify.DefaultWindow)} {
		if err := notify.Verify([]byte(secret), ts, good, body, at, 0); err != nil {
			t.Errorf("at the window's edge %v: %v", at.Sub(now), err)
		}
	}
	old := notify.Sign([]byte("old-secret"), now, body)
	if err := notify.Verify([]byte(secret), ts, old+", "+good, body, now, 0); err != nil {
		t.Errorf("two signatures, the second good: %v", err)
	}
	if err := notify.Verify([]byte(secret), ts, good, body, now.Add(2*time.Minute), time.Minute); !errors.Is(err, notify.ErrStale) {
		t.Errorf("a one-minute window two minutes later: %v", err)
	}
}

func TestDeliverClassification(t *testing.T) {
	cases := []struct {
		status     int
		header     map[string]string
		ok         bool
		transient  bool
		retryAfter time.Duration
	}{
		{status: 200, ok: true},
		{status: 202, ok: true},
		{status: 204, ok: true},
		{status: 500, transient: true},
		{status: 502, transient: true},
		{status: 503, header: map[string]string{"Retry-After": "30"}, transient: true, retryAfter: 30 * time.Second},
		{status: 429, header: map[string]string{"Retry-After": "99999999999"}, transient: true, retryAfter: 24 * time.Hour},
		{status: 408, transient: true},
		{status: 400},
		{status: 401},
		{status: 403},
		{status: 404},
		{status: 410},
		{status: 413},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range c.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(c.status)
				// A receiver echoing what it got, secrets and all.
				_, _ = fmt.Fprintf(w, "echo: %s %s", secret, body)
			})
			n := newNotifier(t, notify.Config{})
			receipt, err := n.Deliver(context.Background(), rc.URL, body, "d")
			if c.ok {
				if err != nil || receipt.StatusCode != c.status {
					t.Errorf("Deliver = %+v, %v; want a receipt with %d", receipt, err, c.status)
				}
				return
			}
			var e *notify.Error
			if !errors.As(err, &e) || receipt != nil {
				t.Fatalf("Deliver = %+v, %v; want an *Error", receipt, err)
			}
			if e.StatusCode != c.status || e.Transient != c.transient || notify.IsTransient(err) != c.transient || e.RetryAfter != c.retryAfter {
				t.Errorf("error %+v: want status %d, transient %v, retry after %v", e, c.status, c.transient, c.retryAfter)
			}
			assertNoLeak(t, err, "echo")
		})
	}
}

func TestDeliverDoesNotFollowRedirects(t *testing.T) {
	target := newReceiver(t, nil)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	n := newNotifier(t, notify.Config{})
	_, err := n.Deliver(context.Background(), rc.URL, body, "d")
	var e *notify.Error
	if !errors.As(err, &e) || e.Transient || e.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(err.Error(), "redirects are not followed") {
		t.Errorf("Deliver = %v, want a permanent error naming the redirect", err)
	}
	if got := len(target.received()); got != 0 {
		t.Errorf("the redirect target got %d deliveries", got)
	}
}

func TestDeliverWithoutAnAnswer(t *testing.T) {
	t.Run("receiver down", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		n := newNotifier(t, notify.Config{})
		_, err := n.Deliver(context.Background(), url+"/hook?token=tok-query-1", body, "d")
		var e *notify.Error
		if !errors.As(err, &e) || !e.Transient || e.StatusCode != 0 || !strings.Contains(err.Error(), "refused") {
			t.Errorf("Deliver = %v, want a transient connection error", err)
		}
		assertNoLeak(t, err, "tok-query-1")
	})
	t.Run("receiver hangs", func(t *testing.T) {
		release := make(chan struct{})
		rc := newReceiver(t, func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		t.Cleanup(func() { close(release) })
		n := newNotifier(t, notify.Config{Timeout: 200 * time.Millisecond})
		start := time.Now()
		_, err := n.Deliver(context.Background(), rc.URL, body, "d")
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("Deliver took %v, want about the 200ms timeout", elapsed)
		}
		if !notify.IsTransient(err) || !strings.Contains(fmt.Sprint(err), "no answer in time") {
			t.Errorf("Deliver = %v, want a transient timeout", err)
		}
	})
	t.Run("caller's context ends first", func(t *testing.T) {
		release := make(chan struct{})
		rc := newReceiver(t, func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		t.Cleanup(func() { close(release) })
		n := newNotifier(t, notify.Config{})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := n.Deliver(ctx, rc.URL, body, "d"); !notify.IsTransient(err) {
			t.Errorf("Deliver = %v, want a transient error", err)
		}
	})
	t.Run("an endless answer is not read to its end", func(t *testing.T) {
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			chunk := []byte(strings.Repeat("x", 32<<10))
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})
		n := newNotifier(t, notify.Config{})
		start := time.Now()
		if _, err := n.Deliver(context.Background(), rc.URL, body, "d"); err != nil {
			t.Errorf("Deliver = %v", err)
		}
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("Deliver took %v", elapsed)
		}
	})
}

func TestDeliverRefusesBadURLs(t *testing.T) {
	n := newNotifier(t, notify.Config{})
	for _, raw := range []string{"", "hooks.example.org/x", "ftp://hooks.example.org/x", "http://", "user:" + secret + "@hooks.example.org", "http://%zz"} {
		_, err := n.Deliver(context.Background(), raw, body, "d")
		var e *notify.Error
		if !errors.As(err, &e) || e.Transient || !errors.Is(err, notify.ErrInvalidURL) {
			t.Errorf("Deliver(%q) = %v, want a permanent ErrInvalidURL", raw, err)
		}
		assertNoLeak(t, err)
	}
}

func TestRedactHidesCredentials(t *testing.T) {
	cases := map[string]string{
		"https://user:" + secret + "@hooks.example.org/x?token=" + secret + "#frag": "https://hooks.example.org/x",
		"http://hooks.example.org:8080/ci/hook":                                     "http://hooks.example.org:8080/ci/hook",
		"user:" + secret + "@hooks.example.org":                                     "(unparsable URL)",
		"http://%zz":                                                                "(unparsable URL)",
	}
	for in, want := range cases {
		if got := notify.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewNeedsASecret(t *testing.T) {
	if _, err := notify.New(notify.Config{}); err == nil {
		t.Error("New without a secret succeeded")
	}
}
