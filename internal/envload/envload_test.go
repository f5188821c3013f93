package envload

import (
	"strings"
	"testing"
	"time"
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
