package server

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// loadWith runs LoadConfig in an environment of vars alone, as far as the
// server's variables go: every other one is set empty, which counts as
// unset.
func loadWith(t *testing.T, vars map[string]string) (Config, error) {
	ty := reflect.TypeFor[Config]()
	for i := range ty.NumField() {
		if name := ty.Field(i).Tag.Get("envconfig"); name != "" {
			t.Setenv(EnvPrefix+"_"+name, "")
		}
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
	return LoadConfig()
}

func TestLoadConfigDefaults(t *testing.T) {
	want := Config{
		Addr: ":8080", DataDir: "data", AnalyticsTimeout: 15 * time.Second,
		Workers: 4, MaxAttempts: 250, RetryBase: 2 * time.Second, RetryMax: 30 * time.Second, RetryFor: time.Hour, ReregisterAfter: 24 * time.Hour,
		JobTimeout: time.Minute, Retention: 720 * time.Hour, MaxQueueDepth: 1000, MaxWait: time.Minute, ReadTimeout: 30 * time.Second,
		ReportInterval: 30 * time.Minute, ReportDeadline: 24 * time.Hour,
		ShutdownTimeout: 30 * time.Second, LogLevel: "info",
		Source: "daemon", Platform: "linux/amd64", RegistryTimeout: 30 * time.Second,
	}
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"unset", nil},
		// Compose files and Helm charts pass empty values for unset ones.
		{"empty counts as unset", map[string]string{"SCANNER_ADDR": "", "SCANNER_WORKERS": "", "SCANNER_RETENTION": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadWith(t, tt.env)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("LoadConfig = %+v, %v; want %+v", got, err, want)
			}
		})
	}
	got, err := loadWith(t, map[string]string{
		"SCANNER_ALLOWED_SERVERS": "https://a.example/api/v1,http://b.example",
		"SCANNER_WORKERS":         "8",
		"SCANNER_JOB_TIMEOUT":     "45s",
	})
	if err != nil || got.Workers != 8 || got.JobTimeout != 45*time.Second ||
		!reflect.DeepEqual(got.AllowedServers, []string{"https://a.example/api/v1", "http://b.example"}) {
		t.Errorf("LoadConfig of set variables = %+v, %v", got, err)
	}
}

// A credential that cannot be sent as a header (a NUL, which no environment
// can hold, or a newline) would fail every scan: the configuration is
// refused, without quoting it.
func TestCheckRefusesUnsendableCredentials(t *testing.T) {
	const secret = "3scale-secret-0f1e2d"
	for _, cfg := range []Config{
		{AnalyticsURL: "http://127.0.0.1:1/api/v1", Analytics3scaleSecret: secret + "\x00"},
		{AnalyticsURL: "http://127.0.0.1:1/api/v1", AnalyticsToken: secret + "\n"},
	} {
		cfg.Workers, cfg.MaxAttempts, cfg.MaxQueueDepth, cfg.MaxWait, cfg.LogLevel = 1, 1, 1, time.Second, "info"
		err := Run(t.Context(), cfg, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "SCANNER_ANALYTICS_3SCALE_SECRET") ||
			!strings.Contains(err.Error(), "control character") || strings.Contains(err.Error(), secret) {
			t.Errorf("Run with an unsendable credential returned %v, want a configuration error naming the variables, without the secret", err)
		}
	}
}

func TestSourceSettings(t *testing.T) {
	got, err := loadWith(t, map[string]string{"SCANNER_SOURCE": "registry"})
	if err != nil || !reflect.DeepEqual(got.enabledSources(), []string{"registry"}) || got.enabled("daemon") {
		t.Errorf("SOURCE=registry: sources %v, %v; want registry alone, no daemon", got.enabledSources(), err)
	}
	got, err = loadWith(t, map[string]string{"SCANNER_SOURCES": "daemon, registry", "SCANNER_HOOK_TOKEN": "t0k"})
	if err != nil || !reflect.DeepEqual(got.enabledSources(), []string{"daemon", "registry"}) || got.Source != "daemon" {
		t.Errorf("SOURCES=daemon,registry: %v, default %s, %v", got.enabledSources(), got.Source, err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SCANNER_SOURCE": "oci"}, "SCANNER_SOURCE"},
		{map[string]string{"SCANNER_SOURCES": "daemon,floppy"}, "SCANNER_SOURCES"},
		{map[string]string{"SCANNER_SOURCE": "registry", "SCANNER_SOURCES": "daemon"}, "not among"},
		{map[string]string{"SCANNER_HOOK_TOKEN": "t0k"}, "registry source is not enabled"},
		{map[string]string{"SCANNER_SOURCE": "registry", "SCANNER_PLATFORM": "amd64"}, "SCANNER_PLATFORM"},
		{map[string]string{"SCANNER_LABEL_KEYS": "git-branch=x"}, "SCANNER_LABEL_KEYS"},
		{map[string]string{"SCANNER_SOURCE": "registry", "SCANNER_HOOK_TOKEN": "t0k", "SCANNER_HOOK_REGISTRY_HOST": "registry"}, "SCANNER_HOOK_REGISTRY_HOST"},
	} {
		if _, err := loadWith(t, tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %s", tc.env, err, tc.want)
		}
	}
}

func TestCheckCallbacks(t *testing.T) {
	const secret = "notify-secret-8d1f"
	tests := []struct {
		name    string
		vars    map[string]string
		wantErr string
	}{
		{"notify URL without a secret", map[string]string{"SCANNER_NOTIFY_URL": "http://ci.example/hook"}, "need SCANNER_NOTIFY_SECRET"},
		{"allowed callbacks without a secret", map[string]string{"SCANNER_ALLOWED_CALLBACKS": "http://ci.example/hook"}, "need SCANNER_NOTIFY_SECRET"},
		{"a notify URL that is not http", map[string]string{"SCANNER_NOTIFY_URL": "ftp://ci.example", "SCANNER_NOTIFY_SECRET": secret}, "SCANNER_NOTIFY_URL"},
		{"a callback with a password", map[string]string{"SCANNER_ALLOWED_CALLBACKS": "http://u:p@ci.example/hook", "SCANNER_NOTIFY_SECRET": secret}, "SCANNER_ALLOWED_CALLBACKS"},
		{"a negative interval", map[string]string{"SCANNER_REPORT_INTERVAL": "-1m"}, "SCANNER_REPORT_INTERVAL must not be negative"},
		{"all set", map[string]string{"SCANNER_NOTIFY_URL": "http://ci.example/hook", "SCANNER_ALLOWED_CALLBACKS": "http://a.example/x,http://b.example/y",
			"SCANNER_NOTIFY_SECRET": secret, "SCANNER_REPORT_INTERVAL": "1m", "SCANNER_REPORT_DEADLINE": "2h"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadWith(t, tt.vars)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("LoadConfig: %v, want %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}
