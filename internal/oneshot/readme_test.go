package oneshot

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/readmetest"
)

// The README's tables of the one-shot scanner and `scan --help` list the
// same flags, variables and exit codes.
func TestREADMEMatchesHelp(t *testing.T) {
	help := fmt.Sprintf(scanUsage, analytics.DefaultTimeout)
	part := func(from, to string) string {
		_, rest, ok := strings.Cut(help, "\n"+from+"\n")
		if !ok {
			t.Fatalf("--help has no %q part", from)
		}
		if to != "" {
			rest, _, _ = strings.Cut(rest, "\n"+to+"\n")
		}
		return rest
	}
	split := func(items []string) []string {
		var out []string
		for _, item := range items {
			out = append(out, strings.Split(item, ", ")...)
		}
		return out
	}
	readme := readmetest.Section(t, "## The one-shot scanner")

	flags := split(readmetest.Matches(part("Flags:", "Environment:"), regexp.MustCompile(`(?m)^  ((?:-h, )?--[a-z-]+)`)))
	readmetest.Compare(t, "flag", readmetest.Table(t, readme, "flag"), flags)

	vars := split(readmetest.Matches(part("Environment:", ""), regexp.MustCompile(`(?m)^  ([A-Z][A-Z0-9_]*(?:, [A-Z][A-Z0-9_]*)*)`)))
	readmetest.Compare(t, "variable", readmetest.Table(t, readme, "environment"), vars)

	codes := readmetest.Matches(part("Exit codes:", ""), regexp.MustCompile(`(?m)^  (\d)  `))
	readmetest.Compare(t, "exit code", readmetest.Table(t, readme, "exit code"), codes)

	// Exit 2 is not a bad SERVER: that is a result saying so, with exit 0.
	if row := regexp.MustCompile(`(?m)^\| 2 \|.*$`).FindString(readme); !strings.Contains(row, "`SERVER`") || !strings.Contains(row, "exit 0") {
		t.Errorf("the README's exit 2 row does not say that a bad SERVER exits 0: %q", row)
	}
}
