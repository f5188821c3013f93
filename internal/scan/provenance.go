package scan

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"
)

// Well-known keys that carry an image's source, revision and authors today.
// Images built by buildx, ko, Jib, OpenShift or label-schema tooling carry
// these rather than the pipeline's own git-url, git-sha and email-ids.
const (
	KeyOCISource      = "org.opencontainers.image.source"
	KeyOCIRevision    = "org.opencontainers.image.revision"
	KeyOCIAuthors     = "org.opencontainers.image.authors"
	KeySchemaVCSURL   = "org.label-schema.vcs-url"
	KeySchemaVCSRef   = "org.label-schema.vcs-ref"
	KeyOpenShiftSrc   = "io.openshift.build.source-location"
	KeyOpenShiftSHA   = "io.openshift.build.commit.id"
	KeyOpenShiftOwner = "io.openshift.build.commit.author"
)

// LabelKeys lists, per required label, the keys tried in order when the
// image does not carry the required label itself. A label with no entry (or
// an empty list) has no fallback.
type LabelKeys map[string][]string

// DefaultLabelKeys returns the documented default order: OCI annotations
// first (the current standard), then label-schema (its predecessor), then
// OpenShift's build labels.
func DefaultLabelKeys() LabelKeys {
	return LabelKeys{
		LabelGitURL:   {KeyOCISource, KeySchemaVCSURL, KeyOpenShiftSrc},
		LabelGitSHA:   {KeyOCIRevision, KeySchemaVCSRef, KeyOpenShiftSHA},
		LabelEmailIDs: {KeyOCIAuthors, KeyOpenShiftOwner},
	}
}

// ParseLabelKeys reads a SCANNER_LABEL_KEYS-style value into LabelKeys,
// starting from DefaultLabelKeys.
//
// Syntax: clauses separated by ';', each "LABEL=KEY,KEY,...", where LABEL is
// one of git-url, git-sha, email-ids and the KEYs are tried in the order
// given. White space around names is ignored. A clause replaces that label's
// whole default list; "LABEL=" (no keys) turns its fallback off; a label not
// named keeps its default. The empty string means all defaults. Example:
//
//	git-url=org.opencontainers.image.source;git-sha=vcs-ref,org.opencontainers.image.revision;email-ids=
//
// Refused: an unknown LABEL, a LABEL named twice, a clause without '=', an
// empty or repeated KEY, a KEY with white space or control characters, and a
// KEY that is itself a required label (git-sha standing in for git-url would
// hide a mislabelled image).
func ParseLabelKeys(s string) (LabelKeys, error) {
	out := DefaultLabelKeys()
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	seen := map[string]bool{}
	for clause := range strings.SplitSeq(s, ";") {
		clause = strings.TrimSpace(clause)
		if clause == "" {
			// A trailing ';' is a harmless slip.
			continue
		}
		label, list, ok := strings.Cut(clause, "=")
		if !ok {
			return nil, fmt.Errorf("label keys: clause %q has no '=': want LABEL=KEY,KEY", clause)
		}
		label = strings.TrimSpace(label)
		if !slices.Contains(RequiredLabels, label) {
			return nil, fmt.Errorf("label keys: unknown label %q: want one of %s", label, strings.Join(RequiredLabels, ", "))
		}
		if seen[label] {
			return nil, fmt.Errorf("label keys: label %s is named twice", label)
		}
		seen[label] = true
		var keys []string
		if strings.TrimSpace(list) != "" {
			for key := range strings.SplitSeq(list, ",") {
				key = strings.TrimSpace(key)
				switch {
				case key == "":
					return nil, fmt.Errorf("label keys: %s has an empty key", label)
				case strings.ContainsFunc(key, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
					return nil, fmt.Errorf("label keys: %s: key %q holds white space or control characters", label, key)
				case slices.Contains(RequiredLabels, key):
					return nil, fmt.Errorf("label keys: %s: key %q is a required label itself", label, key)
				case slices.Contains(keys, key):
					return nil, fmt.Errorf("label keys: %s: key %q is named twice", label, key)
				}
				keys = append(keys, key)
			}
		}
		out[label] = keys
	}
	return out, nil
}

// String writes k back in ParseLabelKeys' syntax, in the required labels'
// order, so that a configuration can be logged and parsed again.
func (k LabelKeys) String() string {
	clauses := make([]string, 0, len(RequiredLabels))
	for _, label := range RequiredLabels {
		clauses = append(clauses, label+"="+strings.Join(k[label], ","))
	}
	return strings.Join(clauses, ";")
}

// Provenance says, per required label, which key of the image its value was
// taken from: the label itself, or a fallback key. Labels with no usable
// value are absent.
type Provenance map[string]string

// ApplyLabelKeys returns a copy of labels (an image's config labels, merged
// with its manifest annotations) in which each required label that is
// absent or blank is filled from the first of its keys that has a usable
// value, and says where each required value came from.
//
// The image's own required label wins whenever it holds more than white
// space: the pipeline's convention is explicit, the others are inferred. A
// blank one counts as absent, so that an empty LABEL left in a Dockerfile
// does not hide a real org.opencontainers.image.source. Fallback values are
// trimmed; for email-ids they are reduced to the bare addresses net/mail
// finds in them ("Jane <jane@x.org>, bob@y.org" gives "jane@x.org,bob@y.org"),
// and a key without any address is skipped. Values are not otherwise
// checked here: CheckLabels judges the result as it judges any label.
func ApplyLabelKeys(labels map[string]string, keys LabelKeys) (map[string]string, Provenance) {
	out := make(map[string]string, len(labels)+len(RequiredLabels))
	for k, v := range labels {
		out[k] = v
	}
	prov := Provenance{}
	for _, label := range RequiredLabels {
		if v, ok := labels[label]; ok && strings.TrimSpace(v) != "" {
			prov[label] = label
			continue
		}
		for _, key := range keys[label] {
			raw, ok := labels[key]
			if !ok {
				continue
			}
			value := strings.TrimSpace(raw)
			if label == LabelEmailIDs {
				value = extractAddresses(value)
			}
			if value == "" {
				continue
			}
			out[label] = value
			prov[label] = key
			break
		}
	}
	return out, prov
}

// maxAuthorBytes bounds the text handed to net/mail: authors fields are
// free text from whoever built the image, and nothing longer than
// MaxLabelBytes can become a valid label anyway.
const maxAuthorBytes = 4 * MaxLabelBytes

// extractAddresses returns the e-mail addresses in a free-text authors field,
// joined by commas. The field is first read as an RFC 5322 address list;
// when that fails (free text such as "Jane <jane@x.org>; ACME team"), each
// piece between commas or semicolons is tried on its own and the ones that
// parse are kept. Addresses that could not survive the comma join or would
// not read back as themselves (a quoted local part holding a comma, a space
// or a special character) are dropped.
func extractAddresses(s string) string {
	if s == "" || len(s) > maxAuthorBytes {
		return ""
	}
	var found []string
	add := func(a *mail.Address) {
		addr := a.Address
		if addr == "" || strings.ContainsFunc(addr, func(r rune) bool {
			return r == ',' || unicode.IsSpace(r) || unicode.IsControl(r)
		}) || slices.Contains(found, addr) {
			return
		}
		// A quoted local part comes back unquoted (`"("@x` as `(@x`),
		// which no longer parses: only what reads back as itself is kept.
		if back, err := mail.ParseAddress(addr); err != nil || back.Address != addr {
			return
		}
		found = append(found, addr)
	}
	if list, err := mail.ParseAddressList(s); err == nil {
		for _, a := range list {
			add(a)
		}
	} else {
		for piece := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ';' }) {
			if a, err := mail.ParseAddress(strings.TrimSpace(piece)); err == nil {
				add(a)
			}
		}
	}
	return strings.Join(found, ",")
}
