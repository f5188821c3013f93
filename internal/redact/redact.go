// Package redact removes configured secrets from text before it leaves the
// process: log lines, stored records, result files, error messages.
//
// A secret can come back from outside in a form other than the one configured:
// an analytics server whose error page repeats the request headers, a proxy
// that URL-encodes them, a JSON encoder that escapes them. A Scrubber knows
// the usual disguises of each secret and replaces every one of them.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strings"
)

// Mask replaces a secret in scrubbed text.
const Mask = "[REDACTED]"

// minSecretLen is the shortest secret worth scrubbing. A secret of one or two
// characters would turn every occurrence of those letters in a log into the
// mask; such a secret protects nothing anyway, and the configuration refuses
// it separately.
const minSecretLen = 4

// Scrubber replaces known secrets in text. The zero value and a nil Scrubber
// scrub nothing. It is safe for concurrent use.
type Scrubber struct {
	replacer *strings.Replacer
	// forms are the encodings looked for, longest first; kept so that
	// Contains can answer without building a replacement.
	forms []string
}

// New returns a Scrubber for the given secrets. Empty and very short values
// are ignored, so that callers can pass every configured secret, set or not.
func New(secrets ...string) *Scrubber {
	seen := map[string]bool{}
	var forms []string
	add := func(f string) {
		if len(f) >= minSecretLen && !seen[f] {
			seen[f] = true
			forms = append(forms, f)
		}
	}
	for _, s := range secrets {
		if len(s) < minSecretLen {
			continue
		}
		for _, f := range disguises(s) {
			add(f)
		}
	}
	if len(forms) == 0 {
		return &Scrubber{}
	}
	// strings.Replacer tries the old strings in argument order at each
	// position; the longest first means that a secret which contains another
	// is masked whole.
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Mask)
	}
	return &Scrubber{replacer: strings.NewReplacer(pairs...), forms: forms}
}

// disguises lists the forms in which s may come back: as given, URL-encoded
// (query and path), JSON-escaped, and base64 (as in a Basic authorization a
// peer built from it).
func disguises(s string) []string {
	return []string{
		s,
		url.QueryEscape(s),
		url.PathEscape(s),
		jsonString(s, true),
		jsonString(s, false),
		base64.StdEncoding.EncodeToString([]byte(s)),
		base64.RawURLEncoding.EncodeToString([]byte(s)),
	}
}

// jsonString is s as a JSON string body, without the quotes; Go's encoder
// escapes <, > and & by default, other encoders do not.
func jsonString(s string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s) // a string always encodes
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// String returns s with every secret replaced by Mask.
func (r *Scrubber) String(s string) string {
	if r == nil || r.replacer == nil {
		return s
	}
	return r.replacer.Replace(s)
}

// Strings scrubs each element of ss in place and returns ss.
func (r *Scrubber) Strings(ss []string) []string {
	for i, s := range ss {
		ss[i] = r.String(s)
	}
	return ss
}

// Bytes returns b with every secret replaced by Mask. It returns b itself
// when there is nothing to replace.
func (r *Scrubber) Bytes(b []byte) []byte {
	if !r.Contains(string(b)) {
		return b
	}
	return []byte(r.replacer.Replace(string(b)))
}

// Contains reports whether s holds any secret in any of its disguises.
func (r *Scrubber) Contains(s string) bool {
	if r == nil {
		return false
	}
	for _, f := range r.forms {
		if strings.Contains(s, f) {
			return true
		}
	}
	return false
}

// Empty reports whether r has no secret to scrub.
func (r *Scrubber) Empty() bool { return r == nil || len(r.forms) == 0 }

// Error returns err with its message scrubbed; nil stays nil. The returned
// error unwraps to err, so errors.Is and errors.As still see the original
// kind, but its Error() never shows a secret.
func (r *Scrubber) Error(err error) error {
	if err == nil || !r.Contains(err.Error()) {
		return err
	}
	return &scrubbedError{msg: r.String(err.Error()), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// Writer returns an io.Writer that scrubs what it writes to w. Each Write is
// scrubbed on its own, which suits writers that are given whole records (a
// zerolog logger writes one JSON line per call); a secret split across two
// writes would pass.
func (r *Scrubber) Writer(w io.Writer) io.Writer {
	if r.Empty() {
		return w
	}
	return &writer{r: r, w: w}
}

type writer struct {
	r *Scrubber
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	if !w.r.Contains(string(p)) {
		return w.w.Write(p)
	}
	if _, err := w.w.Write(w.r.Bytes(p)); err != nil {
		return 0, err
	}
	// The caller wrote len(p) bytes of its own; what we passed on is longer
	// or shorter, and reporting that would look like a short write.
	return len(p), nil
}
