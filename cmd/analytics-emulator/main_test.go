package main

import (
	"context"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

const testToken = "tok-5d2e"

// setenv sets the emulator's variables to vars for the test, the others
// empty (which counts as unset).
func setenv(t *testing.T, vars map[string]string) {
	t.Helper()
	for _, name := range []string{"ADDR", "TOKEN", "THREESCALE_SECRET", "REPORT_DELAY", "LOCK_FILE_ABSENT"} {
		t.Setenv(emulator.EnvPrefix+"_"+name, "")
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// waitForAddr returns the address the server logged it listens on.
func waitForAddr(t *testing.T, logs *logtest.Buffer, done <-chan error) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		for _, line := range logs.Lines(t) {
			if line["message"] == "listening" {
				return line["addr"].(string)
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run returned before listening: %v", err)
		case <-deadline:
			t.Fatalf("no listening line in the log: %s", logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func waitUntilLive(t *testing.T, baseURL string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(baseURL + "/liveness")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/liveness never answered 200 (last error: %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunServesUntilCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr logtest.Buffer
	setenv(t, map[string]string{"EMULATOR_ADDR": "127.0.0.1:0", "EMULATOR_TOKEN": testToken})
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"analytics-emulator"}, &stdout, &stderr) }()

	baseURL := "http://" + waitForAddr(t, &stderr, done)
	waitUntilLive(t, baseURL)

	req, err := http.NewRequest(http.MethodPost, baseURL+"/api/v1/register",
		strings.NewReader(`{"git-url": "https://github.com/example/app", "git-sha": "46e443d", "email-ids": "a@x.org"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("register answered %s, want 200 OK", resp.Status)
	}

	healthchecks := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"given URL", []string{"healthcheck", baseURL + "/readiness"}, nil},
		{"URL from EMULATOR_ADDR", []string{"healthcheck"}, map[string]string{"EMULATOR_ADDR": strings.TrimPrefix(baseURL, "http://")}},
	}
	for _, hc := range healthchecks {
		setenv(t, hc.env)
		if err := run(ctx, append([]string{"analytics-emulator"}, hc.args...), &stdout, &stderr); err != nil {
			t.Errorf("healthcheck of a running emulator, %s: %v", hc.name, err)
		}
	}
	if err := run(ctx, []string{"analytics-emulator", "healthcheck", baseURL + "/nowhere"}, &stdout, &stderr); err == nil ||
		!strings.Contains(err.Error(), "404") {
		t.Errorf("healthcheck of a URL answering 404 returned %v, want an error naming 404", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}

	var logged bool
	for _, line := range stderr.Lines(t) {
		if line["message"] == "request" && line["method"] == "POST" && line["path"] == "/api/v1/register" {
			logged = line["status"] == float64(200) && line["duration_ms"] != nil
		}
	}
	if !logged {
		t.Errorf("no access log line with method, path, status 200 and duration for the register:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), testToken) {
		t.Errorf("the log holds the token:\n%s", stderr.String())
	}
	if err := run(t.Context(), []string{"analytics-emulator", "healthcheck", baseURL + "/readiness"}, &stdout, &stderr); err == nil {
		t.Error("healthcheck of a stopped emulator returned nil")
	}
}

func TestRunReturnsAnErrorWhenItCannotListen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	var stdout, stderr logtest.Buffer
	setenv(t, map[string]string{"EMULATOR_ADDR": taken.Addr().String()})
	err = run(t.Context(), []string{"analytics-emulator"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("run on a taken address returned %v, want an 'address already in use' error", err)
	}
}

func TestRunArguments(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantErr    string // substring; "" means nil
		wantStdout []string
	}{
		{name: "--help prints the environment table", args: []string{"--help"},
			wantStdout: []string{"healthcheck", "EMULATOR_ADDR", ":9000", "EMULATOR_TOKEN", "EMULATOR_THREESCALE_SECRET", "EMULATOR_REPORT_DELAY", "EMULATOR_LOCK_FILE_ABSENT"}},
		{name: "-h too", args: []string{"-h"}, wantStdout: []string{"EMULATOR_ADDR"}},
		// Even with a bad variable: --version reads no configuration.
		{name: "--version", args: []string{"--version"}, env: map[string]string{"EMULATOR_REPORT_DELAY": "10"},
			wantStdout: []string{"analytics-emulator " + version.Get().String() + "\n", version.Get().Module + " rev "}},
		{name: "unknown flag", args: []string{"--port=1"}, wantErr: "flag provided but not defined"},
		{name: "unknown command", args: []string{"serve"}, wantErr: `unexpected arguments ["serve"]`},
		{name: "healthcheck takes one URL", args: []string{"healthcheck", "http://a", "http://b"}, wantErr: "unexpected arguments"},
		{name: "bad duration", env: map[string]string{"EMULATOR_REPORT_DELAY": "10"},
			wantErr: `configuration: EMULATOR_REPORT_DELAY: time: missing unit in duration "10"`},
		{name: "negative duration", env: map[string]string{"EMULATOR_REPORT_DELAY": "-1s"},
			wantErr: "configuration: EMULATOR_REPORT_DELAY must not be negative"},
		{name: "healthcheck of a bad address", args: []string{"healthcheck"}, env: map[string]string{"EMULATOR_ADDR": "9000"},
			wantErr: `EMULATOR_ADDR="9000"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr logtest.Buffer
			setenv(t, tt.env)
			err := run(t.Context(), append([]string{"analytics-emulator"}, tt.args...), &stdout, &stderr)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("run returned %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("run returned %v, want an error containing %q", err, tt.wantErr)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want emulator.ProgramConfig
	}{
		{"defaults", nil, emulator.ProgramConfig{Addr: ":9000"}},
		{"all set", map[string]string{
			"EMULATOR_ADDR":              "127.0.0.1:8080",
			"EMULATOR_TOKEN":             "t",
			"EMULATOR_THREESCALE_SECRET": "s",
			"EMULATOR_REPORT_DELAY":      "90s",
			"EMULATOR_LOCK_FILE_ABSENT":  "https://github.com/a/b,https://github.com/c/d",
		}, emulator.ProgramConfig{Addr: "127.0.0.1:8080", Token: "t", ThreeScaleSecret: "s", ReportDelay: 90 * time.Second,
			LockFileAbsent: []string{"https://github.com/a/b", "https://github.com/c/d"}}},
		{"empty counts as unset", map[string]string{"EMULATOR_ADDR": "", "EMULATOR_REPORT_DELAY": ""}, emulator.ProgramConfig{Addr: ":9000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.env)
			got, err := emulator.LoadProgramConfig()
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("loadConfig = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
