package api_test

import (
	"strings"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/api"
)

func TestParseAllowList(t *testing.T) {
	for _, tt := range []struct {
		name    string
		entries []string
		wantErr string
	}{
		{"none", nil, ""},
		{"blank entries skipped", []string{" ", ""}, ""},
		{"http and https", []string{"http://a", "https://b/api/v1"}, ""},
		{"server without scheme", []string{"analytics.example.org"}, "no scheme"},
		{"not http", []string{"https://ok.example", "ftp://x"}, `"ftp"`},
		{"with a password", []string{"https://scanner:s3cret@b.example/api/v1"}, "user name or password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.ParseAllowList(tt.entries)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("ParseAllowList(%q) = %v, want no error", tt.entries, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("ParseAllowList(%q) = %v, want an error with %q", tt.entries, err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func TestAllowListLookup(t *testing.T) {
	l := api.MustAllowList("https://Analytics.Example/api/v1/", "http://b.example")
	for raw, want := range map[string]string{
		"https://analytics.example/api/v1":  "https://Analytics.Example/api/v1/",
		"HTTPS://ANALYTICS.EXAMPLE/api/v1/": "https://Analytics.Example/api/v1/",
		"http://b.example/":                 "http://b.example",
	} {
		if got, ok := l.Lookup(raw); !ok || got != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	for _, raw := range []string{"https://analytics.example", "http://c.example", "b.example", ""} {
		if got, ok := l.Lookup(raw); ok {
			t.Errorf("Lookup(%q) = %q, want no match", raw, got)
		}
	}
	if _, ok := (api.AllowList{}).Lookup("http://b.example"); ok {
		t.Error("the zero AllowList allows a server")
	}
}
