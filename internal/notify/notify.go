// Package notify delivers results to a pipeline's callback URL, so that it
// need not poll: a POST of the JSON body, signed in the style of GitHub's
// webhooks so the receiver can tell it came from this scanner and is fresh.
//
// The signature is HMAC-SHA256, keyed with the shared secret, over
// "<timestamp>.<body>", where timestamp is the Unix time in seconds sent in
// HeaderTimestamp. Signing the timestamp with the body lets a receiver
// refuse a captured request replayed later (Verify's window); HeaderDelivery
// names the delivery, the same on every retry, so that it can also drop a
// repeat inside the window.
//
// Deliver makes one attempt; the caller's durable queue owns the retries,
// guided by IsTransient.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/httperr"
)

// The headers of a delivery.
const (
	// HeaderSignature is "sha256=<hex HMAC-SHA256 of timestamp.body>".
	HeaderSignature = "X-Scanner-Signature-256"
	// HeaderTimestamp is the Unix time of signing, in seconds.
	HeaderTimestamp = "X-Scanner-Timestamp"
	// HeaderDelivery is the delivery's id, the same on every attempt.
	HeaderDelivery = "X-Scanner-Delivery"
)

// signaturePrefix names the algorithm in HeaderSignature.
const signaturePrefix = "sha256="

// DefaultTimeout bounds a delivery when Config.Timeout is zero: a receiver
// only has to store the body and answer; one that takes longer is treated
// as down and tried again later.
const DefaultTimeout = 10 * time.Second

// DefaultWindow is how far a timestamp may be from the receiver's clock for
// Verify: wide enough for clock skew and a slow network, narrow enough that a
// captured request is soon useless.
const DefaultWindow = 5 * time.Minute

// maxResponseBytes bounds what is read of a receiver's answer, only so that
// the connection can be reused; the answer itself is never kept.
const maxResponseBytes = 16 << 10

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("no signature or timestamp")
	ErrBadSignature = errors.New("signature does not match")
	ErrStale        = errors.New("timestamp outside the replay window")
)

// ErrInvalidURL marks a callback URL that cannot be delivered to: not
// absolute http or https with a host. Permanent.
var ErrInvalidURL = errors.New("invalid callback URL")

// Sign returns the HeaderSignature value for body signed at timestamp.
func Sign(secret []byte, timestamp time.Time, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(secret, timestamp.Unix(), body))
}

func mac(secret []byte, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(strconv.FormatInt(unix, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a delivery as a receiver would: signature is the
// HeaderSignature value (several comma-separated "sha256=" values are
// accepted, for a sender signing with an old and a new secret during a
// rotation), timestamp the HeaderTimestamp value, and the timestamp must be
// within window of now (DefaultWindow when window <= 0). The comparison
// takes constant time.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, window time.Duration) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no secret to verify with", ErrBadSignature)
	}
	timestamp, signature = strings.TrimSpace(timestamp), strings.TrimSpace(signature)
	if timestamp == "" || signature == "" {
		return ErrNoSignature
	}
	if strings.Trim(timestamp, "0123456789") != "" || len(timestamp) > 12 {
		return fmt.Errorf("%w: malformed timestamp", ErrBadSignature)
	}
	unix, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: malformed timestamp", ErrBadSignature)
	}
	if window <= 0 {
		window = DefaultWindow
	}
	if d := now.Sub(time.Unix(unix, 0)); d > window || d < -window {
		return ErrStale
	}
	want := mac(secret, unix, body)
	for _, candidate := range strings.Split(signature, ",") {
		hexSig, ok := strings.CutPrefix(strings.TrimSpace(candidate), signaturePrefix)
		if !ok {
			continue
		}
		got, err := hex.DecodeString(hexSig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// VerifyRequest is Verify with the headers of r; body is r's body, already
// read by the caller (who bounds it).
func VerifyRequest(secret []byte, r *http.Request, body []byte, now time.Time, window time.Duration) error {
	return Verify(secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, now, window)
}

// Config configures a Notifier.
type Config struct {
	// Secret keys the signatures. Required: an unsigned callback could be
	// forged by anyone who can reach the receiver.
	Secret []byte
	// Timeout bounds each delivery; zero means DefaultTimeout.
	Timeout time.Duration
	// Transport sends the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// UserAgent is sent when set.
	UserAgent string
	// Now is the clock for timestamps; nil means time.Now.
	Now func() time.Time
}

// Notifier delivers signed callbacks. It is safe for concurrent use.
type Notifier struct {
	secret    []byte
	userAgent string
	now       func() time.Time
	http      *http.Client
}

// New returns a Notifier, or an error when cfg has no secret.
func New(cfg Config) (*Notifier, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("notify: a secret is required to sign callbacks")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Notifier{
		secret:    append([]byte(nil), cfg.Secret...),
		userAgent: cfg.UserAgent,
		now:       cfg.Now,
		http: &http.Client{
			Transport: cfg.Transport,
			Timeout:   cfg.Timeout,
			// A redirect is answered, not followed: the allow-list
			// approved this URL, not wherever it points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Receipt is a delivery the receiver accepted.
type Receipt struct {
	StatusCode int
	// Timestamp is the one signed and sent.
	Timestamp time.Time
}

// Error is a failed delivery. It holds neither the secret, nor the body, nor
// anything the receiver answered but its status, and shows the URL without
// credentials or query.
type Error struct {
	// URL is the callback URL without userinfo, query or fragment.
	URL string
	// StatusCode is the receiver's status, 0 when no answer arrived.
	StatusCode int
	// Transient is true when a later attempt may succeed: no answer in
	// time, a connection error, 5xx, 429 or 408.
	Transient bool
	// RetryAfter is the receiver's Retry-After on a transient answer, in
	// delta-seconds, at most a day; zero when none.
	RetryAfter time.Duration
	// Err is the cause when no answer arrived.
	Err error
}

func (e *Error) Error() string {
	switch {
	case e.StatusCode == 0:
		return fmt.Sprintf("callback to %s failed: %v", e.URL, e.Err)
	case e.StatusCode >= 300 && e.StatusCode < 400:
		return fmt.Sprintf("callback to %s failed: receiver answered %d %s; redirects are not followed", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("callback to %s failed: receiver answered %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

func (e *Error) Unwrap() error { return e.Err }

// IsTransient reports whether a delivery that failed with err may succeed on
// a later attempt.
func IsTransient(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Transient
}

// Deliver POSTs body (JSON) to target, signed, with id in HeaderDelivery
// when it is not empty. A 2xx answer is a Receipt; anything else an *Error.
func (n *Notifier) Deliver(ctx context.Context, target string, body []byte, id string) (*Receipt, error) {
	u, err := ParseURL(target)
	if err != nil {
		return nil, &Error{URL: Redact(target), Err: err}
	}
	fail := &Error{URL: Redact(target)}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		fail.Err = errors.New("cannot build the request")
		return nil, fail
	}
	ts := n.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(n.secret, ts, body))
	if id != "" {
		req.Header.Set(HeaderDelivery, id)
	}
	if n.userAgent != "" {
		req.Header.Set("User-Agent", n.userAgent)
	}

	resp, err := n.http.Do(req)
	if err != nil {
		fail.Err, fail.Transient = httperr.Transport(err), true
		return nil, fail
	}
	// Read a little so the connection can be reused; never keep it: a
	// receiver may echo the request, headers and all.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()

	fail.StatusCode = resp.StatusCode
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return &Receipt{StatusCode: s, Timestamp: ts}, nil
	case s >= 500 || s == http.StatusTooManyRequests || s == http.StatusRequestTimeout:
		fail.Transient = true
		fail.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
	}
	return nil, fail
}

// ParseURL checks a callback URL: absolute, http or https, with a host. The
// error wraps ErrInvalidURL and does not repeat the URL.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: it does not parse", ErrInvalidURL)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: scheme %q, want http or https", ErrInvalidURL, u.Scheme)
	case u.Host == "":
		return nil, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	u.Fragment = ""
	return u, nil
}

// Redact shows a callback URL without userinfo, query and fragment, where
// credentials and tokens travel; an unparsable one is not shown.
func Redact(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Opaque != "" {
		return "(unparsable URL)"
	}
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}

// maxRetryAfter bounds a Retry-After so a huge one cannot overflow.
const maxRetryAfter = 24 * time.Hour

func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" || strings.Trim(v, "0123456789") != "" {
		return 0
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs > int64(maxRetryAfter/time.Second) {
		return maxRetryAfter
	}
	return time.Duration(secs) * time.Second
}
