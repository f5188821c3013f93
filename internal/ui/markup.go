package ui

import (
	"fmt"
	"strconv"
	"strings"
)

// The pages are written by Go code (render.go) rather than html/template:
// executing a text/template calls methods by name through reflection, and
// a binary that can do that keeps every exported method of every type it
// links, which made the image several MB larger (issue 13). markup does the
// escaping html/template did, byte for byte, for the contexts the pages use:
// element text, quoted attribute values and URL attributes. No value is ever
// written into a script, a style or an unquoted attribute.
type markup struct {
	b strings.Builder
}

// raw writes markup the code itself spells out; never a value from outside.
func (m *markup) raw(s ...string) {
	for _, p := range s {
		m.b.WriteString(p)
	}
}

// text writes s escaped for element text or a quoted attribute value.
func (m *markup) text(s string) {
	htmlEscaper.WriteString(&m.b, s)
}

// int writes n in decimal; digits need no escaping.
func (m *markup) int(n int) {
	m.b.WriteString(strconv.Itoa(n))
}

// bool writes "true" or "false", as the pages' data attributes expect.
func (m *markup) bool(v bool) {
	m.b.WriteString(strconv.FormatBool(v))
}

// url writes s as the value of a quoted href: a scheme other than http,
// https or mailto is replaced by "#ZgotmplZ" (what html/template writes), and
// bytes outside URL syntax are percent-encoded, before the value is escaped
// as an attribute. Pages link a git-url only once isWebURL accepted it; this
// is the second guard.
func (m *markup) url(s string) {
	if !safeURL(s) {
		s = "#ZgotmplZ"
	}
	m.text(normalizeURL(s))
}

// htmlEscaper is html/template's table for text and attribute values: NUL
// becomes U+FFFD, and " ' + are escaped too, so a value is inert whichever
// quote surrounds it.
var htmlEscaper = strings.NewReplacer(
	"\x00", "\uFFFD",
	`"`, "&#34;",
	"&", "&amp;",
	"'", "&#39;",
	"+", "&#43;",
	"<", "&lt;",
	">", "&gt;",
)

// safeURL is html/template's isSafeURL: a URL with a scheme must be http,
// https or mailto; a relative one is fine.
func safeURL(s string) bool {
	if protocol, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(protocol, "/") {
		return strings.EqualFold(protocol, "http") || strings.EqualFold(protocol, "https") || strings.EqualFold(protocol, "mailto")
	}
	return true
}

// normalizeURL is html/template's URL normalizer: it percent-encodes every
// byte that is neither unreserved nor reserved in RFC 3986 (so also ' ( ) and
// spaces), and keeps valid %XX escapes as they are.
func normalizeURL(s string) string {
	var b strings.Builder
	written := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte("!#$&*+,/:;=?@[]-._~", c) >= 0,
			'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			continue
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			continue
		}
		if written == 0 {
			b.Grow(len(s) + 16)
		}
		b.WriteString(s[written:i])
		fmt.Fprintf(&b, "%%%02x", c)
		written = i + 1
	}
	if written == 0 {
		return s
	}
	b.WriteString(s[written:])
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
