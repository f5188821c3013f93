package scan

import (
	"maps"
	"net/mail"
	"reflect"
	"strings"
	"testing"
)

func TestApplyLabelKeys(t *testing.T) {
	const (
		url = "https://github.com/acme/app"
		sha = "0123456789abcdef0123456789abcdef01234567"
	)
	cases := []struct {
		name   string
		labels map[string]string
		keys   LabelKeys
		want   map[string]string // the required labels in the output
		prov   Provenance
	}{
		{
			name:   "seed keys win over every convention",
			labels: map[string]string{LabelGitURL: "u", LabelGitSHA: "s", LabelEmailIDs: "e@x.org", KeyOCISource: url, KeyOCIRevision: sha, KeyOCIAuthors: "a@x.org"},
			want:   map[string]string{LabelGitURL: "u", LabelGitSHA: "s", LabelEmailIDs: "e@x.org"},
			prov:   Provenance{LabelGitURL: LabelGitURL, LabelGitSHA: LabelGitSHA, LabelEmailIDs: LabelEmailIDs},
		},
		{
			name:   "OCI annotations fill all three",
			labels: map[string]string{KeyOCISource: url, KeyOCIRevision: sha, KeyOCIAuthors: "Jane Doe <jane@acme.org>, bob@acme.org"},
			want:   map[string]string{LabelGitURL: url, LabelGitSHA: sha, LabelEmailIDs: "jane@acme.org,bob@acme.org"},
			prov:   Provenance{LabelGitURL: KeyOCISource, LabelGitSHA: KeyOCIRevision, LabelEmailIDs: KeyOCIAuthors},
		},
		{
			name:   "OCI before label-schema before OpenShift",
			labels: map[string]string{KeyOpenShiftSrc: "os", KeySchemaVCSURL: "ls", KeyOCISource: "oci", KeyOpenShiftSHA: "os-sha", KeySchemaVCSRef: "ls-sha"},
			want:   map[string]string{LabelGitURL: "oci", LabelGitSHA: "ls-sha"},
			prov:   Provenance{LabelGitURL: KeyOCISource, LabelGitSHA: KeySchemaVCSRef},
		},
		{
			name:   "OpenShift build labels alone",
			labels: map[string]string{KeyOpenShiftSrc: "https://git/x.git", KeyOpenShiftSHA: "abc", KeyOpenShiftOwner: "Dev One <dev1@corp.example>"},
			want:   map[string]string{LabelGitURL: "https://git/x.git", LabelGitSHA: "abc", LabelEmailIDs: "dev1@corp.example"},
			prov:   Provenance{LabelGitURL: KeyOpenShiftSrc, LabelGitSHA: KeyOpenShiftSHA, LabelEmailIDs: KeyOpenShiftOwner},
		},
		{
			name:   "blank seed counts as absent; fallback values trimmed",
			labels: map[string]string{LabelGitURL: "  ", KeyOCISource: "  " + url + "\n"},
			want:   map[string]string{LabelGitURL: url},
			prov:   Provenance{LabelGitURL: KeyOCISource},
		},
		{
			name:   "blank fallback skipped for the next key",
			labels: map[string]string{KeyOCIRevision: " ", KeySchemaVCSRef: "def"},
			want:   map[string]string{LabelGitSHA: "def"},
			prov:   Provenance{LabelGitSHA: KeySchemaVCSRef},
		},
		{
			name:   "authors without an address skipped for the next key",
			labels: map[string]string{KeyOCIAuthors: "The ACME team", KeyOpenShiftOwner: "ops <ops@acme.org>"},
			want:   map[string]string{LabelEmailIDs: "ops@acme.org"},
			prov:   Provenance{LabelEmailIDs: KeyOpenShiftOwner},
		},
		{
			name:   "free-text authors: the pieces that are addresses",
			labels: map[string]string{KeyOCIAuthors: "Jane <jane@acme.org>; ACME team, bob@acme.org; jane@acme.org"},
			want:   map[string]string{LabelEmailIDs: "jane@acme.org,bob@acme.org"},
			prov:   Provenance{LabelEmailIDs: KeyOCIAuthors},
		},
		{
			name:   "authors with a quoted comma in a local part dropped",
			labels: map[string]string{KeyOCIAuthors: `"a,b"@acme.org, c@acme.org`},
			want:   map[string]string{LabelEmailIDs: "c@acme.org"},
			prov:   Provenance{LabelEmailIDs: KeyOCIAuthors},
		},
		{
			name:   "an email-ids seed is kept as it is, not parsed",
			labels: map[string]string{LabelEmailIDs: "Jane <jane@acme.org>"},
			want:   map[string]string{LabelEmailIDs: "Jane <jane@acme.org>"},
			prov:   Provenance{LabelEmailIDs: LabelEmailIDs},
		},
		{
			name:   "configured order replaces the default",
			labels: map[string]string{KeyOCISource: "oci", "vcs-url": "mine"},
			keys:   LabelKeys{LabelGitURL: {"vcs-url", KeyOCISource}},
			want:   map[string]string{LabelGitURL: "mine"},
			prov:   Provenance{LabelGitURL: "vcs-url"},
		},
		{
			name:   "a label with no keys has no fallback",
			labels: map[string]string{KeyOCISource: "oci", KeyOCIRevision: "r"},
			keys:   LabelKeys{LabelGitURL: nil, LabelGitSHA: {KeyOCIRevision}},
			want:   map[string]string{LabelGitSHA: "r"},
			prov:   Provenance{LabelGitSHA: KeyOCIRevision},
		},
		{
			name:   "nothing known: nothing filled",
			labels: map[string]string{"maintainer": "x@y.org"},
			want:   map[string]string{},
			prov:   Provenance{},
		},
		{name: "nil labels", labels: nil, want: map[string]string{}, prov: Provenance{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys := tc.keys
			if keys == nil {
				keys = DefaultLabelKeys()
			}
			before := maps.Clone(tc.labels)
			got, prov := ApplyLabelKeys(tc.labels, keys)
			required := map[string]string{}
			for _, l := range RequiredLabels {
				if v, ok := got[l]; ok {
					required[l] = v
				}
			}
			if !reflect.DeepEqual(required, tc.want) {
				t.Errorf("required labels = %q, want %q", required, tc.want)
			}
			if !reflect.DeepEqual(prov, tc.prov) {
				t.Errorf("provenance = %v, want %v", prov, tc.prov)
			}
			if !maps.Equal(tc.labels, before) {
				t.Errorf("input labels changed: %v, was %v", tc.labels, before)
			}
			for k, v := range tc.labels {
				if got[k] != v && !(isRequired(k) && prov[k] != k) {
					t.Errorf("label %s = %q in the output, was %q", k, got[k], v)
				}
			}
		})
	}
}

// A fallback-filled image passes CheckLabels: the two are meant to be used
// together, and the scanner's error for a label still missing is unchanged.
func TestApplyLabelKeysThenCheckLabels(t *testing.T) {
	labels, _ := ApplyLabelKeys(map[string]string{
		KeyOCISource: "https://github.com/acme/app", KeyOCIRevision: "abc", KeyOCIAuthors: "x@acme.org",
	}, DefaultLabelKeys())
	got, errs := CheckLabels(labels)
	if len(errs) != 0 || got != (Labels{GitURL: "https://github.com/acme/app", GitSHA: "abc", EmailIDs: "x@acme.org"}) {
		t.Errorf("CheckLabels = %+v, %v", got, errs)
	}
	labels, _ = ApplyLabelKeys(map[string]string{KeyOCISource: "u", KeyOCIAuthors: "nobody"}, DefaultLabelKeys())
	_, errs = CheckLabels(labels)
	assertLabelErrors(t, errs, []labelErr{{LabelGitSHA, "is missing"}, {LabelEmailIDs, "is missing"}})
}

func isRequired(k string) bool {
	for _, l := range RequiredLabels {
		if l == k {
			return true
		}
	}
	return false
}

func TestParseLabelKeys(t *testing.T) {
	def := DefaultLabelKeys()
	cases := []struct {
		in   string
		want LabelKeys
		err  string
	}{
		{in: "", want: def},
		{in: "  ", want: def},
		{in: "git-url=a,b", want: LabelKeys{LabelGitURL: {"a", "b"}, LabelGitSHA: def[LabelGitSHA], LabelEmailIDs: def[LabelEmailIDs]}},
		{in: " git-sha = x ; email-ids= ;", want: LabelKeys{LabelGitURL: def[LabelGitURL], LabelGitSHA: {"x"}, LabelEmailIDs: nil}},
		{in: "git-url=org.opencontainers.image.source;git-sha=vcs-ref,org.opencontainers.image.revision;email-ids=",
			want: LabelKeys{LabelGitURL: {KeyOCISource}, LabelGitSHA: {"vcs-ref", KeyOCIRevision}, LabelEmailIDs: nil}},
		{in: "git-url", err: "has no '='"},
		{in: "git-urls=a", err: "unknown label"},
		{in: "git-url=a;git-url=b", err: "named twice"},
		{in: "git-url=a,,b", err: "empty key"},
		{in: "git-url=a b", err: "white space"},
		{in: "git-url=a\x00", err: "control"},
		{in: "git-url=git-sha", err: "required label itself"},
		{in: "git-url=a,a", err: "key \"a\" is named twice"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLabelKeys(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseLabelKeys(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLabelKeys(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(normalise(got), normalise(tc.want)) {
				t.Errorf("ParseLabelKeys(%q) = %v, want %v", tc.in, got, tc.want)
			}
			back, err := ParseLabelKeys(got.String())
			if err != nil || !reflect.DeepEqual(normalise(back), normalise(got)) {
				t.Errorf("String %q parses back as %v, %v", got.String(), back, err)
			}
		})
	}
}

// normalise treats a nil and an empty key list alike.
func normalise(k LabelKeys) map[string]string {
	out := map[string]string{}
	for _, l := range RequiredLabels {
		out[l] = strings.Join(k[l], ",")
	}
	return out
}

// FuzzApplyLabelKeys checks ApplyLabelKeys' promises on arbitrary values: a
// non-blank seed is never replaced; every filled value is the trimmed value
// of the key its provenance names; a filled email-ids is a comma list of
// bare addresses that net/mail reads back unchanged.
func FuzzApplyLabelKeys(f *testing.F) {
	f.Add("", "https://x/y", "", "abc", "Jane <j@x.org>, b@y.org", "")
	f.Add("seed", "oci", " ", "rev", "", "dev <d@x>")
	f.Add("", "", "", "", `"a,b"@x.org; c@d.org; nobody`, "x@y.z")
	f.Add("\t", "\n", "", "\x00", "=?utf-8?q?J=C3=A9?= <j@x.org>", "<>")
	f.Fuzz(func(t *testing.T, seedURL, source, seedSHA, revision, authors, owner string) {
		in := map[string]string{KeyOCISource: source, KeyOCIRevision: revision, KeyOCIAuthors: authors, KeyOpenShiftOwner: owner}
		if seedURL != "" {
			in[LabelGitURL] = seedURL
		}
		if seedSHA != "" {
			in[LabelGitSHA] = seedSHA
		}
		out, prov := ApplyLabelKeys(in, DefaultLabelKeys())
		for _, label := range RequiredLabels {
			from, ok := prov[label]
			seed, hasSeed := in[label]
			switch {
			case hasSeed && strings.TrimSpace(seed) != "":
				if from != label || out[label] != seed {
					t.Errorf("%s: seed %q replaced by %q from %q", label, seed, out[label], from)
				}
				continue
			case !ok:
				if v, present := out[label]; present && v != seed {
					t.Errorf("%s = %q with no provenance", label, v)
				}
				continue
			}
			if out[label] == "" {
				t.Errorf("%s filled from %s with an empty value", label, from)
			}
			if label != LabelEmailIDs {
				if out[label] != strings.TrimSpace(in[from]) {
					t.Errorf("%s = %q, but %s holds %q", label, out[label], from, in[from])
				}
				continue
			}
			for _, a := range strings.Split(out[label], ",") {
				parsed, err := mail.ParseAddress(a)
				if err != nil || parsed.Address != a {
					t.Errorf("email-ids piece %q from %q does not read back: %v", a, in[from], err)
				}
			}
		}
	})
}

// FuzzParseLabelKeys checks that ParseLabelKeys never panics and that
// whatever it accepts writes back (String) to a value it parses the same.
func FuzzParseLabelKeys(f *testing.F) {
	for _, s := range []string{"", "git-url=a,b", "git-sha=;email-ids=x", "git-url", "a=b=c", ";;", "git-url=a;git-url=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseLabelKeys(s)
		if err != nil {
			return
		}
		back, err := ParseLabelKeys(k.String())
		if err != nil {
			t.Fatalf("String %q of an accepted value does not parse: %v", k.String(), err)
		}
		if !reflect.DeepEqual(normalise(back), normalise(k)) {
			t.Errorf("%q: parsed %v, written back and parsed %v", s, k, back)
		}
	})
}
