package hooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Harbor's names for an artifact push: the default format's "type" and the
// CloudEvents format's "type".
const (
	HarborPushArtifact = "PUSH_ARTIFACT"
	HarborCloudEvent   = "harbor.artifact.pushed"
)

// harborPayload holds both of Harbor's formats: the default one
// ({"type", "occur_at", "operator", "event_data"}) and CloudEvents
// ({"specversion", "type", "data", ...}); the event data is the same.
type harborPayload struct {
	SpecVersion string           `json:"specversion"`
	Type        string           `json:"type"`
	EventData   *harborEventData `json:"event_data"`
	Data        *harborEventData `json:"data"`
	DataBase64  string           `json:"data_base64"`
}

type harborEventData struct {
	Resources *[]struct {
		Digest      string `json:"digest"`
		Tag         string `json:"tag"`
		ResourceURL string `json:"resource_url"`
	} `json:"resources"`
	Repository *struct {
		Name         string `json:"name"`
		Namespace    string `json:"namespace"`
		RepoFullName string `json:"repo_full_name"`
	} `json:"repository"`
}

// ParseHarbor reads a Harbor webhook payload, in the default or the
// CloudEvents format (told apart by CloudEvents' "specversion"). A payload
// of another event type is one ignored event. A PUSH_ARTIFACT payload gives
// one push per resource: the registry host and repository come from the
// resource's resource_url ("harbor.example/library/app:1" or
// "…/app@sha256:…"), the repository falling back to repository.repo_full_name
// when the URL is absent (the host then must come from opts.Host); the
// digest from the resource's digest; the tag, when it is one, is kept as the
// Name.
func ParseHarbor(body []byte, opts Options) (Result, error) {
	var p harborPayload
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		return Result{}, malformed("not a Harbor payload: %v", err)
	}
	if dec.More() {
		return Result{}, malformed("data after the payload")
	}
	data := p.EventData
	pushType := HarborPushArtifact
	if p.SpecVersion != "" {
		if !strings.HasPrefix(p.SpecVersion, "1.") {
			return Result{}, malformed("CloudEvents specversion %.20q: want 1.x", p.SpecVersion)
		}
		data, pushType = p.Data, HarborCloudEvent
		if data == nil && p.DataBase64 != "" {
			return Result{}, malformed("CloudEvents data_base64 is not supported: send the data as JSON")
		}
	}
	switch {
	case p.Type == "":
		return Result{}, malformed("no event type")
	case p.Type != pushType:
		return Result{Ignored: 1}, nil
	case data == nil || data.Resources == nil:
		return Result{}, malformed("a %s event without resources", p.Type)
	case len(*data.Resources) > MaxEvents:
		return Result{}, malformed("%d resources, over the limit of %d", len(*data.Resources), MaxEvents)
	}
	var c collector
	for i, r := range *data.Resources {
		host, repo := splitResourceURL(r.ResourceURL)
		if repo == "" && data.Repository != nil {
			repo = data.Repository.RepoFullName
		}
		if opts.Host != "" {
			host = opts.Host
		}
		push, err := buildPush(host, repo, r.Digest, r.Tag)
		if err != nil {
			return Result{}, fmt.Errorf("resource %d: %w", i, err)
		}
		c.add(push)
	}
	return c.res, nil
}

// splitResourceURL splits "HOST/REPO[:TAG|@DIGEST]" into HOST and REPO.
// The first path component is always the host in Harbor's URLs (its
// external endpoint), so the split does not guess as the reference grammar
// would.
func splitResourceURL(u string) (host, repo string) {
	if u == "" {
		return "", ""
	}
	// Harbor's URLs carry no scheme; tolerate one.
	if _, rest, ok := strings.Cut(u, "://"); ok {
		u = rest
	}
	host, repo, ok := strings.Cut(u, "/")
	if !ok {
		return host, ""
	}
	if at := strings.IndexByte(repo, '@'); at >= 0 {
		return host, repo[:at]
	}
	if colon := strings.LastIndexByte(repo, ':'); colon > strings.LastIndexByte(repo, '/') {
		repo = repo[:colon]
	}
	return host, repo
}
