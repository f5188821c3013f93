package emulator

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/readmetest"
)

// The README's table of the emulator's variables and `analytics-emulator
// --help` list the same variables with the same defaults.
func TestREADMEMatchesHelp(t *testing.T) {
	var help bytes.Buffer
	if err := PrintUsage(&help); err != nil {
		t.Fatal(err)
	}
	readme := readmetest.Section(t, "### The analytics emulator")
	readmetest.Compare(t, "variable", readmetest.Table(t, readme, "variable"),
		readmetest.Matches(help.String(), regexp.MustCompile(`(?m)^(EMULATOR_[A-Z0-9_]+) `)))
	// Defaults, as --help prints them ("-" for none).
	rows := regexp.MustCompile("(?m)^\\| `(EMULATOR_[A-Z0-9_]+)` \\| (?:`([^`]*)`)? *\\|").FindAllStringSubmatch(readme, -1)
	for _, row := range rows {
		want := row[2]
		if want == "" {
			want = "-"
		}
		if !regexp.MustCompile(`(?m)^` + row[1] + ` +` + regexp.QuoteMeta(want) + ` `).MatchString(help.String()) {
			t.Errorf("the README gives %s the default %q; --help does not", row[1], want)
		}
	}
}
