package server

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// A credential added to Config without secret:"true" would be logged and
// stored in clear wherever a peer echoed it.
func TestEveryCredentialIsTaggedSecret(t *testing.T) {
	ty := reflect.TypeFor[Config]()
	tagged := 0
	for i := range ty.NumField() {
		f := ty.Field(i)
		name := strings.ToLower(f.Name)
		looksSecret := strings.Contains(name, "token") || strings.Contains(name, "secret") || strings.Contains(name, "password")
		isTagged := f.Tag.Get("secret") == "true"
		if looksSecret && !isTagged {
			t.Errorf("Config.%s looks like a credential but is not tagged secret:\"true\"", f.Name)
		}
		if isTagged {
			tagged++
		}
	}
	if tagged < 4 {
		t.Errorf("%d fields tagged secret, want at least the analytics token, 3scale secret, API and hook tokens", tagged)
	}
}

func TestSecretsListsEveryConfiguredCredential(t *testing.T) {
	c := Config{
		AnalyticsToken: "a-token", Analytics3scaleSecret: "a-3scale", APIToken: "an-api-token", HookToken: "a-hook",
		DatabaseURL: "postgres://scanner:db-pass%2Fword@db:5432/scanner?sslmode=disable",
	}
	got := c.secrets()
	for _, want := range []string{"a-token", "a-3scale", "an-api-token", "a-hook", "db-pass/word"} {
		if !slices.Contains(got, want) {
			t.Errorf("secrets() = %q, lacks %q", got, want)
		}
	}
	msg := c.scrubber().String("dial postgres://scanner:db-pass%2Fword@db failed; token a-token")
	if strings.Contains(msg, "db-pass") || strings.Contains(msg, "a-token") {
		t.Errorf("scrubbed: %q", msg)
	}
}
