package main

import (
	"bytes"
	"strings"
	"testing"
)

// Each program answers as itself, whether chosen by the name the binary is
// run as (the image's links) or by the first argument.
func TestRunPicksTheProgram(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"/usr/local/bin/scan", "--version"}, "scan "},
		{[]string{"/usr/local/bin/server", "--version"}, "server "},
		{[]string{"analytics-emulator", "--version"}, "analytics-emulator "},
		{[]string{"/usr/local/bin/analytics-scanner", "scan", "--version"}, "scan "},
		{[]string{"analytics-scanner", "server", "--version"}, "server "},
		{[]string{"analytics-scanner", "analytics-emulator", "--version"}, "analytics-emulator "},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), tc.args, func(string) string { return "" }, &stdout, &stderr)
		if code != 0 || !strings.HasPrefix(stdout.String(), tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and %q...", tc.args, code, stdout.String(), stderr.String(), tc.want)
		}
	}
}

// Any other name, with no program named after it, is a usage error.
func TestRunRefusesAnUnknownProgram(t *testing.T) {
	for _, args := range [][]string{
		{"analytics-scanner"},
		{"analytics-scanner", "bench"},
		{"/tmp/other", "--version"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), args, func(string) string { return "" }, &stdout, &stderr)
		if code != 2 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "scan|server|analytics-emulator") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and the usage", args, code, stdout.String(), stderr.String())
		}
	}
}
