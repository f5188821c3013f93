package scan

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// ScanTypeReport asks the analytics server once for the report of an image's
// repository and commit, as the original pipeline's `report` scan type did.
const ScanTypeReport = "report"

// Report is the analytics server's report on one repository and commit, in
// the real server's JSON (see docs/analytics-server-contract.md): decoding
// it and encoding it again gives the same document.
type Report struct {
	GitURL string `json:"git_url"`
	GitSHA string `json:"git_sha"`
	// ScannedAt is kept as the server wrote it: the real server passes on
	// its worker's text and no format is promised.
	ScannedAt    string       `json:"scanned_at"`
	Dependencies []Dependency `json:"dependencies"`
}

// Dependency is one dependency of the analysed repository. The server sends
// CVEs, HighestCVSSScore and CVEIDForHighestCVSSScore only for a dependency
// that has CVEs.
type Dependency struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// CVEs are ids only, highest CVSS score first: the server knows each
	// CVE's score but sends only the highest one.
	CVEs                     []string `json:"cves,omitempty"`
	CVECount                 int      `json:"cve_count"`
	HighestCVSSScore         *float64 `json:"highest_cvss_score,omitempty"`
	CVEIDForHighestCVSSScore string   `json:"cve_id_for_highest_cvss_score,omitempty"`
	Licenses                 []string `json:"licenses"`
}

// DecodeReport reads a report as the server sends it. A body that is not a
// JSON object with a dependencies list is an error, so that an HTML page or
// another endpoint's answer is not taken for an empty report.
func DecodeReport(body []byte) (Report, error) {
	var probe struct {
		Dependencies json.RawMessage `json:"dependencies"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return Report{}, fmt.Errorf("report is not a JSON object: %w", err)
	}
	if len(probe.Dependencies) == 0 || probe.Dependencies[0] != '[' {
		return Report{}, fmt.Errorf("report has no dependencies list")
	}
	var r Report
	if err := json.Unmarshal(body, &r); err != nil {
		return Report{}, fmt.Errorf("report does not decode: %w", err)
	}
	return r, nil
}

// Severity is a CVE's severity band.
type Severity string

// The CVSS v3 qualitative bands, plus SeverityUnknown for a CVE the report
// names without a score.
const (
	SeverityCritical Severity = "critical" // 9.0-10.0
	SeverityHigh     Severity = "high"     // 7.0-8.9
	SeverityMedium   Severity = "medium"   // 4.0-6.9
	SeverityLow      Severity = "low"      // 0.1-3.9
	SeverityNone     Severity = "none"     // 0.0
	SeverityUnknown  Severity = "unknown"
)

// SeverityOf maps a CVSS v3 base score to its band. A score outside 0-10
// (or NaN) is no score at all: SeverityUnknown.
func SeverityOf(score float64) Severity {
	switch {
	case math.IsNaN(score) || score < 0 || score > 10:
		return SeverityUnknown
	case score >= 9.0:
		return SeverityCritical
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	case score > 0:
		return SeverityLow
	}
	return SeverityNone
}

// SeverityCounts counts CVEs by severity. A struct, not a map, so that JSON
// and the atomic summary list the bands in a fixed order, worst first.
type SeverityCounts struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	None     int `json:"none"`
	Unknown  int `json:"unknown"`
}

// Add counts n more CVEs of severity s.
func (c *SeverityCounts) Add(s Severity, n int) {
	switch s {
	case SeverityCritical:
		c.Critical += n
	case SeverityHigh:
		c.High += n
	case SeverityMedium:
		c.Medium += n
	case SeverityLow:
		c.Low += n
	case SeverityNone:
		c.None += n
	default:
		c.Unknown += n
	}
}

// Total is the number of CVEs counted.
func (c SeverityCounts) Total() int {
	return c.Critical + c.High + c.Medium + c.Low + c.None + c.Unknown
}

// ReportSummary is what a pipeline wants at a glance from a report.
type ReportSummary struct {
	Dependencies int `json:"dependencies"`
	// VulnerableDependencies counts the dependencies with at least one CVE.
	VulnerableDependencies int `json:"vulnerable_dependencies"`
	// CVEs counts CVE occurrences: a CVE of two dependencies counts twice,
	// since each dependency needs its own fix.
	CVEs int `json:"cves"`
	// BySeverity: the report scores only each dependency's worst CVE, so
	// that one is in its band and the others are unknown (they are no worse
	// than it, but a lower band cannot be told).
	BySeverity SeverityCounts `json:"cves_by_severity"`
	// HighestCVSSScore and HighestCVE are the worst CVE of the report and
	// HighestSeverity its band; absent when no CVE is scored.
	HighestCVSSScore *float64 `json:"highest_cvss_score,omitempty"`
	HighestCVE       string   `json:"highest_cvss_cve,omitempty"`
	HighestSeverity  Severity `json:"highest_severity,omitempty"`
	// HighestDependency is "name:version" of the dependency with HighestCVE.
	HighestDependency string `json:"highest_cvss_dependency,omitempty"`
}

// CVE is one CVE of one dependency, with the severity the report allows.
type CVE struct {
	ID         string
	Dependency Dependency
	// Score is set only for the dependency's highest-scored CVE.
	Score    *float64
	Severity Severity
}

// CVEList lists every CVE of d, highest score first, as the report orders
// them. When cve_count says more than the list holds, the missing ones are
// not invented: only named CVEs are returned (Summarize still counts them).
func (d Dependency) CVEList() []CVE {
	out := make([]CVE, 0, len(d.CVEs))
	for _, id := range d.CVEs {
		c := CVE{ID: id, Dependency: d, Severity: SeverityUnknown}
		if d.HighestCVSSScore != nil && id == d.CVEIDForHighestCVSSScore {
			c.Score = d.HighestCVSSScore
			c.Severity = SeverityOf(*d.HighestCVSSScore)
		}
		out = append(out, c)
	}
	// A report naming the highest CVE outside its list still scores it.
	if d.HighestCVSSScore != nil && d.CVEIDForHighestCVSSScore != "" && !contains(d.CVEs, d.CVEIDForHighestCVSSScore) {
		out = append([]CVE{{ID: d.CVEIDForHighestCVSSScore, Dependency: d, Score: d.HighestCVSSScore,
			Severity: SeverityOf(*d.HighestCVSSScore)}}, out...)
	}
	return out
}

// cveCount is how many CVEs d has: cve_count, unless the list names more.
func (d Dependency) cveCount() int {
	n := max(d.CVECount, len(d.CVEs))
	if n == 0 && d.HighestCVSSScore != nil && d.CVEIDForHighestCVSSScore != "" {
		n = 1
	}
	return n
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Summarize counts r's dependencies and CVEs.
func Summarize(r Report) ReportSummary {
	s := ReportSummary{Dependencies: len(r.Dependencies)}
	for _, d := range r.Dependencies {
		n := d.cveCount()
		if n == 0 {
			continue
		}
		s.VulnerableDependencies++
		s.CVEs += n
		scored := 0
		for _, c := range d.CVEList() {
			if c.Score == nil {
				continue
			}
			scored++
			s.BySeverity.Add(c.Severity, 1)
			if c.Severity != SeverityUnknown && (s.HighestCVSSScore == nil || *c.Score > *s.HighestCVSSScore) {
				score := *c.Score
				s.HighestCVSSScore = &score
				s.HighestCVE = c.ID
				s.HighestSeverity = c.Severity
				s.HighestDependency = d.Name + ":" + d.Version
			}
		}
		s.BySeverity.Add(SeverityUnknown, n-scored)
	}
	return s
}

// ReportState is where the follow-up of a registration's report stands.
type ReportState string

// The report states. Every state but pending is final.
const (
	// ReportPending: the server has no report yet; it is asked again later.
	ReportPending ReportState = "pending"
	// ReportReady: the report arrived; the summary is known.
	ReportReady ReportState = "ready"
	// ReportLockFileAbsent: the repository has no lock file, so the server
	// will never make a report. A successful answer, not an error.
	ReportLockFileAbsent ReportState = "lock_file_absent"
	// ReportTimedOut: no report before the follow-up's deadline.
	ReportTimedOut ReportState = "timed_out"
	// ReportFailed: the server refused the request for good (a 4xx other
	// than not-ready or lock-file-absent, an unreadable report).
	ReportFailed ReportState = "failed"
)

// ReportStates lists every report state, for validation and documentation.
var ReportStates = []ReportState{ReportPending, ReportReady, ReportLockFileAbsent, ReportTimedOut, ReportFailed}

// Final reports whether a report in state s will not change any more.
func (s ReportState) Final() bool { return s != ReportPending && s.Valid() }

// Valid reports whether s is one of ReportStates.
func (s ReportState) Valid() bool {
	for _, v := range ReportStates {
		if s == v {
			return true
		}
	}
	return false
}

// ReportStatus is the report part of a scan record: where the follow-up
// stands, the summary once the report is ready, and when it last asked.
type ReportStatus struct {
	State ReportState `json:"state"`
	// Tries counts the report requests made so far.
	Tries int `json:"tries"`
	// ConsecutiveErrors counts the transient failures since the last
	// answer, for the backoff.
	ConsecutiveErrors int `json:"consecutive_errors,omitempty"`
	// LastTryAt is when the server was last asked; nil before the first try.
	LastTryAt *time.Time `json:"last_try_at,omitempty"`
	// NextTryAt is when it will be asked again, while pending.
	NextTryAt *time.Time `json:"next_try_at,omitempty"`
	// Deadline is when a pending follow-up gives up (state timed_out).
	Deadline *time.Time `json:"deadline,omitempty"`
	// Message is the server's text for lock_file_absent, or why the
	// follow-up failed or last had trouble. Never holds credentials.
	Message string `json:"message,omitempty"`
	// Summary is set once State is ready.
	Summary *ReportSummary `json:"summary,omitempty"`
	// ScannedAt is the report's scanned_at, once ready.
	ScannedAt string `json:"scanned_at,omitempty"`
}
