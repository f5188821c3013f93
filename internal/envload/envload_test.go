package envload

import (
	"io"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"
)

type spec struct {
	Addr  string        `envconfig:"ADDR" default:":9000" desc:"listen address"`
	Delay time.Duration `envconfig:"DELAY" default:"0s" desc:"a delay"`
	Token string        `envconfig:"TOKEN" desc:"a secret"`
}

func TestProcess(t *testing.T) {
	t.Setenv("ENVLOADTEST_ADDR", "")
	t.Setenv("ENVLOADTEST_DELAY", "")
	t.Setenv("ENVLOADTEST_TOKEN", "t")
	var s spec
	if err := Process("ENVLOADTEST", &s); err != nil || s != (spec{Addr: ":9000", Token: "t"}) {
		t.Errorf("Process with empty variables = %+v, %v; want the defaults", s, err)
	}
	t.Setenv("ENVLOADTEST_DELAY", "10")
	err := Process("ENVLOADTEST", &s)
	if err == nil || err.Error() != `ENVLOADTEST_DELAY: time: missing unit in duration "10"` {
		t.Errorf("Process of a bad duration = %v, want an error naming the variable", err)
	}
}

func TestPrintTable(t *testing.T) {
	var b strings.Builder
	if err := PrintTable(&b, "ENVLOADTEST", &spec{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"VARIABLE", "ENVLOADTEST_ADDR   :9000    listen address", "ENVLOADTEST_TOKEN  -        a secret"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// nested has what envconfig names in ways of its own: a field without a tag,
// an ignored one, a struct's fields under its name, an embedded struct's
// under the spec's prefix, and a type that decodes itself.
type nested struct {
	Plain  string `default:"p" desc:"named after the field"`
	Hidden string `ignored:"true"`
	Inner  struct {
		Depth int `envconfig:"DEPTH" default:"2" desc:"inside a struct"`
	} `envconfig:"INNER"`
	embedded
	At   time.Time            `envconfig:"AT" desc:"decodes itself"`
	Ptr  *struct{ Leaf bool } `envconfig:"PTR"`
	List []string             `envconfig:"LIST" desc:"comma-separated"`
}

type embedded struct {
	Shared string `envconfig:"SHARED" default:"s" desc:"from an embedded struct"`
}

// TestPrintTableNamesAsEnvconfig checks the table against envconfig's own
// one (Usagef with the format PrintTable used to hand it), so that the
// names it prints are the ones Process reads.
func TestPrintTableNamesAsEnvconfig(t *testing.T) {
	const format = "VARIABLE\tDEFAULT\tMEANING\n" +
		"{{range .}}{{usage_key .}}\t{{with usage_default .}}{{.}}{{else}}-{{end}}\t{{usage_description .}}\n{{end}}"
	for _, s := range []any{&spec{}, &nested{}} {
		var want strings.Builder
		table := tabwriter.NewWriter(&want, 1, 0, 2, ' ', 0)
		if err := envconfig.Usagef("ENVLOADTEST", s, table, format); err != nil {
			t.Fatal(err)
		}
		_ = table.Flush()
		var got strings.Builder
		if err := PrintTable(&got, "ENVLOADTEST", s); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("PrintTable(%T):\n%s\nenvconfig's table:\n%s", s, got.String(), want.String())
		}
	}
	if err := PrintTable(io.Discard, "ENVLOADTEST", spec{}); err == nil {
		t.Errorf("PrintTable of a struct value (not a pointer) = nil error")
	}
}
