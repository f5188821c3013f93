package api

import (
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/distribution/reference"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// submitBody is POST /scan's body, whatever its content type.
type submitBody struct {
	Image    string `json:"image"`
	ScanType string `json:"scan_type"`
	Server   string `json:"server"`
	Source   string `json:"source"`
	// CallbackURL asks for the record to be POSTed there when the scan,
	// then its report, is final.
	CallbackURL string `json:"callback_url"`
}

// The content types a submit accepts.
const (
	contentJSON = "application/json"
	contentText = "text/plain"
	contentForm = "application/x-www-form-urlencoded"
)

// readSubmitBody reads a submit in any of its three forms: JSON; the image
// reference alone as text/plain; or a form, which is what `curl -d` sends.
// A form body without '=' is taken as the reference itself, because an
// image reference never contains '=' and `curl -d nginx host/scan` is the
// obvious thing to type.
func readSubmitBody(w http.ResponseWriter, r *http.Request, limit int64) (submitBody, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return submitBody{}, scan.Errorf(EUnsupportedMediaType,
			"the request has no Content-Type; send %s, %s or %s", contentJSON, contentText, contentForm)
	}
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return submitBody{}, scan.Errorf(EUnsupportedMediaType, "Content-Type %s does not parse", quote(ct))
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	switch mediaType {
	case contentJSON:
		return decode[submitBody](body)
	case contentText:
		raw, err := io.ReadAll(body)
		if err != nil {
			return submitBody{}, bodyError(err)
		}
		return submitBody{Image: string(raw)}, nil
	case contentForm:
		raw, err := io.ReadAll(body)
		if err != nil {
			return submitBody{}, bodyError(err)
		}
		return parseForm(string(raw))
	}
	return submitBody{}, scan.Errorf(EUnsupportedMediaType,
		"Content-Type %s is not supported; send %s, %s or %s", quote(mediaType), contentJSON, contentText, contentForm)
}

// parseForm reads a form body: fields named as in the JSON body, or a bare
// URL-encoded reference.
func parseForm(raw string) (submitBody, error) {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "=") {
		image, err := url.QueryUnescape(raw)
		if err != nil {
			return submitBody{}, scan.Errorf(scan.EInvalid, "the form body is not URL-encoded: %v", err)
		}
		return submitBody{Image: image}, nil
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return submitBody{}, scan.Errorf(scan.EInvalid, "the form body does not parse: %v", err)
	}
	var b submitBody
	for _, name := range slices.Sorted(maps.Keys(values)) {
		vs := values[name]
		var field *string
		switch name {
		case "image":
			field = &b.Image
		case "scan_type":
			field = &b.ScanType
		case "server":
			field = &b.Server
		case "source":
			field = &b.Source
		case "callback_url":
			field = &b.CallbackURL
		default:
			return submitBody{}, scan.Errorf(EUnknownField, "unknown field %s", quote(name))
		}
		if len(vs) > 1 {
			return submitBody{}, scan.Errorf(scan.EInvalid, "field %s is given %d times", quote(name), len(vs))
		}
		*field = vs[0]
	}
	return b, nil
}

// checkImage accepts an image reference in Docker's normalised grammar
// ("nginx", "nginx:1.2", "host:5000/a/b@sha256:...") or an image or
// container id ("sha256:<64 hex>", or 12 to 64 hex digits).
func checkImage(image string) error {
	if scan.LooksLikeID(image) {
		return nil
	}
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		return scan.Errorf(EInvalidReference, "image %s is not a valid reference or id: %v", quote(image), err)
	}
	return nil
}
