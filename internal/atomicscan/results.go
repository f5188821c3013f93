package atomicscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/redact"
	"github.com/centos-pipeline/analytics-scanner/internal/safefile"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// The files written per image under <scan-out>/<folder>/.
const (
	// ResultFile holds the scan.Result document, as the original wrote it.
	ResultFile = scan.ScannerName + ".json"
	// SummaryFile is the only file atomic reads back, in the format of its
	// scan specification (README-atomic-scan.md).
	SummaryFile = "json"
)

// Summary is the `json` file of atomic's scan specification.
type Summary struct {
	Scanner      string `json:"Scanner"`
	Time         string `json:"Time"`
	ScanType     string `json:"Scan Type"`
	FinishedTime string `json:"Finished Time"`
	// UUID is "/scanin/<folder>": atomic takes its base name to find the
	// image or container it asked for.
	UUID string `json:"UUID"`
	// Successful is the string "true" or "false": atomic calls .upper() on
	// it and crashes on a JSON boolean.
	Successful string `json:"Successful"`
	// Custom is what atomic prints to the user for a successful scan.
	Custom Custom `json:"Custom"`
}

// Custom is the part of the summary meant for people. It is a struct rather
// than a map so that atomic, which prints the keys in file order, shows them
// in this order.
type Custom struct {
	Image    string `json:"image"`
	GitURL   string `json:"git-url"`
	GitSHA   string `json:"git-sha"`
	EmailIDs string `json:"email-ids"`
	// Server is the analytics server URL, password redacted; empty when
	// none was configured.
	Server string `json:"server"`
	// ServerStatus and ServerAnswer are the server's HTTP status and text
	// when it answered the registration.
	ServerStatus int    `json:"server-status,omitempty"`
	ServerAnswer string `json:"server-answer,omitempty"`
	// Summary is the result's Summary of a successful scan. A failed one
	// has Errors instead: the same errors, as a list people can read.
	Summary string   `json:"summary,omitempty"`
	Errors  []string `json:"errors,omitempty"`
}

// summaryTimeLayout is ISO 8601 with the zone, as atomic's own openscap
// scanner writes its times (which lack the zone).
const summaryTimeLayout = time.RFC3339

// NewSummary describes result r, written to folder, in atomic's format.
func NewSummary(r scan.Result, folder string) Summary {
	s := Summary{
		Scanner:      r.Scanner,
		Time:         formatTime(r.StartTime),
		ScanType:     r.ScanType,
		FinishedTime: formatTime(r.FinishedTime),
		UUID:         path.Join(DefaultScanIn, folder),
		Successful:   fmt.Sprint(r.Successful),
		Custom: Custom{
			Image:    r.ScanResults.ImageName,
			GitURL:   r.ScanResults.GitURL,
			GitSHA:   r.ScanResults.GitSHA,
			EmailIDs: r.ScanResults.EmailIDs,
			Server:   r.ScanResults.ServerURL,
		},
	}
	if r.Successful {
		s.Custom.Summary = r.Summary
	} else {
		s.Custom.Errors = r.Errors
	}
	if r.ServerResponse != nil {
		s.Custom.ServerStatus = r.ServerResponse.Status
		s.Custom.ServerAnswer = r.ServerResponse.Summary
	}
	return s
}

func formatTime(t scan.Timestamp) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(summaryTimeLayout)
}

// Marshal encodes v as indented JSON ending in a newline, without escaping
// '<', '>' and '&': the files are read by people as well as programs, and
// error messages quote things like "<none>".
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteResults writes result r to <scanOut>/<folder>/: the ResultFile and
// then the SummaryFile, each atomically, creating the folders as needed. It
// returns the folder's path.
func WriteResults(scanOut, folder string, r scan.Result) (string, error) {
	return Results{ScanOut: scanOut}.Write(folder, r)
}

// Results writes result files into ScanOut with every secret Scrub knows
// masked: a result quotes what the analytics server said, which may repeat
// the credentials it was sent.
type Results struct {
	ScanOut string
	Scrub   *redact.Scrubber
}

// Write is WriteResults, scrubbed.
func (w Results) Write(folder string, r scan.Result) (string, error) {
	return w.writeFiles(folder, r, NewSummary(r, folder))
}

// WriteReport is WriteReportResults, scrubbed.
func (w Results) WriteReport(folder string, r ReportResult) (string, error) {
	return w.writeFiles(folder, r, NewReportSummary(r, folder))
}

// writeFiles writes result and then summary into <ScanOut>/<folder>/, for
// both scan types; the one place result files are written.
func (w Results) writeFiles(folder string, result, summary any) (string, error) {
	scanOut := w.ScanOut
	if folder == "" || folder == "." || folder == ".." || strings.ContainsAny(folder, `/\`) {
		return "", fmt.Errorf("invalid result folder name %q", folder)
	}
	dir := filepath.Join(scanOut, folder)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create result folder: %w", err)
	}
	resultJSON, err := Marshal(result)
	if err != nil {
		return "", fmt.Errorf("encode result: %w", err)
	}
	summaryJSON, err := Marshal(summary)
	if err != nil {
		return "", fmt.Errorf("encode summary: %w", err)
	}
	resultJSON, summaryJSON = w.Scrub.Bytes(resultJSON), w.Scrub.Bytes(summaryJSON)
	// The summary goes last: it is what atomic looks for, so once it
	// exists the result it points to exists too.
	if err := safefile.WriteFile(filepath.Join(dir, ResultFile), resultJSON, 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", ResultFile, err)
	}
	if err := safefile.WriteFile(filepath.Join(dir, SummaryFile), summaryJSON, 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", SummaryFile, err)
	}
	return dir, nil
}
