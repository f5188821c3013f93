package server

import (
	"os"
	"reflect"
	"regexp"
	"testing"
)

// The README's configuration table and `server --help` (made from Config's
// tags) list the same variables with the same defaults.
func TestREADMEListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(SCANNER_[A-Z0-9_]+)` \\| (?:`([^`]*)`)? *\\|").FindAllStringSubmatch(string(readme), -1) {
		rows[m[1]] = m[2]
	}
	ty := reflect.TypeFor[Config]()
	for i := range ty.NumField() {
		f := ty.Field(i)
		name := f.Tag.Get("envconfig")
		if name == "" {
			continue
		}
		v := EnvPrefix + "_" + name
		def, ok := rows[v]
		if !ok {
			t.Errorf("README's configuration table lacks %s", v)
			continue
		}
		if def != f.Tag.Get("default") {
			t.Errorf("README gives %s the default %q; --help says %q", v, def, f.Tag.Get("default"))
		}
	}
}
