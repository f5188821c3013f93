package scan

import "errors"

// ErrRegistryUnavailable is wrapped by label sources that read a registry
// when it cannot answer now (connection refused, timeout, 5xx, 429): worth
// retrying, like ErrDaemonUnavailable.
var ErrRegistryUnavailable = errors.New("registry unavailable")

// Where an image was read from.
const (
	SourceDaemon        = "daemon"
	SourceRegistry      = "registry"
	SourceDockerArchive = "docker-archive"
	SourceOCILayout     = "oci"
)

// Origin says where an image's labels were read and which exact content
// they belong to. A registry tag moves; the digests do not, so a record that
// keeps them says which image was scanned.
type Origin struct {
	// Source is one of SourceDaemon, SourceRegistry, SourceDockerArchive,
	// SourceOCILayout.
	Source string `json:"source,omitempty"`
	// Reference is the reference as resolved, e.g.
	// "registry.example/team/app:1" or "…@sha256:…"; for an archive or a
	// layout, the path and the image picked in it.
	Reference string `json:"reference,omitempty"`
	// Digest is the digest the reference resolved to: the manifest's, or
	// the index's when the reference names a multi-platform index. A
	// registry's push event carries this digest.
	Digest string `json:"digest,omitempty"`
	// ManifestDigest is the digest of the image manifest whose config was
	// read: Digest itself, or the platform's entry of the index.
	ManifestDigest string `json:"manifest_digest,omitempty"`
	// MediaType is the media type of what Digest names.
	MediaType string `json:"media_type,omitempty"`
	// Platform is the platform picked from an index ("linux/amd64",
	// "linux/arm/v7"); empty when the reference named a single manifest.
	Platform string `json:"platform,omitempty"`
}
