package scan

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// goodLabels returns a fresh map of valid labels, so that each case may
// change its copy.
func goodLabels() map[string]string {
	return map[string]string{
		LabelGitURL:   "https://github.com/fabric8-analytics/f8a-server-backbone",
		LabelGitSHA:   "46e443d",
		LabelEmailIDs: "nshaikh@redhat.com,samuzzal@redhat.com",
	}
}

var wantGood = Labels{
	GitURL:   "https://github.com/fabric8-analytics/f8a-server-backbone",
	GitSHA:   "46e443d",
	EmailIDs: "nshaikh@redhat.com,samuzzal@redhat.com",
}

// labelErr is an expected *LabelError.
type labelErr struct{ label, reason string }

func TestCheckLabels(t *testing.T) {
	without := func(names ...string) map[string]string {
		m := goodLabels()
		for _, n := range names {
			delete(m, n)
		}
		return m
	}
	with := func(name, value string) map[string]string {
		m := goodLabels()
		m[name] = value
		return m
	}
	cases := []struct {
		name   string
		labels map[string]string
		want   Labels
		errs   []labelErr
	}{
		{name: "all present", labels: goodLabels(), want: wantGood},
		{name: "extra labels ignored", labels: func() map[string]string {
			m := goodLabels()
			m["INSTALL"] = "docker run $IMAGE"
			m["Git-Url"] = "not the label"
			return m
		}(), want: wantGood},
		{name: "git-url missing", labels: without(LabelGitURL),
			want: Labels{GitSHA: wantGood.GitSHA, EmailIDs: wantGood.EmailIDs},
			errs: []labelErr{{LabelGitURL, "is missing"}}},
		{name: "git-sha missing", labels: without(LabelGitSHA),
			want: Labels{GitURL: wantGood.GitURL, EmailIDs: wantGood.EmailIDs},
			errs: []labelErr{{LabelGitSHA, "is missing"}}},
		{name: "email-ids missing", labels: without(LabelEmailIDs),
			want: Labels{GitURL: wantGood.GitURL, GitSHA: wantGood.GitSHA},
			errs: []labelErr{{LabelEmailIDs, "is missing"}}},
		{name: "git-url empty", labels: with(LabelGitURL, ""),
			want: Labels{GitSHA: wantGood.GitSHA, EmailIDs: wantGood.EmailIDs},
			errs: []labelErr{{LabelGitURL, "is empty"}}},
		{name: "git-sha whitespace only", labels: with(LabelGitSHA, " \t\n "),
			want: Labels{GitURL: wantGood.GitURL, EmailIDs: wantGood.EmailIDs},
			errs: []labelErr{{LabelGitSHA, "is empty"}}},
		{name: "email-ids whitespace only", labels: with(LabelEmailIDs, "\r\n"),
			want: Labels{GitURL: wantGood.GitURL, GitSHA: wantGood.GitSHA},
			errs: []labelErr{{LabelEmailIDs, "is empty"}}},
		{name: "all missing, in order", labels: map[string]string{"other": "x"},
			errs: []labelErr{{LabelGitURL, "is missing"}, {LabelGitSHA, "is missing"}, {LabelEmailIDs, "is missing"}}},
		{name: "nil map", labels: nil,
			errs: []labelErr{{LabelGitURL, "is missing"}, {LabelGitSHA, "is missing"}, {LabelEmailIDs, "is missing"}}},
		{name: "mixed failures keep the required order", labels: map[string]string{
			LabelEmailIDs: "  ", LabelGitSHA: "abc", // git-url missing
		}, want: Labels{GitSHA: "abc"},
			errs: []labelErr{{LabelGitURL, "is missing"}, {LabelEmailIDs, "is empty"}}},
		{name: "padded values trimmed", labels: map[string]string{
			LabelGitURL:   "  https://example.org/r.git\n",
			LabelGitSHA:   "\t46e443d ",
			LabelEmailIDs: " a@x.org,b@y.org\r\n",
		}, want: Labels{GitURL: "https://example.org/r.git", GitSHA: "46e443d", EmailIDs: "a@x.org,b@y.org"}},
		{name: "control characters inside a value refused", labels: map[string]string{
			LabelGitURL: "https://example.org/r", LabelGitSHA: "46e\x1b[2J443d", LabelEmailIDs: "a@x.org,\nb@y.org",
		}, want: Labels{GitURL: "https://example.org/r"},
			errs: []labelErr{{LabelGitSHA, "contains control characters"}, {LabelEmailIDs, "contains control characters"}}},
		{name: "exactly MaxLabelBytes accepted", labels: with(LabelGitURL, strings.Repeat("u", MaxLabelBytes)),
			want: Labels{GitURL: strings.Repeat("u", MaxLabelBytes), GitSHA: wantGood.GitSHA, EmailIDs: wantGood.EmailIDs}},
		{name: "MaxLabelBytes after trimming accepted", labels: with(LabelGitSHA, "  "+strings.Repeat("s", MaxLabelBytes)+"  "),
			want: Labels{GitURL: wantGood.GitURL, GitSHA: strings.Repeat("s", MaxLabelBytes), EmailIDs: wantGood.EmailIDs}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := CheckLabels(tc.labels)
			if got != tc.want {
				t.Errorf("labels = %+v, want %+v", got, tc.want)
			}
			assertLabelErrors(t, errs, tc.errs)
		})
	}
}

func assertLabelErrors(t *testing.T, errs []error, want []labelErr) {
	t.Helper()
	if len(errs) != len(want) {
		t.Fatalf("got %d errors %v, want %d %v", len(errs), errs, len(want), want)
	}
	for i, err := range errs {
		var le *LabelError
		if !errors.As(err, &le) {
			t.Fatalf("error %d = %T %v, want *LabelError", i, err, err)
		}
		if le.Label != want[i].label || le.Reason != want[i].reason {
			t.Errorf("error %d = {%s %s}, want {%s %s}", i, le.Label, le.Reason, want[i].label, want[i].reason)
		}
		if wantText := "label " + want[i].label + " " + want[i].reason; err.Error() != wantText {
			t.Errorf("error %d text = %q, want %q", i, err.Error(), wantText)
		}
	}
}

func TestCheckLabelsOversized(t *testing.T) {
	// A recognisable value, so that the test can tell whether any of it
	// leaked into the error.
	huge := "https://evil.example/" + strings.Repeat("A", MaxLabelBytes)
	cases := []struct {
		name  string
		label string
		value string
	}{
		{"git-url one byte over", LabelGitURL, strings.Repeat("u", MaxLabelBytes+1)},
		{"git-sha far over", LabelGitSHA, huge},
		{"email-ids 1 MiB", LabelEmailIDs, strings.Repeat("e@x.org,", 1<<17)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			labels := goodLabels()
			labels[tc.label] = tc.value
			got, errs := CheckLabels(labels)
			if len(errs) != 1 {
				t.Fatalf("errors = %v, want exactly one", errs)
			}
			var le *LabelError
			if !errors.As(errs[0], &le) || le.Label != tc.label {
				t.Fatalf("error = %v, want a *LabelError for %s", errs[0], tc.label)
			}
			msg := errs[0].Error()
			if !strings.Contains(msg, strconv.Itoa(MaxLabelBytes)) {
				t.Errorf("error %q does not mention the %d-byte limit", msg, MaxLabelBytes)
			}
			// Not the value, nor any 16-byte piece of it.
			if strings.Contains(msg, tc.value[:16]) {
				t.Errorf("error %q quotes the value", msg)
			}
			if len(msg) > 200 {
				t.Errorf("error is %d bytes long; it should not grow with the value", len(msg))
			}
			// The oversized value is not returned either; the others are.
			want := wantGood
			switch tc.label {
			case LabelGitURL:
				want.GitURL = ""
			case LabelGitSHA:
				want.GitSHA = ""
			case LabelEmailIDs:
				want.EmailIDs = ""
			}
			if got != want {
				t.Errorf("labels = %.80v, want %+v", got, want)
			}
		})
	}
}
