// Package docker implements scan.LabelSource with the Docker Engine API.
//
// It speaks the few calls it needs (ping, image and container inspect, image
// list) over net/http itself rather than through the Docker client library:
// that library links OpenTelemetry and the whole API type tree into every
// binary that imports it, about 0.8 MB of the image (issue 13), for four GET
// requests whose answers are a handful of fields. Tests still use the
// library to build images and containers (internal/dockertest).
package docker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// DefaultRequestTimeout bounds each request to the daemon unless the caller's
// context ends sooner: an inspect answers in milliseconds, and a daemon that
// hangs must not hang a one-shot scan (and with it an atomic run) forever.
// WithTimeout passed to New overrides it.
const DefaultRequestTimeout = 30 * time.Second

// DefaultHost is the daemon asked when DOCKER_HOST is not set.
const DefaultHost = "unix:///var/run/docker.sock"

// MaxAPIVersion is the newest Engine API version this client asks for; an
// older daemon's own version is used instead (negotiation, as the docker CLI
// does). The fields read here have not changed since long before 1.41
// (Docker 20.10), and daemons refuse versions older than their minimum
// (1.44 since Docker 29), so asking for a fixed old one would not do.
const MaxAPIVersion = "1.51"

// idleConns is how many idle connections to the daemon a Source keeps:
// more than the workers and accepts a service runs at once.
const idleConns = 64

// fallbackAPIVersion is what a daemon too old to send API-Version speaks.
const fallbackAPIVersion = "1.24"

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 1 << 20

// Source reads image labels from a Docker daemon.
type Source struct {
	http   *http.Client
	stream *http.Client
	// base is the daemon's URL without a path (http://docker for a socket)
	// and basePath the path DOCKER_HOST may add in front of the API's.
	base     string
	basePath string

	mu sync.Mutex
	// version is the API version in the requests' paths: DOCKER_API_VERSION
	// when set (pinned), else negotiated with the first ping that answers.
	version string
	pinned  bool
	agreed  bool
}

var _ scan.LabelSource = (*Source)(nil)

// Option changes how New connects.
type Option func(*settings)

type settings struct {
	host    string
	timeout time.Duration
}

// WithHost connects to host (unix:///path, tcp://host:port or
// http://host:port) instead of DOCKER_HOST.
func WithHost(host string) Option { return func(s *settings) { s.host = host } }

// WithTimeout bounds each request to d instead of DefaultRequestTimeout.
func WithTimeout(d time.Duration) Option { return func(s *settings) { s.timeout = d } }

// New returns a Source configured from Docker's own environment, read as the
// docker CLI reads it: DOCKER_HOST (default DefaultHost), DOCKER_API_VERSION
// (pins the version; otherwise it is negotiated, since a current client speaks
// a newer API than older daemons, 20.10 speaks 1.41, and would be refused),
// DOCKER_CERT_PATH (ca.pem, cert.pem and key.pem: TLS to a tcp:// host) and
// DOCKER_TLS_VERIFY (verify the daemon's certificate; without it a TLS
// connection checks no certificate, as with the CLI).
func New(opts ...Option) (*Source, error) {
	set := settings{host: os.Getenv("DOCKER_HOST"), timeout: DefaultRequestTimeout}
	for _, o := range opts {
		o(&set)
	}
	if set.host == "" {
		set.host = DefaultHost
	}
	scheme, addr, ok := strings.Cut(set.host, "://")
	if !ok || addr == "" {
		return nil, fmt.Errorf("docker client: unable to parse docker host %q", set.host)
	}
	tr := &http.Transport{
		// The daemon's answers are small and local; compression would only
		// cost time (the docker client library turns it off too).
		DisableCompression:  true,
		TLSHandshakeTimeout: 10 * time.Second,
		// Go keeps 2 idle connections per host by default: the service's
		// workers and accepts inspect at once, and every request past two
		// dialled the daemon anew and closed the connection after,
		// doubling an inspect's cost to both sides under load.
		MaxIdleConns:        idleConns,
		MaxIdleConnsPerHost: idleConns,
	}
	// The event stream is one long answer, so its client has no whole-request
	// timeout (the caller's context ends it); its headers must come within
	// the request timeout like any answer's.
	tr.ResponseHeaderTimeout = set.timeout
	s := &Source{http: &http.Client{Transport: tr, Timeout: set.timeout}, stream: &http.Client{Transport: tr}}
	if v := os.Getenv("DOCKER_API_VERSION"); v != "" {
		s.version, s.pinned = strings.TrimPrefix(v, "v"), true
	}
	switch scheme {
	case "unix":
		dialer := &net.Dialer{Timeout: 30 * time.Second}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", addr)
		}
		s.base = "http://docker" // any host: the dialer ignores it
	case "tcp", "http": // http://, as the docker client library took it
		u, err := url.Parse("tcp://" + addr)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("docker client: unable to parse docker host %q", set.host)
		}
		s.basePath = strings.TrimSuffix(u.Path, "/")
		s.base = "http://" + u.Host
		tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		tr.Proxy = http.ProxyFromEnvironment
		if dir := os.Getenv("DOCKER_CERT_PATH"); dir != "" {
			cfg, err := tlsFromDir(dir, os.Getenv("DOCKER_TLS_VERIFY") != "")
			if err != nil {
				return nil, fmt.Errorf("docker client: %w", err)
			}
			tr.TLSClientConfig = cfg
			s.base = "https://" + u.Host
		}
	default:
		return nil, fmt.Errorf("docker client: unsupported docker host %q: only unix://, tcp:// and http:// are", set.host)
	}
	return s, nil
}

// tlsFromDir is the CLI's TLS setup from DOCKER_CERT_PATH: the daemon's CA
// and the client's certificate and key, each used when present.
func tlsFromDir(dir string, verify bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !verify} //nolint:gosec // the CLI's meaning of an unset DOCKER_TLS_VERIFY
	if pem, err := os.ReadFile(filepath.Join(dir, "ca.pem")); err == nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificate in it", filepath.Join(dir, "ca.pem"))
		}
		cfg.RootCAs = pool
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := os.Stat(certFile); err == nil {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate in %s: %w", dir, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Close releases the client's connections.
func (s *Source) Close() error {
	s.http.CloseIdleConnections()
	return nil
}

// RequestTimeout is the bound on each request.
func (s *Source) RequestTimeout() time.Duration { return s.http.Timeout }

// APIVersion is the version the requests use: pinned, negotiated, or, before
// any request, MaxAPIVersion.
func (s *Source) APIVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.version == "" {
		return MaxAPIVersion
	}
	return s.version
}

// Ping checks that the daemon answers.
func (s *Source) Ping(ctx context.Context) error {
	if _, err := s.ping(ctx); err != nil {
		return classify(err, "ping")
	}
	return nil
}

// ping asks /_ping and returns the daemon's API version.
func (s *Source) ping(ctx context.Context) (string, error) {
	resp, err := s.send(ctx, path.Join("/", s.basePath, "_ping"))
	if err != nil {
		return "", err
	}
	defer drain(resp)
	if err := statusError(resp); err != nil {
		return "", err
	}
	v := resp.Header.Get("API-Version")
	if v == "" {
		v = fallbackAPIVersion
	}
	return v, nil
}

// negotiate settles the API version with the first ping that answers, as
// the docker CLI does: the daemon's own version when older than ours.
func (s *Source) negotiate(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pinned || s.agreed {
		return nil
	}
	v, err := s.ping(ctx)
	if err != nil {
		return err
	}
	s.version = MaxAPIVersion
	if versionLess(v, MaxAPIVersion) {
		s.version = v
	}
	s.agreed = true
	return nil
}

// apiPath is p (an API path without the version) with the version and
// DOCKER_HOST's path in front, and query.
func (s *Source) apiPath(p string, query url.Values) string {
	return (&url.URL{Path: path.Join("/", s.basePath, "v"+s.APIVersion(), p), RawQuery: query.Encode()}).String()
}

// get sends GET p (an API path, without the version) and decodes a 2xx
// answer's JSON into out.
func (s *Source) get(ctx context.Context, p string, query url.Values, out any) error {
	if err := s.negotiate(ctx); err != nil {
		return err
	}
	resp, err := s.send(ctx, s.apiPath(p, query))
	if err != nil {
		return err
	}
	defer drain(resp)
	if err := statusError(resp); err != nil {
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the daemon's answer to %s: %w", p, err)
	}
	return nil
}

func (s *Source) send(ctx context.Context, pathAndQuery string) (*http.Response, error) {
	return s.sendWith(ctx, s.http, pathAndQuery)
}

func (s *Source) sendWith(ctx context.Context, c *http.Client, pathAndQuery string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+pathAndQuery, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, &connError{err: err}
	}
	return resp, nil
}

// drain lets the connection be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
}

// connError is a request that got no answer: the daemon cannot be reached,
// or did not answer in time.
type connError struct{ err error }

func (e *connError) Error() string {
	return "cannot connect to the Docker daemon: " + e.err.Error()
}
func (e *connError) Unwrap() error { return e.err }

// apiError is an answer with an error status, and the daemon's message.
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("Error response from daemon: %s (status %d)", e.message, e.status)
}

func statusError(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var msg struct {
		Message string `json:"message"`
	}
	text := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &msg) == nil && msg.Message != "" {
		text = msg.Message
	}
	if text == "" {
		text = http.StatusText(resp.StatusCode)
	}
	return &apiError{status: resp.StatusCode, message: text}
}

// hasStatus reports whether err is an answer with one of the statuses.
func hasStatus(err error, statuses ...int) bool {
	var ae *apiError
	if !errors.As(err, &ae) {
		return false
	}
	for _, st := range statuses {
		if ae.status == st {
			return true
		}
	}
	return false
}

// The Engine API's answers, the fields read from them.
type imageInspect struct {
	ID       string   `json:"Id"`
	RepoTags []string `json:"RepoTags"`
	Config   *struct {
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
}

type containerInspect struct {
	Image string `json:"Image"`
}

// Inspect returns the image ref names. When no image has that name or id,
// ref is tried as a container, whose image is returned: atomic hands
// scanners container ids as well as image ids.
func (s *Source) Inspect(ctx context.Context, ref string) (scan.Image, error) {
	if ref == "" {
		return scan.Image{}, fmt.Errorf("%w: empty image reference", scan.ErrImageNotFound)
	}
	var img imageInspect
	err := s.get(ctx, "/images/"+ref+"/json", nil, &img)
	if err == nil {
		return toImage(img, ref), nil
	}
	// The daemon refuses a ref that is not a valid image reference (400)
	// before looking: it may still name a container, whose names allow
	// upper case ("MyApp").
	invalidRef := hasStatus(err, http.StatusBadRequest)
	if !hasStatus(err, http.StatusNotFound) && !invalidRef {
		return scan.Image{}, classify(err, ref)
	}
	var ctr containerInspect
	var cerr error = &apiError{status: http.StatusNotFound, message: "no container id"}
	if id := strings.TrimSpace(ref); id != "" { // trimmed, as the docker client did
		cerr = s.get(ctx, "/containers/"+id+"/json", nil, &ctr)
	}
	if cerr != nil {
		switch {
		case hasStatus(cerr, http.StatusNotFound) && invalidRef:
			return scan.Image{}, fmt.Errorf("%w: %q is not a container and not a valid image reference", scan.ErrImageNotFound, ref)
		case hasStatus(cerr, http.StatusNotFound):
			return scan.Image{}, fmt.Errorf("%w: no image or container %q on the daemon", scan.ErrImageNotFound, ref)
		}
		return scan.Image{}, classify(cerr, ref)
	}
	img = imageInspect{}
	if err := s.get(ctx, "/images/"+ctr.Image+"/json", nil, &img); err != nil {
		if hasStatus(err, http.StatusNotFound) {
			return scan.Image{}, fmt.Errorf("%w: image %s of container %q", scan.ErrImageNotFound, ctr.Image, ref)
		}
		return scan.Image{}, classify(err, ref)
	}
	return toImage(img, ref), nil
}

// imageSummary is an entry of the daemon's image list.
type imageSummary struct {
	ID          string   `json:"Id"`
	RepoTags    []string `json:"RepoTags"`
	RepoDigests []string `json:"RepoDigests"`
}

// listImages reads the daemon's image list (tagged and digest-only images).
func (s *Source) listImages(ctx context.Context) ([]imageSummary, error) {
	var list []imageSummary
	err := s.get(ctx, "/images/json", nil, &list)
	return list, err
}

// imageEvents follows the daemon's image events (tag, untag, delete,
// load, pull...): msgs gets one value per event, errs the error that ended
// the stream (ctx's when ctx ended it), once.
func (s *Source) imageEvents(ctx context.Context) (msgs <-chan struct{}, errs <-chan error) {
	out, errc := make(chan struct{}), make(chan error, 1)
	go func() {
		errc <- s.followEvents(ctx, out)
	}()
	return out, errc
}

func (s *Source) followEvents(ctx context.Context, out chan<- struct{}) error {
	if err := s.negotiate(ctx); err != nil {
		return err
	}
	filters, _ := json.Marshal(map[string][]string{"type": {"image"}}) // cannot fail
	resp, err := s.sendWith(ctx, s.stream, s.apiPath("/events", url.Values{"filters": {string(filters)}}))
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if err := statusError(resp); err != nil {
		return err
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var ev struct {
			Type string `json:"Type"`
		}
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return errors.New("the daemon closed the event stream")
			}
			return fmt.Errorf("reading the daemon's events: %w", err)
		}
		select {
		case out <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// LabelledTags returns the tags of the daemon's images that carry label,
// for the service's first-run hints.
func (s *Source) LabelledTags(ctx context.Context, label string) ([]string, error) {
	filters, _ := json.Marshal(map[string][]string{"label": {label}}) // cannot fail
	var images []struct {
		RepoTags []string `json:"RepoTags"`
	}
	if err := s.get(ctx, "/images/json", url.Values{"filters": {string(filters)}}, &images); err != nil {
		return nil, classify(err, "image list")
	}
	var tags []string
	for _, img := range images {
		tags = append(tags, img.RepoTags...)
	}
	return tags, nil
}

func toImage(img imageInspect, ref string) scan.Image {
	out := scan.Image{ID: img.ID, Names: img.RepoTags,
		Origin: scan.Origin{Source: scan.SourceDaemon, Reference: ref}}
	if img.Config != nil {
		out.Labels = img.Config.Labels
	}
	return out
}

// classify wraps err so that callers can tell a daemon they cannot reach
// (transient) from other failures.
func classify(err error, what string) error {
	var ce *connError
	switch {
	case errors.As(err, &ce) && !errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		hasStatus(err, http.StatusInternalServerError, http.StatusServiceUnavailable):
		return fmt.Errorf("%w: %s: %v", scan.ErrDaemonUnavailable, what, err)
	case hasStatus(err, http.StatusNotFound):
		return fmt.Errorf("%w: %q", scan.ErrImageNotFound, what)
	}
	return fmt.Errorf("inspect %q: %w", what, err)
}

// versionLess compares Engine API versions ("1.41" < "1.51").
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}
