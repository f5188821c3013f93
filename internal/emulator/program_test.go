package emulator

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
)

const programTestToken = "tok-5d2e"

func TestReadinessURL(t *testing.T) {
	tests := map[string]string{
		":9000":          "http://127.0.0.1:9000/readiness",
		"0.0.0.0:8080":   "http://127.0.0.1:8080/readiness",
		"[::]:8080":      "http://127.0.0.1:8080/readiness",
		"127.0.0.1:9001": "http://127.0.0.1:9001/readiness",
		"[::1]:9000":     "http://[::1]:9000/readiness",
		"emulator:9000":  "http://emulator:9000/readiness",
	}
	for addr, want := range tests {
		if got, err := ReadinessURL(addr); err != nil || got != want {
			t.Errorf("ReadinessURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
}

func TestAccessLogRecordsStatusButNoHeaders(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		wantStatus float64
	}{
		{"explicit status", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }, 418},
		{"nothing written means 200", func(http.ResponseWriter, *http.Request) {}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logtest.Buffer
			handler := accessLog(zerolog.New(&logs), tt.handler)
			req := httptest.NewRequest(http.MethodPost, "/register?git-url=u", nil)
			req.Header.Set("Authorization", "Bearer "+programTestToken)
			req.Header.Set("x-3scale-account-secret", programTestToken)
			handler.ServeHTTP(httptest.NewRecorder(), req)

			lines := logs.Lines(t)
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want 1: %s", len(lines), logs.String())
			}
			line := lines[0]
			if line["method"] != "POST" || line["path"] != "/register" || line["status"] != tt.wantStatus || line["duration_ms"] == nil {
				t.Errorf("log line %v, want method POST, path /register, status %v and duration_ms", line, tt.wantStatus)
			}
			if strings.Contains(logs.String(), programTestToken) {
				t.Errorf("the log holds a credential: %s", logs.String())
			}
		})
	}
}
