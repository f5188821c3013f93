package server

import (
	"regexp"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/readmetest"
)

// The README's server exit codes and commands are those of `server --help`.
func TestREADMEListsExitCodesAndCommands(t *testing.T) {
	readme := readmetest.Section(t, "## The service")
	help := usage
	codes := readmetest.Matches(help, regexp.MustCompile(`(?m)(?:^|\s)(\d) (?:after|on) `))
	if len(codes) != 3 {
		t.Fatalf("found exit codes %q in --help, want 0, 1 and 2", codes)
	}
	readmetest.Compare(t, "exit code", readmetest.Table(t, readme, "exit code"), codes)
	var commands []string
	for _, m := range regexp.MustCompile(`(?m)^  server( [a-z-]+)?(?: \| (--[a-z-]+))?`).FindAllStringSubmatch(help, -1) {
		commands = append(commands, "server"+m[1])
		if m[2] != "" { // "server --help | --version"
			commands = append(commands, "server "+m[2])
		}
	}
	var documented []string
	for _, c := range readmetest.Matches(readme, regexp.MustCompile("(?m)^\\| (`server[^|]*)\\|")) {
		for _, m := range regexp.MustCompile("`(server(?: [a-z-]+)?)").FindAllStringSubmatch(c, -1) {
			documented = append(documented, m[1])
		}
	}
	readmetest.Compare(t, "command", documented, commands)
}
