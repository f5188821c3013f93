package scan

import (
	"fmt"
	"strings"
	"unicode"
)

// The labels an image under test must carry for the analytics server.
const (
	LabelGitURL   = "git-url"
	LabelGitSHA   = "git-sha"
	LabelEmailIDs = "email-ids"
)

// RequiredLabels lists the labels in the order their errors are reported.
var RequiredLabels = []string{LabelGitURL, LabelGitSHA, LabelEmailIDs}

// MaxLabelBytes bounds each label value accepted from an image. Labels are
// free text chosen by whoever built the image; a hostile one could carry
// megabytes that would otherwise be copied into requests, logs and stored
// results. 4 KiB is far beyond any real URL, SHA or list of addresses.
const MaxLabelBytes = 4096

// Labels are the trimmed values of the required labels.
type Labels struct {
	GitURL   string `json:"git-url"`
	GitSHA   string `json:"git-sha"`
	EmailIDs string `json:"email-ids"`
}

// LabelError says what is wrong with one required label.
type LabelError struct {
	Label  string
	Reason string
}

func (e *LabelError) Error() string { return fmt.Sprintf("label %s %s", e.Label, e.Reason) }

// CheckLabels extracts the required labels, trimmed of white space, and
// returns one error for every label that is missing, empty, too large or
// holds control characters: a user fixing an image wants to hear about all of
// them at once. Values that
// pass are returned even when others fail so that the result shows them; an
// oversized value is never returned or quoted.
func CheckLabels(labels map[string]string) (Labels, []error) {
	var (
		out  Labels
		errs []error
	)
	for _, name := range RequiredLabels {
		raw, ok := labels[name]
		value := strings.TrimSpace(raw)
		switch {
		case !ok:
			errs = append(errs, &LabelError{Label: name, Reason: "is missing"})
			continue
		case value == "":
			errs = append(errs, &LabelError{Label: name, Reason: "is empty"})
			continue
		case len(value) > MaxLabelBytes:
			errs = append(errs, &LabelError{Label: name,
				Reason: fmt.Sprintf("is %d bytes, over the %d-byte limit", len(value), MaxLabelBytes)})
			continue
		case strings.ContainsFunc(value, unicode.IsControl):
			// A newline or escape inside a URL, SHA or address list is
			// never meant, and would be sent on to the server and its
			// e-mails as it is.
			errs = append(errs, &LabelError{Label: name, Reason: "contains control characters"})
			continue
		}
		switch name {
		case LabelGitURL:
			out.GitURL = value
		case LabelGitSHA:
			out.GitSHA = value
		case LabelEmailIDs:
			out.EmailIDs = value
		}
	}
	return out, errs
}
