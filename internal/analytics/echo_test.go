package analytics

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// echoHeaders answers status with a body that repeats every request header
// in the disguises an error page, a proxy or a JSON encoder would give it:
// raw, URL-encoded, JSON-escaped inside a message, and base64.
func echoHeaders(status int, asJSON bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var lines []string
		for name, values := range r.Header {
			for _, v := range values {
				lines = append(lines, fmt.Sprintf("%s: %s | %s | %s", name, v, url.QueryEscape(v),
					base64.StdEncoding.EncodeToString([]byte(strings.TrimPrefix(v, "Bearer ")))))
			}
		}
		text := "request headers were: " + strings.Join(lines, "; ")
		if !asJSON {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(text))
			return
		}
		body, _ := json.Marshal(map[string]any{"success": false, "message": text, "error": text,
			"status": "failure", "dependencies": []map[string]string{{"name": text}}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

// leaks names the credentials text holds, in any disguise.
func leaks(text string) []string {
	var found []string
	for _, secret := range []string{testToken, testSecret} {
		for _, form := range []string{secret, url.QueryEscape(secret), base64.StdEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(text, form) {
				found = append(found, form)
			}
		}
	}
	return found
}

// A server whose answers repeat the request's headers must not get the
// client's credentials into its errors, summaries or reports: those end up
// in records, logs and result files.
func TestEchoedCredentialsAreScrubbed(t *testing.T) {
	cases := []struct {
		name   string
		status int
		json   bool
	}{
		{"500 text", 500, false},
		{"400 JSON", 400, true},
		{"200 success false", 200, true},
		{"404 JSON", 404, true},
		{"200 text", 200, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Not the emulator: the answer is made of the request's own
			// headers, which no scripted answer can know beforehand.
			var (
				mu   sync.Mutex
				seen []http.Header
			)
			echo := echoHeaders(tc.status, tc.json)
			peer := serve(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, r.Header.Clone())
				mu.Unlock()
				echo(w, r)
			})
			c := newClient(t, Config{ServerURL: peer, Token: testToken, ThreeScaleSecret: testSecret})
			ctx := context.Background()

			resp, err := c.Register(ctx, scan.Registration{GitURL: "https://example.org/r", GitSHA: "abc"})
			text := fmt.Sprintf("%v %+v", err, resp)
			if e, ok := err.(*Error); ok {
				text += e.Summary
			}
			ans, rerr := c.FetchReport(ctx, "https://example.org/r", "abc")
			text += fmt.Sprintf(" %v", rerr)
			if ans != nil {
				doc, _ := json.Marshal(ans)
				text += string(doc)
			}
			// The stand-in did see the credentials: otherwise the test
			// proves nothing.
			mu.Lock()
			got := seen
			mu.Unlock()
			if len(got) != 2 || got[0].Get("Authorization") != "Bearer "+testToken {
				t.Fatalf("the server did not receive the credentials: %+v", got)
			}
			if !strings.Contains(text, "request headers were") {
				t.Fatalf("the server's answer is not in the client's output, so nothing was checked: %s", text)
			}
			if found := leaks(text); len(found) > 0 {
				t.Errorf("credentials %q leaked into: %s", found, text)
			}
			if !strings.Contains(text, "[REDACTED]") {
				t.Errorf("no mask where the credentials were: %s", text)
			}
		})
	}
}
