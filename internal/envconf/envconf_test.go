package envconf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// testConfig has a field whose name begins another's (Retry, RetryBase), so
// that an error of one cannot be put on the other.
type testConfig struct {
	Addr      string        `env:"ADDR, default=:8080" desc:"listen address"`
	Retry     int           `env:"RETRY, default=3" desc:"tries"`
	RetryBase time.Duration `env:"RETRY_BASE, default=2s" desc:"first delay"`
	Servers   []string      `env:"SERVERS" desc:"comma-separated URLs"`
	Token     string        `env:"TOKEN,required"`
}

func env(vars map[string]string) func(string) string {
	return func(key string) string { return vars[key] }
}

func TestLoad(t *testing.T) {
	defaults := testConfig{Addr: ":8080", Retry: 3, RetryBase: 2 * time.Second, Token: "t"}
	tests := []struct {
		name    string
		env     map[string]string
		want    testConfig
		wantErr string // the whole message; "" means nil
		wantIs  error  // when set, errors.Is(err, wantIs) must hold
	}{
		{name: "defaults", env: map[string]string{"X_TOKEN": "t"}, want: defaults},
		{name: "empty counts as unset", env: map[string]string{"X_TOKEN": "t", "X_ADDR": "", "X_RETRY": "", "X_RETRY_BASE": ""}, want: defaults},
		{name: "set", env: map[string]string{"X_TOKEN": "t", "X_ADDR": "127.0.0.1:1", "X_RETRY": "7", "X_RETRY_BASE": "1m", "X_SERVERS": "http://a,http://b"},
			want: testConfig{Addr: "127.0.0.1:1", Retry: 7, RetryBase: time.Minute, Servers: []string{"http://a", "http://b"}, Token: "t"}},
		{name: "unprefixed variables are not read", env: map[string]string{"TOKEN": "t", "X_TOKEN": "t", "ADDR": "elsewhere:1"}, want: defaults},
		{name: "bad number names the variable", env: map[string]string{"X_TOKEN": "t", "X_RETRY": "four"},
			wantErr: `X_RETRY: strconv.ParseInt: parsing "four": invalid syntax`},
		{name: "bad duration names its variable, not the one its field name begins with", env: map[string]string{"X_TOKEN": "t", "X_RETRY_BASE": "10"},
			wantErr: `X_RETRY_BASE: time: missing unit in duration "10"`},
		{name: "a required variable set empty is missing", env: map[string]string{"X_TOKEN": ""},
			wantErr: "X_TOKEN: missing required value: X_TOKEN", wantIs: envconfig.ErrMissingRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got testConfig
			err := Load(t.Context(), &got, "X_", env(tt.env))
			if tt.wantErr == "" {
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Load = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Load returned %v, want %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) is false", err, tt.wantIs)
			}
		})
	}
}

func TestLoadRefusesATargetThatIsNotAPointerToAStruct(t *testing.T) {
	for name, target := range map[string]any{"struct value": testConfig{}, "pointer to int": new(int), "nil": nil} {
		t.Run(name, func(t *testing.T) {
			err := Load(t.Context(), target, "X_", env(map[string]string{"X_TOKEN": "t"}))
			if err == nil {
				t.Errorf("Load(%T) returned nil", target)
			}
		})
	}
}

func TestVars(t *testing.T) {
	type tagged struct {
		Plain    string `env:"PLAIN" desc:"no default"`
		List     string `env:"LIST, default=a,b, c" desc:"a default with commas"`
		Required string `env:"REQ, required"`
		Upper    string `env:"UPPER,DEFAULT=x"`
		Spaced   string `env:" SPACED , default= y"`
		Untagged string
		hidden   string `env:"HIDDEN"` // go-envconfig refuses it; Vars skips it
	}
	want := []Var{
		{Field: "Plain", Name: "P_PLAIN", Desc: "no default"},
		{Field: "List", Name: "P_LIST", Default: "a,b, c", Desc: "a default with commas"},
		{Field: "Required", Name: "P_REQ"},
		{Field: "Upper", Name: "P_UPPER", Default: "x"},
		{Field: "Spaced", Name: "P_SPACED", Default: " y"},
	}
	tests := []struct {
		name   string
		target any
	}{
		{"struct", tagged{}},
		{"pointer", &tagged{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Vars(tt.target, "P_"); !reflect.DeepEqual(got, want) {
				t.Errorf("Vars = %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestVarsDefaultsAreWhatLoadSets compares Vars' reading of the tags with
// go-envconfig's own: the table must show the default that Load applies.
func TestVarsDefaultsAreWhatLoadSets(t *testing.T) {
	type strings3 struct {
		A string `env:"A, default=:8080"`
		B string `env:"B,default=x,y ,z"`
		C string `env:"C, required"`
		D string `env:"D,default= lead"`
	}
	var got strings3
	if err := Load(t.Context(), &got, "S_", env(map[string]string{"S_C": "c"})); err != nil {
		t.Fatal(err)
	}
	loaded := reflect.ValueOf(got)
	for _, v := range Vars(got, "S_") {
		if v.Default == "" {
			continue
		}
		if field := loaded.FieldByName(v.Field).String(); field != v.Default {
			t.Errorf("%s: Vars says default %q, Load set %q", v.Name, v.Default, field)
		}
	}
}

func TestVarsPanicsOnANonStruct(t *testing.T) {
	for name, target := range map[string]any{"int": 1, "pointer to string": new(string), "nil": nil} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Vars(%T) did not panic", target)
				}
			}()
			Vars(target, "P_")
		})
	}
}

func TestPrintTable(t *testing.T) {
	var out strings.Builder
	PrintTable(&out, testConfig{}, "X_")
	want := "" +
		"VARIABLE      DEFAULT  MEANING\n" +
		"X_ADDR        :8080    listen address\n" +
		"X_RETRY       3        tries\n" +
		"X_RETRY_BASE  2s       first delay\n" +
		"X_SERVERS     -        comma-separated URLs\n" +
		"X_TOKEN       -        \n"
	if out.String() != want {
		t.Errorf("PrintTable wrote\n%s\nwant\n%s", out.String(), want)
	}
}
