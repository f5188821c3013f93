// Package hooks turns registry push notifications into scan requests: the
// Docker registry's (distribution's) notification envelope and Harbor's
// webhook payloads, default and CloudEvents formats. It only parses; the
// HTTP handlers that authenticate, bound and enqueue live with the API.
package hooks

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Push is one image pushed to a registry, as a scan request.
type Push struct {
	// Ref is the immutable reference to scan: "HOST/REPOSITORY@DIGEST".
	Ref string
	// Name is the tag form "HOST/REPOSITORY:TAG" when the push named a
	// tag, for display; empty for a push by digest.
	Name string
	// Digest is the pushed manifest's or index's digest.
	Digest string
}

// Result is what a payload asks for.
type Result struct {
	// Pushes are the images to scan, each Ref once, in payload order.
	Pushes []Push
	// Ignored counts events that are not pushes of an image: pulls,
	// deletes, layer and config blob pushes, other Harbor event types.
	Ignored int
	// Duplicates counts pushes of a Ref already in Pushes (one envelope
	// may report a manifest pushed under two tags).
	Duplicates int
}

// MaxEvents bounds the events of one payload. The registry sends a handful
// at a time; thousands would be an attack or a misconfiguration, and each
// becomes a queued scan.
const MaxEvents = 1000

// ErrMalformed is wrapped by every error about a payload's content, so that
// a handler can answer 400 for it (and 5xx for nothing here).
var ErrMalformed = errors.New("malformed payload")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Options adjust how references are built.
type Options struct {
	// Host, when set, replaces the registry host the payload names. The
	// host a registry reports is the one its clients used (a pusher's
	// "localhost:5000"); a scanner in another container may know the
	// registry by another name ("registry:5000").
	Host string
	// IncludeUntagged makes a registry's push of a manifest without a tag
	// a scan too. By default it is ignored: an untagged manifest push is,
	// nearly always, a platform entry of an index that the client (docker
	// buildx, crane, go-containerregistry) pushes by digest right before
	// the index itself, under a tag; scanning the entries as well would
	// register the same source once per platform. Harbor reports only the
	// top-level artifact, so its parser does not look at this.
	IncludeUntagged bool
}

// collector gathers pushes, deduplicating by Ref.
type collector struct {
	res  Result
	seen map[string]bool
}

func (c *collector) add(p Push) {
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	if c.seen[p.Ref] {
		c.res.Duplicates++
		return
	}
	c.seen[p.Ref] = true
	c.res.Pushes = append(c.res.Pushes, p)
}

// buildPush checks the parts of a pushed image and joins them. A host that
// a reference cannot carry (a single-label name like "harbor", which the
// reference grammar reads as the first path component of a Docker Hub
// image) is refused rather than turned into a reference to another image.
func buildPush(host, repo, digest, tag string) (Push, error) {
	switch {
	case host == "":
		return Push{}, malformed("no registry host")
	case repo == "":
		return Push{}, malformed("no repository")
	case digest == "":
		return Push{}, malformed("no digest for %s/%s", host, repo)
	}
	if !hostInReference(host) {
		return Push{}, malformed("registry host %.100q cannot stand in a reference: it needs a '.' or a port (or be localhost), or set the hook's registry host", host)
	}
	ref := host + "/" + repo + "@" + digest
	d, err := name.NewDigest(ref, name.StrictValidation)
	if err != nil {
		return Push{}, malformed("%.200q is not a valid image reference: %v", ref, err)
	}
	if got := d.Context().RegistryStr(); got != host {
		return Push{}, malformed("registry host %.100q cannot stand in a reference (it reads as %s): it needs a '.' or a port, or set the hook's registry host", host, got)
	}
	if got := d.Context().RepositoryStr(); got != repo {
		return Push{}, malformed("repository %.200q is not in canonical form (it reads as %s)", repo, got)
	}
	p := Push{Ref: d.String(), Digest: d.DigestStr()}
	if tagPattern.MatchString(tag) {
		p.Name = d.Context().Tag(tag).String()
		// A tag that is not one (Harbor repeats the digest as the tag of
		// a push by digest) leaves Name empty.
	}
	return p, nil
}

// tagPattern is the tag grammar of the distribution spec; ggcr's own check
// is looser (it takes "-bad").
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// hostInReference applies the reference grammar's rule for telling a
// registry host from a first path component: it holds a '.' or a ':' or is
// "localhost". It also refuses what no host holds.
func hostInReference(host string) bool {
	if strings.ContainsAny(host, "/@ \t\n") {
		return false
	}
	return host == "localhost" || strings.ContainsAny(host, ".:")
}

// hostOf returns the host[:port] of an absolute URL, or "".
func hostOf(rawURL string) string {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	return host
}
