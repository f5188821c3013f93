// Package docker implements scan.LabelSource with the Docker Engine API.
package docker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// DefaultRequestTimeout bounds each request to the daemon unless the caller's
// context ends sooner: an inspect answers in milliseconds, and a daemon that
// hangs must not hang a one-shot scan (and with it an atomic run) forever.
// client.WithTimeout passed to New overrides it.
const DefaultRequestTimeout = 30 * time.Second

// Source reads image labels from a Docker daemon.
type Source struct {
	api client.APIClient
	// opts are New's options after the defaults, for the clients of
	// long-lived streams (see Index).
	opts []client.Opt
}

var _ scan.LabelSource = (*Source)(nil)

// New returns a Source configured from Docker's own environment (DOCKER_HOST,
// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION). The API version
// is negotiated: a current client speaks a newer API than older daemons
// (20.10 speaks 1.41) and would otherwise be refused.
func New(opts ...client.Opt) (*Source, error) {
	opts = append([]client.Opt{client.FromEnv, client.WithAPIVersionNegotiation(),
		client.WithTimeout(DefaultRequestTimeout)}, opts...)
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	if t, ok := c.HTTPClient().Transport.(*http.Transport); ok {
		// Go keeps 2 idle connections per host by default: the service's
		// workers and accepts inspect at once, and every request past two
		// dialled the daemon anew and closed the connection after,
		// doubling an inspect's cost to both sides under load.
		t.MaxIdleConns = max(t.MaxIdleConns, idleConns)
		t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, idleConns)
	}
	return &Source{api: c, opts: opts}, nil
}

// streamClient is a client like the Source's, without its whole-request
// timeout: an event stream is one request that lasts as long as it is
// read, and the request timeout would cut it every 30 s.
func (s *Source) streamClient() (*client.Client, error) {
	opts := append(append([]client.Opt(nil), s.opts...), client.WithTimeout(0))
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return c, nil
}

// idleConns is how many idle connections to the daemon a Source keeps:
// more than the workers and accepts a service runs at once.
const idleConns = 64

// Client returns the underlying API client, for tests and tools that build
// images or containers on the same daemon.
func (s *Source) Client() client.APIClient { return s.api }

// Close releases the client's connections.
func (s *Source) Close() error { return s.api.Close() }

// Ping checks that the daemon answers.
func (s *Source) Ping(ctx context.Context) error {
	if _, err := s.api.Ping(ctx); err != nil {
		return classify(err, "ping")
	}
	return nil
}

// Inspect returns the image ref names. When no image has that name or id,
// ref is tried as a container, whose image is returned: atomic hands
// scanners container ids as well as image ids.
func (s *Source) Inspect(ctx context.Context, ref string) (scan.Image, error) {
	if ref == "" {
		return scan.Image{}, fmt.Errorf("%w: empty image reference", scan.ErrImageNotFound)
	}
	img, err := s.api.ImageInspect(ctx, ref)
	if err == nil {
		return toImage(img, ref), nil
	}
	// The daemon refuses a ref that is not a valid image reference (400)
	// before looking: it may still name a container, whose names allow
	// upper case ("MyApp").
	invalidRef := errdefs.IsInvalidArgument(err)
	if !errdefs.IsNotFound(err) && !invalidRef {
		return scan.Image{}, classify(err, ref)
	}
	ctr, cerr := s.api.ContainerInspect(ctx, ref)
	if cerr != nil {
		switch {
		case errdefs.IsNotFound(cerr) && invalidRef:
			return scan.Image{}, fmt.Errorf("%w: %q is not a container and not a valid image reference", scan.ErrImageNotFound, ref)
		case errdefs.IsNotFound(cerr):
			return scan.Image{}, fmt.Errorf("%w: no image or container %q on the daemon", scan.ErrImageNotFound, ref)
		}
		return scan.Image{}, classify(cerr, ref)
	}
	img, err = s.api.ImageInspect(ctx, ctr.Image)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return scan.Image{}, fmt.Errorf("%w: image %s of container %q", scan.ErrImageNotFound, ctr.Image, ref)
		}
		return scan.Image{}, classify(err, ref)
	}
	return toImage(img, ref), nil
}

func toImage(img image.InspectResponse, ref string) scan.Image {
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
	switch {
	case client.IsErrConnectionFailed(err), errors.Is(err, context.DeadlineExceeded),
		errdefs.IsUnavailable(err), errdefs.IsInternal(err):
		return fmt.Errorf("%w: %s: %v", scan.ErrDaemonUnavailable, what, err)
	case errdefs.IsNotFound(err):
		return fmt.Errorf("%w: %q", scan.ErrImageNotFound, what)
	}
	return fmt.Errorf("inspect %q: %w", what, err)
}
