package scan

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzParseTimestamp checks that ParseTimestamp never panics and accepts only
// the canonical form: whatever it parses, String writes back unchanged. A
// parser that also took "+00001" or a one-digit hour would read results that
// no scanner wrote.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{
		"2018-03-01-10-23-39-719301",
		"2018-03-01-H-23-39",
		"2018-03-01-10-23-39-+19301",
		"2018-03-01-1-23-39-719301",
		"2018-03-01-10-23-39-7193011",
		"0000-01-01-00-00-00-000000",
		"9999-12-31-23-59-59-999999",
		"2018-03-01-10-23-39-",
		"-",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTimestamp(s)
		if err != nil {
			return
		}
		if back := (Timestamp{got}).String(); back != s {
			t.Errorf("ParseTimestamp(%q) = %v, which formats as %q", s, got, back)
		}
	})
}

// FuzzCheckLabels checks CheckLabels' invariants on arbitrary values: one
// error or one trimmed value per label, never both; nothing over the limit
// is returned, nor a value holding a control character; an error never
// quotes the value.
func FuzzCheckLabels(f *testing.F) {
	f.Add("https://example.org/r", "46e443d", "a@x.org", uint8(7))
	f.Add("  padded  ", "\t", "", uint8(3))
	f.Add(strings.Repeat("x", MaxLabelBytes+1), "sha", "a@x", uint8(7))
	f.Add("\xff\xfe", "label git-sha is missing", " \u00a0 ", uint8(5))
	f.Add("https://example.org/r\nX-Injected: 1", "46e\x1b[31m", "a@x.org\u0085", uint8(7))
	f.Fuzz(func(t *testing.T, url, sha, emails string, present uint8) {
		in := map[string]string{}
		values := []string{url, sha, emails}
		for i, name := range RequiredLabels {
			if present&(1<<i) != 0 {
				in[name] = values[i]
			}
		}
		got, errs := CheckLabels(in)
		out := []string{got.GitURL, got.GitSHA, got.EmailIDs}

		var failed []string
		for _, err := range errs {
			le, ok := err.(*LabelError)
			if !ok {
				t.Fatalf("error %T %v is not a *LabelError", err, err)
			}
			failed = append(failed, le.Label)
			if len(le.Reason) > 64 {
				t.Errorf("reason %q is long: does it quote the value?", le.Reason)
			}
		}
		next := 0
		for i, name := range RequiredLabels {
			hasErr := next < len(failed) && failed[next] == name
			if hasErr {
				next++
			}
			raw, ok := in[name]
			trimmed := strings.TrimSpace(raw)
			wantErr := !ok || trimmed == "" || len(trimmed) > MaxLabelBytes ||
				strings.ContainsFunc(trimmed, unicode.IsControl)
			if hasErr != wantErr {
				t.Errorf("%s = %q: error %v, want error %v", name, raw, hasErr, wantErr)
			}
			switch {
			case hasErr && out[i] != "":
				t.Errorf("%s has an error and the value %.40q", name, out[i])
			case !hasErr && out[i] != trimmed:
				t.Errorf("%s = %.40q, want %.40q", name, out[i], trimmed)
			}
			if len(out[i]) > MaxLabelBytes {
				t.Errorf("%s returned %d bytes", name, len(out[i]))
			}
		}
		if next != len(failed) {
			t.Errorf("errors %v are not in the order %v", failed, RequiredLabels)
		}
	})
}
