package testenv

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// mainRuns is set by Main: only then may PostgresURL start a cluster,
// since only Main stops it at the end of the package's run.
var mainRuns atomic.Bool

// skips are the tests skipped for a missing dependency, by what they need.
var skips struct {
	sync.Mutex
	byWhat  map[string][]string
	reasons map[string]string
	short   int
}

// recordSkip notes that t is skipped for lack of what (err says why), for
// Main's summary line.
func recordSkip(t testing.TB, what string, err error) {
	skips.Lock()
	defer skips.Unlock()
	if err == nil { // -short
		skips.short++
		return
	}
	if skips.byWhat == nil {
		skips.byWhat, skips.reasons = map[string][]string{}, map[string]string{}
	}
	skips.byWhat[what] = append(skips.byWhat[what], t.Name())
	if _, ok := skips.reasons[what]; !ok {
		skips.reasons[what] = err.Error()
	}
}

// Main is a package's TestMain: it runs the tests, stops the PostgreSQL
// cluster they started if any (see PostgresURL), and prints one line
// naming the tests skipped for a missing dependency, so that a skip is
// seen without -v:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	mainRuns.Store(true)
	code := m.Run()
	stopPostgres()
	if line := skipSummary(); line != "" {
		w, closeW := summaryWriter()
		fmt.Fprintln(w, line)
		closeW()
	}
	os.Exit(code)
}

// skipSummary is the one line that names what was skipped, or "".
func skipSummary() string {
	skips.Lock()
	defer skips.Unlock()
	var parts []string
	whats := make([]string, 0, len(skips.byWhat))
	for what := range skips.byWhat {
		whats = append(whats, what)
	}
	slices.Sort(whats)
	for _, what := range whats {
		names := skips.byWhat[what]
		slices.Sort(names)
		parts = append(parts, fmt.Sprintf("%d without %s (%s): %s", len(names), what, skips.reasons[what], strings.Join(names, " ")))
	}
	// -short skips every dependency test by design: worth a count next to
	// a missing dependency, not a line of its own in every package.
	if len(parts) == 0 {
		return ""
	}
	if skips.short > 0 {
		parts = append(parts, fmt.Sprintf("%d by -short", skips.short))
	}
	return fmt.Sprintf("--- SKIP summary %s: %s", packageName(), strings.Join(parts, "; "))
}

// packageName is the test binary's package, from its name (pkg.test).
func packageName() string {
	return strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
}

// summaryWriter is where the summary line is seen. Under `go test` without
// -v the go command shows a passing package's output to nobody, so the line
// goes to the go command's own stdout (a terminal or a pipe, as its "ok"
// lines do); with -v, -json or a binary run by hand, to stdout.
func summaryWriter() (io.Writer, func()) {
	if v := flag.Lookup("test.v"); v != nil && v.Value.String() != "false" {
		return os.Stdout, func() {}
	}
	if runtime.GOOS != "linux" {
		return os.Stdout, func() {}
	}
	ppid := os.Getppid()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", ppid))
	if err != nil || filepath.Base(exe) != "go" {
		return os.Stdout, func() {}
	}
	out := fmt.Sprintf("/proc/%d/fd/1", ppid)
	info, err := os.Stat(out)
	// A terminal or a pipe; a file only when the go command appends to
	// it (>>): otherwise its next writes, at its own offset, would go over
	// the line.
	if err != nil || info.Mode()&(os.ModeCharDevice|os.ModeNamedPipe) == 0 && !appends(ppid, 1) {
		return os.Stdout, func() {}
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return os.Stdout, func() {}
	}
	return f, func() { _ = f.Close() }
}

// appends reports whether process pid's file descriptor fd was opened with
// O_APPEND, from the flags (octal) in /proc/PID/fdinfo/FD.
func appends(pid, fd int) bool {
	info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&uint64(os.O_APPEND) != 0
		}
	}
	return false
}
