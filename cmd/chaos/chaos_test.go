package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// todayScenarios are those the quick Go test runs: every one but
// docker-restart, which needs root and a second dockerd (scripts/chaos.sh
// runs it).
const todayScenarios = "crash-sqlite,crash-postgres,outage-refused,outage-500,same-image,slow-clients,echoed-secrets"

// TestHarnessQuick runs the harness in quick mode against the real Docker
// daemon (and PostgreSQL when SCANNER_TEST_POSTGRES_URL is set) and fails
// when an expectation is missed, except those still waiting for a fix
// (their check's `needs`), which are only logged, met or missed.
func TestHarnessQuick(t *testing.T) {
	if testing.Short() || os.Getenv("SCANNER_TEST_CHAOS") == "" {
		// CI runs the harness itself, scripts/chaos.sh, after the tests.
		t.Skip("runs the built server through faults for about three minutes: set SCANNER_TEST_CHAOS=1 (or run scripts/chaos.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	_, err := dockerCLI(ctx, "", 10*time.Second, nil, "version")
	testenv.RequireDependency(t, "a Docker daemon", err)

	var stdout, stderr bytes.Buffer
	rows, err := runHarness(ctx, []string{"-quick", "-repo", "../..", "-only", todayScenarios}, os.Getenv, &stdout, &stderr)
	t.Logf("harness log:\n%s", stderr.String())
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	var table bytes.Buffer
	printTable(&table, rows)
	t.Logf("\n%s", table.String())
	if len(rows) != len(selected(todayScenarios)) {
		t.Fatalf("%d rows for %d scenarios", len(rows), len(selected(todayScenarios)))
	}
	for _, r := range rows {
		if r.skipped {
			// Only crash-postgres skips, without a PostgreSQL URL,
			// which parseOptions refuses under CI=true.
			t.Logf("%s skipped: %s", r.name, strings.Join(r.notes, "; "))
			continue
		}
		if len(r.checks) == 0 {
			t.Errorf("%s: no expectation was checked", r.name)
		}
		for _, c := range r.checks {
			switch {
			case c.needs == "" && !c.ok:
				t.Errorf("%s: %s: %s", r.name, c.name, c.detail)
			case c.needs != "":
				t.Logf("%s: %s (needs %s): met=%v: %s", r.name, c.name, c.needs, c.ok, c.detail)
			}
		}
	}
}

// TestStandinModes checks the stand-in does what the scenarios rely on:
// answer, refuse connections on its own port and take them again, 500,
// hold, and echo the request's headers.
func TestStandinModes(t *testing.T) {
	st, err := newStandin()
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	// A connection each: one kept alive across refuse would be cut
	// (EOF) when the stand-in closes it, which is not what is tested.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	post := func(path string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodPost, st.url()+path, strings.NewReader(`{"git-url": "https://example.org/r", "git-sha": "abc"}`))
		req.Header.Set("Authorization", "Bearer tok-123")
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String(), nil
	}
	if status, _, err := post("/register"); err != nil || status != http.StatusOK {
		t.Fatalf("answer: %d %v", status, err)
	}
	if err := st.setMode(modeRefuse); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", st.addr, time.Second); err == nil {
		t.Error("refuse: a connection was accepted")
	}
	if err := st.setMode(modeFail); err != nil {
		t.Fatal(err)
	}
	if status, _, err := post("/register"); err != nil || status != http.StatusInternalServerError {
		t.Errorf("500 after refuse, on the same port: %d %v", status, err)
	}
	if err := st.setMode(modeEcho); err != nil {
		t.Fatal(err)
	}
	if status, body, err := post("/scanner-error"); err != nil || status < 400 || !strings.Contains(body, "Bearer tok-123") {
		t.Errorf("echo: %d %q %v, want an error repeating the Authorization header", status, body, err)
	}
	if err := st.setMode(modeHang); err != nil {
		t.Fatal(err)
	}
	held := make(chan int, 1)
	go func() { status, _, _ := post("/register"); held <- status }()
	select {
	case status := <-held:
		t.Fatalf("hang: answered %d at once", status)
	case <-time.After(300 * time.Millisecond):
	}
	if err := st.setMode(modeAnswer); err != nil {
		t.Fatal(err)
	}
	if status := <-held; status != http.StatusServiceUnavailable {
		t.Errorf("a held request, let go: %d, want 503", status)
	}
	c := st.counts()
	if c.registered["abc"] != 1 || c.arrivals != 3 || c.reportsIn != 1 || c.echoed != 1 {
		t.Errorf("counts: %+v, want 1 registration of 3 arrivals, 1 report received, 1 echo", c)
	}
}

// TestEncodedForms checks the secret search finds a secret written in each
// form, and inside longer text, base64 at every alignment included.
func TestEncodedForms(t *testing.T) {
	secret := `tok-0123456789abcdef+/=&<>"`
	forms := encodedForms(secret)
	texts := map[string]string{
		"raw in a header":     "Authorization: Bearer " + secret,
		"JSON in a log line":  `{"error":"` + jsonString("Bearer "+secret, false) + `"}`,
		"JSON HTML-escaped":   `{"error":"` + jsonString(secret, true) + `"}`,
		"URL query":           "?token=" + forms["URL query"],
		"URL path":            "/x/" + forms["URL path"] + "/y",
		"base64, aligned":     base64.StdEncoding.EncodeToString([]byte(secret)),
		"base64 of Bearer":    base64.StdEncoding.EncodeToString([]byte("Bearer " + secret)),
		"base64url, offset 1": base64.URLEncoding.EncodeToString([]byte("x" + secret)),
		"base64, offset 2":    base64.StdEncoding.EncodeToString([]byte("xy" + secret + "tail")),
	}
	for name, text := range texts {
		hit := false
		for _, f := range forms {
			hit = hit || strings.Contains(text, f)
		}
		if !hit {
			t.Errorf("%s: %q holds the secret but no form matched", name, text)
		}
	}
	for form, f := range forms {
		if len(f) < 16 {
			t.Errorf("form %s is %q: too short to be specific", form, f)
		}
		if strings.Contains("Authorization: Bearer tok-0123", f) {
			t.Errorf("form %s matches text without the secret", form)
		}
	}
}

// TestOptions checks the flags a user relies on.
func TestOptions(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	var stderr bytes.Buffer
	if _, err := parseOptions([]string{"-only", "nothing"}, env(nil), &stderr); err == nil {
		t.Error("-only of no scenario accepted")
	}
	if _, err := parseOptions(nil, env(map[string]string{"CI": "true"}), &stderr); err == nil {
		t.Error("CI=true without a PostgreSQL URL accepted")
	}
	o, err := parseOptions([]string{"-only", "slow,echo", "-quick"}, env(map[string]string{"CI": "true"}), &stderr)
	if err != nil {
		t.Fatalf("CI=true without crash-postgres: %v", err)
	}
	if got := selected(o.only); strings.Join(got, ",") != "slow-clients,echoed-secrets" {
		t.Errorf("-only slow,echo selects %v", got)
	}
	if o.scans != 100 || o.outage != 15*time.Second {
		t.Errorf("-quick: scans %d, outage %s", o.scans, o.outage)
	}
	if o, _ := parseOptions([]string{"-quick", "-scans", "100"}, env(nil), &stderr); o.scans != 100 {
		t.Errorf("-scans 100 -quick: %d scans", o.scans)
	}
}
