package queue

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
)

// River's durations reach the log as KEY_ms in milliseconds, in attributes
// given to the logger, to the record and inside groups.
func TestRiverDurationsSayTheirUnit(t *testing.T) {
	var buf logtest.Buffer
	log := slog.New(msDurations{zerolog.NewSlogHandler(zerolog.New(&buf))})
	log.With("poll", 2*time.Second).Warn("slow", "sleep_duration", 1500*time.Microsecond,
		slog.Group("retry", "wait", time.Minute), "attempt", 3)
	var line map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	// zerolog's slog handler flattens groups to "group.key".
	want := map[string]any{"poll_ms": 2000.0, "sleep_duration_ms": 1.5, "retry.wait_ms": 60000.0, "attempt": 3.0}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, line[k], v, buf.String())
		}
	}
	for _, k := range []string{"poll", "sleep_duration", "retry.wait"} {
		if _, ok := line[k]; ok {
			t.Errorf("%s is still logged without its unit: %s", k, buf.String())
		}
	}
}
