// Package registry implements scan.LabelSource over a container registry
// (the OCI distribution API), a `docker save` archive and an OCI image
// layout, with go-containerregistry. It reads manifests and config blobs
// only, never a layer: an image's labels live in its config.
package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// DefaultTimeout bounds one Inspect, every request it makes included (token
// exchange, manifest, index entry, config): a hung registry must not hold a
// scan, and with it a worker, forever.
const DefaultTimeout = 30 * time.Second

// MaxConfigBytes bounds the config blob Inspect reads. The manifest states
// the size and the blob is checked against its digest, so a hostile registry
// cannot send more than it declared, but it could declare gigabytes; real
// configs are kilobytes (a few hundred KiB for images with long histories).
const MaxConfigBytes = 8 << 20

// MaxConcurrentConfigs bounds the config blobs one Source fetches at once:
// far above any worker count the service runs with, while still a bound.
const MaxConcurrentConfigs = 64

// DefaultPlatform is the platform picked from a multi-platform index.
var DefaultPlatform = v1.Platform{OS: "linux", Architecture: "amd64"}

// Options configure a Source. The zero value is usable.
type Options struct {
	// Platform is picked from an index; the zero value means
	// DefaultPlatform. A variant, when given, must match too.
	Platform v1.Platform
	// Insecure lists registries ("host" or "host:port") spoken to over plain
	// HTTP. Loopback registries (localhost, 127.0.0.0/8, ::1) always are;
	// any other host is HTTPS only.
	Insecure []string
	// Timeout bounds one Inspect; zero means DefaultTimeout.
	Timeout time.Duration
	// Keychain resolves credentials per registry; nil means
	// authn.DefaultKeychain (docker's config.json, DOCKER_CONFIG,
	// REGISTRY_AUTH_FILE and podman's auth.json).
	Keychain authn.Keychain
	// Transport carries the requests; nil means a transport like
	// remote.DefaultTransport. Tests pass one that counts requests.
	Transport http.RoundTripper
}

// Source reads image labels from registries. It is safe for concurrent use;
// one Source is meant to serve every scan of a process, because it keeps the
// per-repository token exchanges (see New).
type Source struct {
	puller *remote.Puller
	// pinger sends Ping's requests, through the plain-HTTP guard.
	pinger   *http.Client
	platform v1.Platform
	insecure []string
	timeout  time.Duration
}

var _ scan.LabelSource = (*Source)(nil)

// New returns a Source.
//
// Token exchanges are reused: a remote.Puller keeps, per repository, the
// authenticated transport of its first request (the ping, the challenge and
// the bearer token), and ggcr's bearer transport fetches a new token by
// itself when the registry answers 401 to an expired one. So the second scan
// of a repository costs two requests (manifest and config), not five.
// Credentials are looked up once per repository, at that first request: a
// changed config.json takes effect for repositories not yet seen, or after
// a restart.
func New(opts Options) (*Source, error) {
	s := &Source{platform: opts.Platform, timeout: opts.Timeout}
	if s.platform.OS == "" && s.platform.Architecture == "" {
		s.platform = DefaultPlatform
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	for _, h := range opts.Insecure {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if _, err := name.NewRegistry(h, name.Insecure); err != nil || strings.Contains(h, "/") {
			return nil, fmt.Errorf("insecure registry %q is not a host or host:port", h)
		}
		s.insecure = append(s.insecure, strings.ToLower(h))
	}
	keychain := opts.Keychain
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	inner := opts.Transport
	if inner == nil {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		// A registry that accepts the connection and then says nothing is
		// cut well before the Inspect bound ends, so that the error names
		// the cause.
		t.ResponseHeaderTimeout = s.timeout
		inner = t
	}
	s.pinger = &http.Client{Transport: &plainHTTPGuard{inner: inner, allowed: s.plainHTTPAllowed},
		// A registry's /v2/ never redirects elsewhere worth following.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	puller, err := remote.NewPuller(
		remote.WithAuthFromKeychain(keychain),
		remote.WithTransport(&plainHTTPGuard{inner: inner, allowed: s.plainHTTPAllowed}),
		remote.WithPlatform(s.platform),
		remote.WithUserAgent("analytics-scanner"),
		// One attempt per request: the scanner retries transient failures
		// itself, with its own backoff and within its own deadline;
		// ggcr's default (1 s, 3 s) would triple the time to a verdict.
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithRetryStatusCodes(),
		// The Puller lets only "jobs" blob downloads run at once across all
		// its users (default 4), a bound meant for layers. Here the only
		// blobs are configs of a few KiB, one per scan; 4 would cap the
		// service's scans at 4 in flight whatever its worker count.
		remote.WithJobs(MaxConcurrentConfigs),
	)
	if err != nil {
		return nil, fmt.Errorf("registry client: %w", err)
	}
	s.puller = puller
	return s, nil
}

// Platform returns the platform picked from indexes.
func (s *Source) Platform() v1.Platform { return s.platform }

// Inspect returns the image ref names, a tag or digest reference such as
// "registry.example/team/app:1" or "…/app@sha256:…", with its origin: the
// digests and the platform picked.
func (s *Source) Inspect(ctx context.Context, ref string) (scan.Image, error) {
	if strings.TrimSpace(ref) == "" {
		return scan.Image{}, fmt.Errorf("%w: empty image reference", scan.ErrImageNotFound)
	}
	r, err := s.parse(ref)
	if err != nil {
		return scan.Image{}, fmt.Errorf("%w: %q is not a valid image reference: %v", scan.ErrImageNotFound, ref, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	top, err := s.puller.Get(ctx, r)
	if err != nil {
		return scan.Image{}, classify(err, r)
	}
	origin := scan.Origin{
		Source:         scan.SourceRegistry,
		Reference:      r.Name(),
		Digest:         top.Digest.String(),
		ManifestDigest: top.Digest.String(),
		MediaType:      string(top.MediaType),
	}
	manifestBytes := top.Manifest
	var indexAnnotations map[string]string
	if top.MediaType.IsIndex() {
		index, err := v1.ParseIndexManifest(bytes.NewReader(top.Manifest))
		if err != nil {
			return scan.Image{}, fmt.Errorf("index %s of %s: %w", top.Digest, r.Name(), err)
		}
		child, err := pickPlatform(index, s.platform)
		if err != nil {
			return scan.Image{}, fmt.Errorf("%w: %s: %v", scan.ErrImageNotFound, r.Name(), err)
		}
		indexAnnotations = mergeAnnotations(index.Annotations, child.Annotations)
		got, err := s.puller.Get(ctx, r.Context().Digest(child.Digest.String()))
		if err != nil {
			return scan.Image{}, classify(err, r)
		}
		if got.MediaType.IsIndex() {
			return scan.Image{}, fmt.Errorf("%s: the %s entry of index %s is an index itself, which is not supported",
				r.Name(), formatPlatform(child.Platform), top.Digest)
		}
		origin.ManifestDigest = got.Digest.String()
		origin.Platform = formatPlatform(child.Platform)
		manifestBytes = got.Manifest
		top = got
	}
	if !top.MediaType.IsImage() {
		return scan.Image{}, fmt.Errorf("%s is a %s, not an image manifest", r.Name(), top.MediaType)
	}
	m, err := v1.ParseManifest(bytes.NewReader(manifestBytes))
	if err != nil {
		return scan.Image{}, fmt.Errorf("manifest %s of %s: %w", origin.ManifestDigest, r.Name(), err)
	}
	if m.Config.Size > MaxConfigBytes {
		return scan.Image{}, fmt.Errorf("%s: config blob declares %d bytes, over the %d-byte limit", r.Name(), m.Config.Size, MaxConfigBytes)
	}
	img, err := top.Image()
	if err != nil {
		return scan.Image{}, classify(err, r)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return scan.Image{}, classify(err, r)
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return scan.Image{}, fmt.Errorf("config %s of %s: %w", m.Config.Digest, r.Name(), err)
	}
	return scan.Image{
		ID:     m.Config.Digest.String(),
		Names:  []string{r.Name()},
		Labels: mergeLabels(cfg.Config.Labels, m.Annotations, indexAnnotations),
		Origin: origin,
	}, nil
}

// Ping checks that the registry at host ("host[:port]") answers the
// distribution API's base endpoint, GET /v2/, within the context's bound:
// any answer but a 5xx counts, a 401 included (the API is there; scans
// authenticate per repository). Plain HTTP is used where Inspect would.
func (s *Source) Ping(ctx context.Context, host string) error {
	scheme := "https"
	if s.plainHTTPAllowed(host) {
		scheme = "http"
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+"/v2/", nil)
	if err != nil {
		return fmt.Errorf("registry %s: %w", host, err)
	}
	resp, err := s.pinger.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", scan.ErrRegistryUnavailable, host, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%w: %s answered %s", scan.ErrRegistryUnavailable, host, resp.Status)
	}
	return nil
}

// parse reads ref as a tag or digest reference; registries named in the
// insecure list get plain HTTP.
func (s *Source) parse(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if slices.Contains(s.insecure, strings.ToLower(r.Context().RegistryStr())) {
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

// plainHTTPAllowed says whether host ("host:port") may be spoken to over
// plain HTTP. go-containerregistry itself also falls back to HTTP for
// RFC 1918 and *.local hosts; this list is narrower on purpose, since a
// registry on a private network is no less worth TLS.
func (s *Source) plainHTTPAllowed(host string) bool {
	if slices.Contains(s.insecure, strings.ToLower(host)) {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// plainHTTPGuard refuses plain-HTTP requests to hosts not allowed them,
// token servers named by a registry's challenge included.
type plainHTTPGuard struct {
	inner   http.RoundTripper
	allowed func(host string) bool
}

func (g *plainHTTPGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.allowed(req.URL.Host) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, &plainHTTPRefused{host: req.URL.Host}
	}
	return g.inner.RoundTrip(req)
}

type plainHTTPRefused struct{ host string }

func (e *plainHTTPRefused) Error() string {
	return fmt.Sprintf("plain HTTP to %s refused: it is not a loopback registry nor in the insecure registries list", e.host)
}

// pickPlatform returns the index entry for want: the first whose platform
// satisfies it (OS and architecture equal; variant and OS version too when
// want names them). Entries without a platform, such as buildx's
// attestation manifests ("unknown/unknown"), never match.
func pickPlatform(index *v1.IndexManifest, want v1.Platform) (v1.Descriptor, error) {
	var have []string
	for _, d := range index.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.Satisfies(want) {
			return d, nil
		}
		have = append(have, formatPlatform(d.Platform))
	}
	if len(have) == 0 {
		return v1.Descriptor{}, fmt.Errorf("the index has no platform entries; want %s", formatPlatform(&want))
	}
	return v1.Descriptor{}, fmt.Errorf("no %s image in the index (it has %s)", formatPlatform(&want), strings.Join(have, ", "))
}

// formatPlatform writes os/arch[/variant], the form docker and
// SCANNER_PLATFORM use.
func formatPlatform(p *v1.Platform) string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform reads "os/arch[/variant]", e.g. "linux/arm64" or
// "linux/arm/v7".
func ParsePlatform(s string) (v1.Platform, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return v1.Platform{}, fmt.Errorf("platform %q: want os/arch or os/arch/variant, e.g. linux/amd64", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// mergeLabels returns the config labels with the annotations added under
// the keys the labels do not have. Config labels win on conflict: they are
// what the daemon source reads, so the same image gives the same values
// whichever way it is scanned, and a manifest annotation (which can be
// changed without rebuilding the image) cannot override what was built in.
// The image manifest's annotations come before the index's.
func mergeLabels(labels map[string]string, annotations ...map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		out[k] = v
	}
	for _, a := range annotations {
		for k, v := range a {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
	return out
}

// mergeAnnotations merges an index's annotations with its entry's; the
// entry's are more specific and win.
func mergeAnnotations(index, entry map[string]string) map[string]string {
	if len(index) == 0 && len(entry) == 0 {
		return nil
	}
	return mergeLabels(entry, index)
}

// classify wraps err so that callers can tell a missing image (final) from
// a registry that cannot answer now (transient). Messages name the registry
// and the reference, never credentials: 401 and 403 get a message of their
// own instead of the registry's text.
func classify(err error, r name.Reference) error {
	reg := r.Context().RegistryStr()
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch {
		case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden ||
			hasCode(terr, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
			return &AccessError{Registry: reg, Reference: r.Name(), Status: terr.StatusCode}
		case terr.StatusCode == http.StatusNotFound ||
			hasCode(terr, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode):
			return fmt.Errorf("%w: %s (registry %s answered %d)", scan.ErrImageNotFound, r.Name(), reg, terr.StatusCode)
		case terr.StatusCode == http.StatusTooManyRequests || terr.StatusCode >= 500 ||
			hasCode(terr, transport.TooManyRequestsErrorCode, transport.UnavailableErrorCode):
			return fmt.Errorf("%w: %s answered %d %s for %s", scan.ErrRegistryUnavailable, reg,
				terr.StatusCode, http.StatusText(terr.StatusCode), r.Name())
		}
		return fmt.Errorf("registry %s answered %d %s for %s", reg, terr.StatusCode, http.StatusText(terr.StatusCode), r.Name())
	}
	var refused *plainHTTPRefused
	if errors.As(err, &refused) {
		return fmt.Errorf("%s: %w", r.Name(), refused)
	}
	if transient(err) {
		return fmt.Errorf("%w: %s: %v", scan.ErrRegistryUnavailable, reg, err)
	}
	return fmt.Errorf("%s: %w", r.Name(), err)
}

func hasCode(e *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range e.Errors {
		if slices.Contains(codes, d.Code) {
			return true
		}
	}
	return false
}

// transient reports network failures worth retrying: refused or reset
// connections, timeouts (the Inspect bound included), DNS failures that may
// pass, connections cut mid-answer.
func transient(err error) bool {
	var netErr net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return true
	case errors.As(err, &dnsErr):
		return dnsErr.IsTemporary || dnsErr.IsTimeout
	case errors.As(err, &netErr) && netErr.Timeout():
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// The registry closed the connection mid-answer.
		return true
	}
	return false
}

// AccessError is a registry's refusal (401 or 403): final, since retrying
// with the same credentials cannot help. It names the registry so that the
// user knows which credentials to fix, and nothing of the credentials.
type AccessError struct {
	Registry  string
	Reference string
	Status    int
}

func (e *AccessError) Error() string {
	what := "refused access to"
	if e.Status == http.StatusUnauthorized {
		what = "requires credentials for"
	}
	return fmt.Sprintf("registry %s %s %s (HTTP %d): check the credentials for %s in the docker config (DOCKER_CONFIG, REGISTRY_AUTH_FILE)",
		e.Registry, what, e.Reference, e.Status, e.Registry)
}
