package server

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Log formats: JSON lines for collectors, zerolog's console lines for people.
const (
	LogFormatJSON    = "json"
	LogFormatConsole = "console"
)

// logWriter is where the server's logs go in the format asked for, through
// filter (the scrubber) last. An empty format means console on a terminal
// and JSON anywhere else, so that a person running the server reads lines
// and a collector gets JSON.
func logWriter(out io.Writer, format string, filter func(io.Writer) io.Writer) (io.Writer, error) {
	terminal := isTerminal(out)
	if format == "" {
		format = LogFormatJSON
		if terminal {
			format = LogFormatConsole
		}
	}
	switch format {
	case LogFormatJSON:
		return filter(out), nil
	case LogFormatConsole:
		return zerolog.ConsoleWriter{Out: filter(out), TimeFormat: time.RFC3339, NoColor: !terminal}, nil
	}
	return nil, fmt.Errorf("configuration: %s_LOG_FORMAT is %q; use json or console", EnvPrefix, format)
}

// isTerminal reports whether w is a terminal (not merely a character
// device: /dev/null is one too).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// keep is the filter that changes nothing.
func keep(w io.Writer) io.Writer { return w }
