package server

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
	"github.com/centos-pipeline/analytics-scanner/internal/redact"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

func TestLogFormat(t *testing.T) {
	write := func(t *testing.T, format string) string {
		t.Helper()
		var buf logtest.Buffer
		w, err := logWriter(&buf, format, keep)
		if err != nil {
			t.Fatalf("logWriter(%q): %v", format, err)
		}
		log := zerolog.New(w)
		log.Info().Int64("timeout_ms", 1500).Msg("shutting down")
		return buf.String()
	}
	// Not a terminal: the default is JSON.
	for _, format := range []string{"", LogFormatJSON} {
		var line map[string]any
		if out := write(t, format); json.Unmarshal([]byte(out), &line) != nil || line["timeout_ms"] != 1500.0 {
			t.Errorf("format %q wrote %q, want a JSON line", format, out)
		}
	}
	out := write(t, LogFormatConsole)
	if strings.HasPrefix(out, "{") || !strings.Contains(out, "INF") || !strings.Contains(out, "shutting down") || !strings.Contains(out, "timeout_ms=1500") {
		t.Errorf("console wrote %q, want a console line", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("console wrote colours to a buffer: %q", out)
	}
	if _, err := logWriter(&logtest.Buffer{}, "text", keep); err == nil || !strings.Contains(err.Error(), "SCANNER_LOG_FORMAT") {
		t.Errorf("an unknown format: %v, want an error naming SCANNER_LOG_FORMAT", err)
	}
	// The filter (the scrubber) sees the console's text, so a secret is
	// masked in that format too.
	secret := "s3cret-" + testenv.RandomHex(8)
	var buf logtest.Buffer
	w, _ := logWriter(&buf, LogFormatConsole, redact.New(secret).Writer)
	log := zerolog.New(w)
	log.Info().Str("answer", "token "+secret+" refused").Msg("analytics answered")
	if strings.Contains(buf.String(), secret) || !strings.Contains(buf.String(), "analytics answered") {
		t.Errorf("console line %q shows the secret or lacks the message", buf.String())
	}
	cfg := Config{LogLevel: "info", LogFormat: "yaml", Workers: 1, MaxAttempts: 1, MaxQueueDepth: 1, MaxWait: 1}
	if err := cfg.check(); err == nil || !strings.Contains(err.Error(), "SCANNER_LOG_FORMAT") {
		t.Errorf("check: %v, want the bad SCANNER_LOG_FORMAT refused", err)
	}
}

// A terminal gets console lines by default; /dev/null, a character device
// but no terminal, does not.
func TestLogFormatDefaultsToConsoleOnATerminal(t *testing.T) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	if w, _ := logWriter(devNull, "", keep); w != devNull {
		t.Errorf("/dev/null got %T, want JSON straight to it", w)
	}
	// The master side of a new pseudo-terminal: a terminal that needs no
	// controlling one, which tests under CI do not have.
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer tty.Close()
	if w, _ := logWriter(tty, "", keep); w == tty {
		t.Errorf("a terminal got JSON, want console lines")
	}
}
