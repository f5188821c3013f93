package atomicscan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// ReportPart is what a `report` scan adds to the result document: where the
// report stands and, once it is ready, its summary and the report itself.
type ReportPart struct {
	State scan.ReportState `json:"Report State"`
	// Message is the server's text when it has no report (not ready, no
	// lock file).
	Message string              `json:"Report Message,omitempty"`
	Summary *scan.ReportSummary `json:"Report Summary,omitempty"`
	Report  *scan.Report        `json:"Report,omitempty"`
}

// NewReportPart describes a report answer: report is set when state is
// ready, and its summary is computed from it.
func NewReportPart(state scan.ReportState, report *scan.Report, message string) ReportPart {
	p := ReportPart{State: state, Message: message}
	if report != nil {
		summary := scan.Summarize(*report)
		p.Summary, p.Report = &summary, report
	}
	return p
}

// ReportResult is the result document (ResultFile) of a `report` scan: the
// keys of a `register` scan's document, then the report part.
type ReportResult struct {
	scan.Result
	ReportPart
}

// ReportSummaryText is a report's Summary line for people: the counts when
// it is ready, otherwise what stands in its way.
func ReportSummaryText(p ReportPart) string {
	switch {
	case p.State == scan.ReportReady && p.Summary != nil:
		s := p.Summary
		var b strings.Builder
		fmt.Fprintf(&b, "Report ready: %d dependencies, %d with CVEs, %d CVEs", s.Dependencies, s.VulnerableDependencies, s.CVEs)
		if s.CVEs > 0 {
			c := s.BySeverity
			fmt.Fprintf(&b, " (%d critical, %d high, %d medium, %d low, %d none, %d unknown)",
				c.Critical, c.High, c.Medium, c.Low, c.None, c.Unknown)
		}
		if s.HighestCVSSScore != nil {
			fmt.Fprintf(&b, "; highest CVSS %.1f: %s in %s", *s.HighestCVSSScore, s.HighestCVE, s.HighestDependency)
		}
		return b.String() + "."
	case p.State == scan.ReportPending:
		return "No report yet: the analytics server has not finished analysing this commit; scan again later."
	case p.State == scan.ReportLockFileAbsent:
		return "No report: the repository has no dependency lock file, so the analytics server cannot analyse it."
	}
	return fmt.Sprintf("No report: %s.", p.State)
}

// Vulnerability is one entry of the summary's Vulnerabilities list, with the
// keys atomic prints for each: Title, Severity and the Custom map.
type Vulnerability struct {
	Title       string              `json:"Title"`
	Severity    string              `json:"Severity"`
	Description string              `json:"Description"`
	Custom      VulnerabilityCustom `json:"Custom"`
}

// VulnerabilityCustom is what atomic prints under each vulnerability.
type VulnerabilityCustom struct {
	CVE        string `json:"cve"`
	Dependency string `json:"dependency"`
	Version    string `json:"version"`
	// CVSSScore is known only for each dependency's worst CVE.
	CVSSScore *float64 `json:"cvss-score,omitempty"`
	URL       string   `json:"url"`
}

// severityTitles names the severities as atomic shows them, worst first.
var severityTitles = []struct {
	severity scan.Severity
	title    string
}{
	{scan.SeverityCritical, "Critical"},
	{scan.SeverityHigh, "High"},
	{scan.SeverityMedium, "Medium"},
	{scan.SeverityLow, "Low"},
	{scan.SeverityNone, "None"},
	{scan.SeverityUnknown, "Unknown"},
}

func severityRank(s scan.Severity) int {
	for i, t := range severityTitles {
		if t.severity == s {
			return i
		}
	}
	return len(severityTitles)
}

// Vulnerabilities lists every CVE of the report for atomic, worst first: by
// severity, then score, then the report's order.
func Vulnerabilities(r scan.Report) []Vulnerability {
	var cves []scan.CVE
	for _, d := range r.Dependencies {
		cves = append(cves, d.CVEList()...)
	}
	slices.SortStableFunc(cves, func(a, b scan.CVE) int {
		if ra, rb := severityRank(a.Severity), severityRank(b.Severity); ra != rb {
			return ra - rb
		}
		switch {
		case a.Score != nil && b.Score != nil && *a.Score != *b.Score:
			if *a.Score > *b.Score {
				return -1
			}
			return 1
		}
		return 0
	})
	out := make([]Vulnerability, 0, len(cves))
	for _, c := range cves {
		rank := severityRank(c.Severity)
		title := "Unknown"
		if rank < len(severityTitles) {
			title = severityTitles[rank].title
		}
		desc := fmt.Sprintf("%s %s is affected by %s", c.Dependency.Name, c.Dependency.Version, c.ID)
		if c.Score != nil {
			desc += fmt.Sprintf(" (CVSS %.1f, the highest of this dependency)", *c.Score)
		} else {
			desc += " (the analytics server gives no score for it)"
		}
		out = append(out, Vulnerability{
			Title:       fmt.Sprintf("%s in %s %s", c.ID, c.Dependency.Name, c.Dependency.Version),
			Severity:    title,
			Description: desc + ".",
			Custom: VulnerabilityCustom{
				CVE: c.ID, Dependency: c.Dependency.Name, Version: c.Dependency.Version, CVSSScore: c.Score,
				URL: "https://nvd.nist.gov/vuln/detail/" + c.ID,
			},
		})
	}
	return out
}

// ReportCustom is the Custom map of a `report` scan's summary: the
// `register` scan's keys, then the report's state and counts.
type ReportCustom struct {
	Custom
	Report        scan.ReportState `json:"report"`
	ReportMessage string           `json:"report-message,omitempty"`
	ScannedAt     string           `json:"scanned-at,omitempty"`
	// The counts are pointers so that a ready report shows its zeros and
	// one that is not ready shows none.
	Dependencies           *int                 `json:"dependencies,omitempty"`
	VulnerableDependencies *int                 `json:"vulnerable-dependencies,omitempty"`
	CVEs                   *int                 `json:"cves,omitempty"`
	CVEsBySeverity         *scan.SeverityCounts `json:"cves-by-severity,omitempty"`
	HighestCVSSScore       *float64             `json:"highest-cvss-score,omitempty"`
	HighestCVE             string               `json:"highest-cvss-cve,omitempty"`
}

// ReportSummary is the `json` file of a `report` scan: atomic's keys, the
// Custom map with the counts, and one Vulnerabilities entry per CVE, which
// atomic prints for a successful scan.
type ReportSummary struct {
	Summary
	// Custom shadows Summary.Custom: encoding/json keeps the shallower
	// field, so the file has one Custom key, in Summary's place.
	Custom          ReportCustom    `json:"Custom"`
	Vulnerabilities []Vulnerability `json:"Vulnerabilities"`
}

// NewReportSummary describes report result r, written to folder, in
// atomic's format.
func NewReportSummary(r ReportResult, folder string) ReportSummary {
	base := NewSummary(r.Result, folder)
	s := ReportSummary{
		Summary:         base,
		Custom:          ReportCustom{Custom: base.Custom, Report: r.State, ReportMessage: r.Message},
		Vulnerabilities: []Vulnerability{},
	}
	s.Summary.Custom = Custom{}
	if r.Report != nil {
		s.Custom.ScannedAt = r.Report.ScannedAt
		s.Vulnerabilities = Vulnerabilities(*r.Report)
	}
	if sum := r.ReportPart.Summary; sum != nil {
		s.Custom.Dependencies = &sum.Dependencies
		s.Custom.VulnerableDependencies = &sum.VulnerableDependencies
		s.Custom.CVEs = &sum.CVEs
		s.Custom.CVEsBySeverity = &sum.BySeverity
		s.Custom.HighestCVSSScore = sum.HighestCVSSScore
		s.Custom.HighestCVE = sum.HighestCVE
	}
	return s
}

// WriteReportResults writes report result r to <scanOut>/<folder>/ as
// WriteResults writes a `register` scan's: the ResultFile, then the
// SummaryFile, each atomically. It returns the folder's path.
func WriteReportResults(scanOut, folder string, r ReportResult) (string, error) {
	return Results{ScanOut: scanOut}.WriteReport(folder, r)
}
