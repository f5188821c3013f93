package scan

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ScannerName names this scanner in result documents, as the original did.
const ScannerName = "scanner-analytics-integration"

// ScanTypeRegister, the default scan type: register the image's repository
// with the analytics server.
const ScanTypeRegister = "register"

// ScanTypes lists the scan types, the default first.
var ScanTypes = []string{ScanTypeRegister, ScanTypeReport}

// ResolveScanType is the one rule for scan types, which the API, the queue
// and the one-shot command all apply: "" means ScanTypeRegister, and ok is
// false for a type that is not supported.
func ResolveScanType(t string) (resolved string, ok bool) {
	if t == "" {
		return ScanTypeRegister, true
	}
	return t, t == ScanTypeRegister || t == ScanTypeReport
}

// SuccessSummary is the original's summary for a successful scan; pipelines
// may match on it.
const SuccessSummary = "Completed scan with data mentioned in Scan Results."

// Result is the document a scan produces: the one-shot scanner writes it as
// scanner-analytics-integration.json and the service stores and serves it.
// The JSON keys are the original's; its defects are not (see the README).
type Result struct {
	ScanType           string      `json:"Scan Type"`
	CVEFeedLastUpdated string      `json:"CVE Feed Last Updated"`
	UUID               string      `json:"UUID"`
	ScanResults        ScanResults `json:"Scan Results"`
	Successful         bool        `json:"Successful"`
	StartTime          Timestamp   `json:"Start Time"`
	FinishedTime       Timestamp   `json:"Finished Time"`
	Summary            string      `json:"Summary"`
	Scanner            string      `json:"Scanner"`
	// Errors lists every error of a failed scan, one string each, so that a
	// program need not parse Summary. Added by this rewrite.
	Errors []string `json:"Errors,omitempty"`
	// ServerResponse is the analytics server's answer to the registration,
	// when there was one. Added by this rewrite.
	ServerResponse *ServerResponse `json:"Server Response,omitempty"`
	// LabelSources says, per required label, which key of the image its
	// value was read from: the label itself, or a provenance key such as
	// org.opencontainers.image.source that stood in for it. Added by this
	// rewrite.
	LabelSources Provenance `json:"Label Sources,omitempty"`
	// Image says which image was read, and from where: its id, the source
	// and, from a registry, the digests and the platform. Added by this
	// rewrite.
	Image *ResultImage `json:"Image,omitempty"`
}

// ResultImage identifies the image a scan read.
type ResultImage struct {
	// ID is the image id: the config digest.
	ID string `json:"id"`
	Origin
}

// ScanResults holds the labels read from the image and where they were sent.
type ScanResults struct {
	EmailIDs  string `json:"email-ids"`
	GitSHA    string `json:"git-sha"`
	GitURL    string `json:"git-url"`
	ImageName string `json:"image_name"`
	ServerURL string `json:"server_url"`
}

// ServerResponse is what the analytics server said to a registration.
type ServerResponse struct {
	Status  int    `json:"status"`
	Summary string `json:"summary,omitempty"`
	// RegisteredBy names the earlier scan whose registration of the same
	// repository and commit this one relied on, instead of sending it
	// again (the service's SCANNER_REREGISTER_AFTER).
	RegisteredBy *PriorRegistration `json:"registered_by,omitempty"`
}

// PriorRegistration is an earlier, successful registration of the same
// server, repository and commit.
type PriorRegistration struct {
	ScanID       string    `json:"scan_id"`
	RegisteredAt time.Time `json:"registered_at"`
}

// FailureSummary builds the Summary of a failed scan: every error, in order,
// as a JSON list so that messages holding commas or quotes stay readable.
func FailureSummary(errs []string) string {
	if errs == nil {
		errs = []string{} // a list, not "null"
	}
	// An Encoder, not json.Marshal, so that "<", ">" and "&" in messages
	// stay readable instead of becoming \u003c and the like.
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(errs) // a []string always encodes
	return "Error: " + strings.TrimSuffix(b.String(), "\n")
}

// timestampLayout is the original's strftime("%Y-%m-%d-%H-%M-%S") part; the
// microseconds ("-%f") are appended by hand because Go's layouts only know
// fractional seconds after a '.' or ','.
const timestampLayout = "2006-01-02-15-04-05"

// Timestamp is a time written the way the original wrote it:
// local time as YYYY-MM-DD-HH-MM-SS-ffffff.
type Timestamp struct{ time.Time }

// String formats t as the original did.
func (t Timestamp) String() string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%s-%06d", t.Local().Format(timestampLayout), t.Nanosecond()/1000)
}

// MarshalJSON writes the original's format.
func (t Timestamp) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// UnmarshalJSON reads the original's format back, as local time.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	parsed, err := ParseTimestamp(s)
	if err != nil {
		return err
	}
	t.Time = parsed
	return nil
}

// ParseTimestamp parses YYYY-MM-DD-HH-MM-SS-ffffff in local time. Only the
// form String writes is accepted: Go's layouts alone would also take a
// one-digit hour, and strconv a signed "+00001".
func ParseTimestamp(s string) (time.Time, error) {
	i := strings.LastIndexByte(s, '-')
	if i < 0 || len(s)-i-1 != 6 {
		return time.Time{}, fmt.Errorf("timestamp %q: want YYYY-MM-DD-HH-MM-SS-ffffff", s)
	}
	base, err := time.ParseInLocation(timestampLayout, s[:i], time.Local)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: %w", s, err)
	}
	// Also rejects a local time that does not exist (skipped by a DST
	// change), which Go would silently move.
	if base.Format(timestampLayout) != s[:i] {
		return time.Time{}, fmt.Errorf("timestamp %q: want YYYY-MM-DD-HH-MM-SS-ffffff", s)
	}
	frac := s[i+1:]
	if strings.Trim(frac, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("timestamp %q: microseconds must be 6 digits", s)
	}
	micros, err := strconv.Atoi(frac)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: microseconds: %w", s, err)
	}
	t := base.Add(time.Duration(micros) * time.Microsecond)
	if t.IsZero() {
		// Go's zero time, which a Timestamp writes as "" (no time): it
		// could not be written back as read.
		return time.Time{}, fmt.Errorf("timestamp %q: the zero time stands for no time", s)
	}
	return t, nil
}
