// Package scan is the scanner's domain: what an image under test is, which of
// its labels the analytics server needs, how they are checked, and the result
// document a scan produces. It knows nothing of HTTP, SQL or the Docker API;
// those live in the packages named after them.
package scan

import (
	"context"
	"errors"
	"strings"
)

// Image is what the scanner needs to know of an image under test.
type Image struct {
	// ID is the image id as the daemon reports it, "sha256:<64 hex>".
	ID string
	// Names are the image's repository tags, e.g. "nshaikh/test_label:latest".
	Names []string
	// Labels are the image's config labels; a registry's or layout's
	// manifest annotations are merged in (see the registry package).
	Labels map[string]string
	// Origin says where the image was read and which exact content it is.
	Origin Origin
}

// ShortID returns the image id without its "sha256:" prefix: the form atomic
// uses for folder names and the result's UUID.
func (i Image) ShortID() string { return strings.TrimPrefix(i.ID, "sha256:") }

// LabelSource finds an image by reference, image id or container id and
// returns its labels. A container id resolves to the container's image.
type LabelSource interface {
	Inspect(ctx context.Context, ref string) (Image, error)
}

// Errors a LabelSource wraps so that callers can tell a missing image (final)
// from a daemon that cannot be reached (worth retrying).
var (
	ErrImageNotFound     = errors.New("image not found")
	ErrDaemonUnavailable = errors.New("docker daemon unavailable")
)
