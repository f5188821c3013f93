package hooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"
)

// The notification envelope's media types: distribution 2.x sends v1,
// distribution 3 sends v2 (its events gained target.references); the fields
// read here are the same in both.
const (
	DistributionEventsV1 = "application/vnd.docker.distribution.events.v1+json"
	DistributionEventsV2 = "application/vnd.docker.distribution.events.v2+json"
)

// ManifestMediaTypes are the pushed media types that name an image: the
// Docker v2 schema 2 manifest and manifest list, and the OCI manifest and
// index. A push of anything else (a layer, a config blob) is ignored.
var ManifestMediaTypes = []string{
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
}

// DistributionContentType reports whether contentType is one the registry
// sends envelopes with. Plain application/json is accepted too, for
// proxies and hand-made test deliveries.
func DistributionContentType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch mt {
	case DistributionEventsV1, DistributionEventsV2, "application/json":
		return true
	}
	return false
}

type distributionEnvelope struct {
	Events *[]distributionEvent `json:"events"`
}

type distributionEvent struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Target struct {
		MediaType  string `json:"mediaType"`
		Digest     string `json:"digest"`
		Repository string `json:"repository"`
		URL        string `json:"url"`
		Tag        string `json:"tag"`
	} `json:"target"`
	Request struct {
		Host string `json:"host"`
	} `json:"request"`
}

// ParseDistribution reads a registry notification envelope. Only "push"
// events whose target is a manifest or an index (ManifestMediaTypes) and,
// unless opts.IncludeUntagged, that name a tag become pushes; the reference is built from the registry host (opts.Host, else the
// event's request.host, else its target URL's host), the repository and the
// digest, and the tag is kept as the Name. Any malformed event makes the
// whole envelope an error (ErrMalformed), so that nothing of it is acted on.
func ParseDistribution(body []byte, opts Options) (Result, error) {
	var env distributionEnvelope
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return Result{}, malformed("not a notification envelope: %v", err)
	}
	if dec.More() {
		return Result{}, malformed("data after the envelope")
	}
	if env.Events == nil {
		return Result{}, malformed("no \"events\" list")
	}
	events := *env.Events
	if len(events) > MaxEvents {
		return Result{}, malformed("%d events, over the limit of %d", len(events), MaxEvents)
	}
	var c collector
	for i, e := range events {
		if e.Action != "push" || !isManifest(e.Target.MediaType) {
			c.res.Ignored++
			continue
		}
		if e.Target.Tag == "" && !opts.IncludeUntagged {
			c.res.Ignored++
			continue
		}
		host := opts.Host
		if host == "" {
			host = e.Request.Host
		}
		if host == "" {
			host = hostOf(e.Target.URL)
		}
		p, err := buildPush(host, e.Target.Repository, e.Target.Digest, e.Target.Tag)
		if err != nil {
			return Result{}, fmt.Errorf("event %d (%.64s): %w", i, e.ID, err)
		}
		c.add(p)
	}
	return c.res, nil
}

func isManifest(mediaType string) bool {
	mt, _, _ := strings.Cut(mediaType, ";")
	mt = strings.TrimSpace(mt)
	for _, m := range ManifestMediaTypes {
		if strings.EqualFold(mt, m) {
			return true
		}
	}
	return false
}
