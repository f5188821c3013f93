// Package analytics is a client of the fabric8 analytics server: it
// registers an image's repository for analysis and reports scanner errors.
//
// Client implements scan.Registrar. Its errors are classified so that
// callers retry only what can succeed: an *Error says Transient(),
// RetryAfter() and ServerStatus(), which scan.IsTransient, scan.RetryAfter
// and scan.ServerStatus read. Credentials are sent as headers and never
// appear in errors, results or logs.
package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/httperr"

	"github.com/centos-pipeline/analytics-scanner/internal/redact"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

var _ scan.Registrar = (*Client)(nil)

// Endpoint paths, appended to the server URL's own path.
const (
	EndpointRegister     = "register"
	EndpointScannerError = "scanner-error"
)

// DefaultTimeout bounds each request when Config.Timeout is zero. The real
// server's workers time out after 60 s; a registration normally answers in
// well under a second, so 15 s leaves room for a slow server without letting
// a hung one hold a pipeline.
const DefaultTimeout = 15 * time.Second

// maxResponseBytes bounds what is read of an answer: the useful part is a
// short JSON summary, and a broken or hostile server must not make the
// scanner buffer megabytes.
const maxResponseBytes = 64 << 10

// maxSummaryBytes bounds the server text copied into errors and results.
const maxSummaryBytes = 1024

// errRedirect marks a redirect the client refused to follow: permanent.
var errRedirect = errors.New("refused redirect")

// ErrConfig marks a configuration the client cannot work with (no server
// URL, no scheme, a scheme other than http/https). Such errors are permanent.
var ErrConfig = errors.New("invalid analytics server configuration")

// Config configures a Client.
type Config struct {
	// ServerURL is the analytics server's base URL, e.g. "http://host" or
	// "https://host/api/v1". Its path is kept and endpoints are appended.
	ServerURL string
	// Token, when set, is sent as "Authorization: Bearer <token>".
	Token string
	// ThreeScaleSecret, when set, is sent as "x-3scale-account-secret".
	ThreeScaleSecret string
	// Timeout bounds every request; zero means DefaultTimeout.
	Timeout time.Duration
	// Transport sends the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// UserAgent is sent with every request when set.
	UserAgent string
}

// Client talks to one analytics server. It is safe for concurrent use.
type Client struct {
	base             *url.URL
	token            string
	threeScaleSecret string
	userAgent        string
	http             *http.Client
	// scrub masks the client's own credentials in what a server answers:
	// a server or proxy whose error page repeats the request's headers
	// would otherwise put them in errors, results and records.
	scrub *redact.Scrubber
}

// ParseServerURL checks an analytics server URL: it must be absolute, http
// or https, with a host. The error wraps ErrConfig.
func ParseServerURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, fmt.Errorf("%w: server URL is empty", ErrConfig)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// "127.0.0.1:9000" does not parse (a first segment with a colon),
		// while "localhost:9000" parses as a scheme: both lack a scheme,
		// and saying so is the help the user needs.
		if !strings.Contains(raw, "://") {
			if withScheme, err := url.Parse("http://" + raw); err == nil && withScheme.Host != "" {
				shown := strings.TrimPrefix(redacted(withScheme), "http://")
				return nil, fmt.Errorf("%w: server URL %q has no scheme; use http:// or https://", ErrConfig, shown)
			}
		}
		// url.Error quotes the input, which may hold user:password.
		return nil, fmt.Errorf("%w: server URL does not parse", ErrConfig)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" || u.Host == "" && u.Opaque != "" {
			return nil, fmt.Errorf("%w: server URL %q has no scheme; use http:// or https://", ErrConfig, redacted(u))
		}
		return nil, fmt.Errorf("%w: server URL %q has scheme %q; use http or https", ErrConfig, redacted(u), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: server URL %q has no host", ErrConfig, redacted(u))
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// RedactURL returns raw with any password, query and fragment removed, for
// messages about a URL a user gave: url.URL.Redacted alone misses a password
// in a URL without "//" ("user:secret@host") and keeps "?token=...". A URL
// that does not parse is not shown at all.
func RedactURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "(unparsable URL)"
	}
	return redacted(u)
}

// redacted shows u in an error without its password or query. URL.Redacted
// hides only a parsed password, and a URL without "//" keeps its userinfo in
// Opaque: "user:secret@host" parses as scheme "user", opaque "secret@host".
func redacted(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment = "", ""
	if i := strings.LastIndexByte(c.Opaque, '@'); i >= 0 {
		c.Opaque = "xxxxx" + c.Opaque[i:]
	}
	return c.Redacted()
}

// New returns a client for cfg, or an error wrapping ErrConfig (a bad server
// URL, or a credential that cannot be sent as a header).
func New(cfg Config) (*Client, error) {
	base, err := ParseServerURL(cfg.ServerURL)
	if err != nil {
		return nil, err
	}
	// Go refuses to send a header holding a control character (say, the
	// newline of a token read from a file); every request would then fail
	// as if the network were down, and be retried for nothing.
	if !validHeaderValue(cfg.Token) {
		return nil, fmt.Errorf("%w: the token holds a control character such as a newline", ErrConfig)
	}
	if !validHeaderValue(cfg.ThreeScaleSecret) {
		return nil, fmt.Errorf("%w: the 3scale secret holds a control character such as a newline", ErrConfig)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	transport := cfg.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	return &Client{
		base:             base,
		token:            cfg.Token,
		threeScaleSecret: cfg.ThreeScaleSecret,
		userAgent:        cfg.UserAgent,
		scrub:            redact.New(cfg.Token, cfg.ThreeScaleSecret),
		http: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			// Go drops Authorization on a redirect to another host but
			// forwards custom headers such as the 3scale secret, so
			// redirects are followed only within the same host and
			// scheme (http may go to https, not back).
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return fmt.Errorf("%w: stopped after 5 redirects", errRedirect)
				}
				if req.URL.Host != via[0].URL.Host {
					return fmt.Errorf("%w to another host %q", errRedirect, req.URL.Host)
				}
				// Nor from https to http, which would send the
				// credentials in clear text.
				if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
					return fmt.Errorf("%w from https to %s", errRedirect, req.URL.Scheme)
				}
				// Go follows 301, 302 and 303 with a GET without the
				// body: whatever answered that would register nothing.
				if req.Method != via[0].Method {
					return fmt.Errorf("%w: a %d answer would resend the %s as a %s; point the server URL at the final address",
						errRedirect, req.Response.StatusCode, via[0].Method, req.Method)
				}
				return nil
			},
		},
	}, nil
}

// validHeaderValue reports whether v may be sent as a header value: no
// control characters but tab (RFC 9110's field-value).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// ServerURL returns the server's base URL with any password redacted: the
// form to show in results and logs.
func (c *Client) ServerURL() string { return c.base.Redacted() }

// endpoint returns the URL of an endpoint: the server URL's path with the
// endpoint appended, so "http://h/api/v1" gives "http://h/api/v1/register".
func (c *Client) endpoint(endpoint string) *url.URL {
	return c.base.JoinPath(endpoint)
}

// registration is the body of a register request.
type registration struct {
	GitURL   string `json:"git-url"`
	GitSHA   string `json:"git-sha"`
	EmailIDs string `json:"email-ids"`
}

// errorReport is the body of a scanner-error request.
type errorReport struct {
	ImageName string   `json:"image-name"`
	EmailIDs  string   `json:"email-ids"`
	Errors    []string `json:"error"`
}

// Register registers a repository and commit for analysis. It succeeds only
// on a 2xx answer whose JSON body does not say "success": false.
func (c *Client) Register(ctx context.Context, r scan.Registration) (*scan.Response, error) {
	return c.post(ctx, EndpointRegister, registration(r))
}

// ReportError tells the server why a scan failed. The real server has no
// such endpoint (it answers 404); callers treat it as best effort.
func (c *Client) ReportError(ctx context.Context, r scan.ErrorReport) (*scan.Response, error) {
	if r.Errors == nil {
		r.Errors = []string{}
	}
	return c.post(ctx, EndpointScannerError, errorReport(r))
}

// Error is a failed request. It never holds credentials.
type Error struct {
	// Endpoint is EndpointRegister or EndpointScannerError.
	Endpoint string
	// URL is the endpoint URL, password redacted.
	URL string
	// StatusCode is the HTTP status, 0 when no answer arrived.
	StatusCode int
	// Summary is what the server said, bounded.
	Summary string
	// Wait is the server's Retry-After on a transient answer (429, 503,
	// ...), if any, at most 24 hours.
	Wait time.Duration
	// Retryable is true when the same request may succeed later.
	Retryable bool
	// Err is the transport error when no answer arrived.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s request to %s failed: ", e.Endpoint, e.URL)
	switch {
	case e.StatusCode == 0:
		b.WriteString(e.Err.Error())
	case e.StatusCode >= 200 && e.StatusCode < 300 && e.Err != nil:
		// A 2xx fails only when its body could not be read or used, or
		// said success false.
		fmt.Fprintf(&b, "server answered %d but %v", e.StatusCode, e.Err)
	case e.StatusCode >= 200 && e.StatusCode < 300:
		fmt.Fprintf(&b, "server answered %d with success false", e.StatusCode)
	default:
		fmt.Fprintf(&b, "server answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Summary != "" {
		fmt.Fprintf(&b, ": %s", e.Summary)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether the request may succeed later: connection
// errors, timeouts, 5xx and 429. Configuration errors and other 4xx are
// permanent.
func (e *Error) Transient() bool { return e.Retryable }

// RetryAfter is the wait the server asked for, 0 if none.
func (e *Error) RetryAfter() time.Duration { return e.Wait }

// ServerStatus is the HTTP status of the answer, 0 when none arrived.
func (e *Error) ServerStatus() int { return e.StatusCode }

// answer is the union of the bodies the real server and the mock send.
type answer struct {
	Success *bool  `json:"success"`
	Summary string `json:"summary"`
	Message string `json:"message"`
	Error   string `json:"error"`
}

func (c *Client) post(ctx context.Context, endpoint string, body any) (*scan.Response, error) {
	u := c.endpoint(endpoint)
	fail := &Error{Endpoint: endpoint, URL: u.Redacted()}

	payload, err := json.Marshal(body)
	if err != nil {
		fail.Err = err
		return nil, fail
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(payload))
	if err != nil {
		fail.Err = err
		return nil, fail
	}
	// The real server compares the whole header: "; charset=utf-8" is refused.
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.threeScaleSecret != "" {
		req.Header.Set("x-3scale-account-secret", c.threeScaleSecret)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		fail.Err = httperr.Transport(err)
		// A request that never got an answer may succeed later, unless
		// the redirect policy refused it.
		fail.Retryable = !errors.Is(err, errRedirect)
		return nil, fail
	}
	defer resp.Body.Close()
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	// Scrubbed before anything is taken from it, and before the summary
	// is cut short, which could leave half a secret.
	raw = c.scrub.Bytes(raw)

	fail.StatusCode = resp.StatusCode
	var a answer
	jsonErr := json.Unmarshal(raw, &a)
	fail.Summary = summaryOf(a, raw, jsonErr == nil)

	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if readErr != nil {
			// The body was cut off: the registration may or may not
			// have happened, and registering again is harmless.
			fail.Err, fail.Retryable = fmt.Errorf("its answer was cut off: %w", readErr), true
			return nil, fail
		}
		if jsonErr == nil && a.Success != nil && !*a.Success {
			return nil, fail
		}
		return &scan.Response{StatusCode: resp.StatusCode, Summary: fail.Summary}, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 ||
		resp.StatusCode == http.StatusRequestTimeout:
		fail.Retryable = true
		fail.Wait = parseRetryAfter(resp.Header.Get("Retry-After"))
	}
	return nil, fail
}

func summaryOf(a answer, raw []byte, isJSON bool) string {
	s := ""
	if isJSON {
		for _, v := range []string{a.Summary, a.Message, a.Error} {
			if v != "" {
				s = v
				break
			}
		}
	} else {
		s = strings.TrimSpace(string(raw))
	}
	if len(s) > maxSummaryBytes {
		s = s[:maxSummaryBytes] + "…"
	}
	return strings.ToValidUTF8(s, "")
}

// maxRetryAfter bounds a Retry-After, so that a huge one cannot overflow a
// Duration; a caller asked to wait this long gives up anyway.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads delta-seconds (digits only) or an HTTP date; 0 means
// none or unreadable.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		// Only digits: ParseInt fails only when the number is too big.
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}
