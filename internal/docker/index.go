package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Index answers which image a reference names from memory: the daemon's
// image list, kept current by its event stream. The service resolves each
// submission's reference to an image id, so that one image submitted under
// its name and its ids is one scan; asked of the daemon, that was an
// inspect per accept (two for a reference that names nothing), which under
// load put every accept behind the workers' inspects in the daemon's queue
// and took daemon capacity from the scans themselves.
//
// The index is only as fresh as the events it has read: a tag made a few
// milliseconds before a submission may not be in it yet. A reference it
// does not know is answered ErrNotIndexed, and the service then keys the
// submission by the reference's text, as for a reference of another
// source; the worker's inspect still finds the image. While the event
// stream is down, Resolve asks the daemon, as without an index.
type Index struct {
	src  *Source
	log  zerolog.Logger
	mu   sync.RWMutex
	live bool              // the event stream is read and the list loaded since
	refs map[string]string // normalized name:tag and name@digest -> image id
	ids  map[string]bool   // "sha256:<hex>" of every image

	subscriptions atomic.Int64 // event streams opened, for tests
}

// apiClient is what the index asks of the daemon.
type apiClient interface {
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
}

// ErrNotIndexed says a reference names no image the index knows.
var ErrNotIndexed = errors.New("no image of that reference in the daemon's image list")

// listTimeout bounds one read of the daemon's image list.
const listTimeout = 30 * time.Second

// NewIndex returns an index of src's daemon, empty and not live until Run
// has loaded it.
func NewIndex(src *Source, log zerolog.Logger) *Index {
	return &Index{src: src, log: log}
}

// Live reports whether the index answers from memory.
func (x *Index) Live() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.live
}

// Resolve returns the id of the image ref names: from memory while the
// index is live, else from the daemon.
func (x *Index) Resolve(ctx context.Context, ref string) (string, error) {
	x.mu.RLock()
	live := x.live
	var id string
	if live {
		id = x.lookup(ref)
	}
	x.mu.RUnlock()
	switch {
	case !live:
		img, err := x.src.Inspect(ctx, ref)
		return img.ID, err
	case id == "":
		return "", fmt.Errorf("%w: %q", ErrNotIndexed, ref)
	}
	return id, nil
}

// lookup finds ref's image id; "" when none or, for an id prefix, more
// than one. The caller holds mu.
func (x *Index) lookup(ref string) string {
	ref = strings.TrimSpace(ref)
	if scan.LooksLikeID(ref) {
		hex := strings.TrimPrefix(ref, "sha256:")
		if len(hex) == 64 {
			if x.ids["sha256:"+hex] {
				return "sha256:" + hex
			}
			return ""
		}
		// An id prefix, as `docker images` prints them: it must name one
		// image. The daemon would take a name that looks like hex first;
		// names of 12 or more hex digits are rare enough to ignore here.
		found := ""
		for id := range x.ids {
			if strings.HasPrefix(id, "sha256:"+hex) {
				if found != "" {
					return ""
				}
				found = id
			}
		}
		return found
	}
	key, ok := refKey(ref)
	if !ok {
		return ""
	}
	return x.refs[key]
}

// refKey is the form under which the index keeps a name: fully qualified,
// with ":latest" when it has neither tag nor digest, as the daemon's image
// list spells RepoTags and RepoDigests.
func refKey(ref string) (string, bool) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", false
	}
	return reference.TagNameOnly(named).String(), true
}

// Run keeps the index current until ctx ends: it subscribes to the daemon's
// image events, loads the image list, and loads it again after events.
// When the stream fails, the index stops answering from memory until it
// has subscribed and loaded again, retrying with backoff.
func (x *Index) Run(ctx context.Context) {
	api, err := x.src.streamClient()
	if err != nil {
		x.log.Warn().Err(err).Msg("docker image index: no client; resolving submissions through the daemon")
		return
	}
	defer api.Close()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 200*time.Millisecond, 10*time.Second
	for ctx.Err() == nil {
		err := x.follow(ctx, api)
		x.setLive(false)
		if ctx.Err() != nil {
			return
		}
		wait := b.NextBackOff()
		x.log.Warn().Err(err).Int64("retry_in_ms", wait.Milliseconds()).
			Msg("docker image index: the event stream ended; resolving submissions through the daemon meanwhile")
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// follow subscribes, loads, and reloads after each burst of events, until
// the stream or ctx ends. The subscription comes first, so that no change
// made while the list is read goes unseen.
func (x *Index) follow(ctx context.Context, api apiClient) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	x.subscriptions.Add(1)
	msgs, errs := api.Events(sctx, events.ListOptions{Filters: filters.NewArgs(filters.Arg("type", string(events.ImageEventType)))})
	if err := x.load(ctx, api); err != nil {
		return err
	}
	x.setLive(true)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			if err == nil {
				err = errors.New("the daemon closed the event stream")
			}
			return err
		case <-msgs:
			// A burst of events (a build tags, a pull, an rmi) is one
			// reload: drain what has already arrived first.
			for drained := false; !drained; {
				select {
				case <-msgs:
				default:
					drained = true
				}
			}
			if err := x.load(ctx, api); err != nil {
				return err
			}
		}
	}
}

// load reads the daemon's image list and replaces the index with it.
func (x *Index) load(ctx context.Context, api apiClient) error {
	lctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	list, err := api.ImageList(lctx, image.ListOptions{})
	if err != nil {
		return classify(err, "image list")
	}
	refs := make(map[string]string, len(list))
	ids := make(map[string]bool, len(list))
	for _, img := range list {
		ids[img.ID] = true
		for _, names := range [][]string{img.RepoTags, img.RepoDigests} {
			for _, name := range names {
				if key, ok := refKey(name); ok {
					refs[key] = img.ID
				}
			}
		}
	}
	x.mu.Lock()
	x.refs, x.ids = refs, ids
	x.mu.Unlock()
	return nil
}

func (x *Index) setLive(live bool) {
	x.mu.Lock()
	x.live = live
	x.mu.Unlock()
}
