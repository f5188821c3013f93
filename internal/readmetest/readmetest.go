// Package readmetest reads the README's tables for the tests that keep them
// true to each command's --help: every flag, variable and exit code in one
// must be in the other.
package readmetest

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Section returns the README's text from the heading that starts with
// heading (e.g. "## The one-shot scanner") to the next heading of the same
// or a higher level.
func Section(t testing.TB, heading string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	level := strings.Index(heading, " ")
	var out []string
	in, fence := false, false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(line, "#") {
			hashes := len(line) - len(strings.TrimLeft(line, "#"))
			switch {
			case strings.HasPrefix(line, heading):
				in = true
			case in && hashes <= level:
				return strings.Join(out, "\n")
			}
		}
		if in {
			out = append(out, line)
		}
	}
	if !in {
		t.Fatalf("README has no heading %q", heading)
	}
	return strings.Join(out, "\n")
}

// Table returns the first column of every row of the tables in section
// whose header row starts with "| "+first+" |", the cells split on ", "
// and their backticks removed: "`-h`, `--help`" gives "-h" and "--help".
func Table(t testing.TB, section, first string) []string {
	t.Helper()
	var out []string
	inTable := false
	for _, line := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(line, "| "+first+" |"):
			inTable = true
		case !strings.HasPrefix(line, "|"):
			inTable = false
		case inTable && !strings.HasPrefix(line, "|---"):
			cell := strings.TrimSpace(strings.Split(line, "|")[1])
			for _, part := range strings.Split(cell, ", ") {
				part = strings.Trim(part, "`")
				// A flag's argument is not its name: "--scanin DIR".
				part, _, _ = strings.Cut(part, " ")
				out = append(out, part)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no table with the header %q in the README section", first)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Compare reports what one list has and the other lacks.
func Compare(t testing.TB, what string, readme, help []string) {
	t.Helper()
	slices.Sort(readme)
	slices.Sort(help)
	for _, v := range help {
		if !slices.Contains(readme, v) {
			t.Errorf("--help lists %s %q; the README's table does not", what, v)
		}
	}
	for _, v := range readme {
		if !slices.Contains(help, v) {
			t.Errorf("the README's table lists %s %q; --help does not", what, v)
		}
	}
}

// Matches returns the distinct first submatches of re in text.
func Matches(text string, re *regexp.Regexp) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}
