package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/logtest"
	"github.com/centos-pipeline/analytics-scanner/internal/server"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

// TestHelpListsEveryVariable derives the variables from config's env tags,
// so that a field added without its line in the table fails here.
func TestHelpListsEveryVariable(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help"} {
		t.Run(arg, func(t *testing.T) {
			var stdout, stderr logtest.Buffer
			if code := run(t.Context(), []string{arg}, &stdout, &stderr); code != 0 {
				t.Fatalf("run %s exited %d: %s", arg, code, stderr.String())
			}
			out := stdout.String()
			for _, want := range []string{"Usage:", "server healthcheck [URL]", "--version", "DOCKER_HOST", "VARIABLE"} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
			ty := reflect.TypeFor[server.Config]()
			for i := range ty.NumField() {
				f := ty.Field(i)
				name := f.Tag.Get("envconfig")
				if name == "" {
					if f.Tag.Get("ignored") != "true" {
						t.Errorf("field %s has no envconfig tag", f.Name)
					}
					continue
				}
				if f.Tag.Get("desc") == "" {
					t.Errorf("field %s has no desc tag", f.Name)
				}
				def := f.Tag.Get("default")
				if def == "" {
					def = "-"
				}
				// One line: the variable, its default, then its meaning.
				variable := server.EnvPrefix + "_" + name
				line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(variable) + ` +` + regexp.QuoteMeta(def) + ` +\S`)
				if !line.MatchString(out) {
					t.Errorf("help has no line %q with default %q:\n%s", variable, def, out)
				}
			}
			if stderr.String() != "" {
				t.Errorf("help wrote to stderr: %s", stderr.String())
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr logtest.Buffer
	if code := run(t.Context(), []string{"--version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--version exited %d: %s", code, stderr.String())
	}
	// The test binary is built from this module, so its build info is
	// the one --version must show: the module version and the revision.
	info := version.Get()
	if got, want := stdout.String(), "server "+info.String()+"\n"; got != want {
		t.Errorf("--version printed %q, want %q", got, want)
	}
	if !strings.Contains(stdout.String(), info.Module+" rev ") {
		t.Errorf("--version printed %q; want the module version and the revision", stdout.String())
	}
}

func TestUnknownArgumentIsAUsageError(t *testing.T) {
	for _, args := range [][]string{{"serve"}, {"--port=8080"}} {
		t.Run(args[0], func(t *testing.T) {
			var stdout, stderr logtest.Buffer
			code := run(t.Context(), args, &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), "usage: unexpected argument") || !strings.Contains(stderr.String(), args[0]) {
				t.Errorf("run %v exited %d, stderr %q; want 2 and a usage error naming the argument", args, code, stderr.String())
			}
			// One line and a hint, not the whole help.
			if strings.Contains(stderr.String(), "Usage:") || strings.Count(stderr.String(), "\n") != 2 ||
				!strings.Contains(stderr.String(), "server --help") || stdout.String() != "" {
				t.Errorf("want one error line and a hint to --help on stderr; stdout %q, stderr %q", stdout.String(), stderr.String())
			}
		})
	}
}

// TestConfigurationErrors runs the server with each bad variable on an
// address that is already taken: the configuration error, not the bind
// failure, must come back, which shows that it is found before anything is
// opened.
func TestConfigurationErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := newSecrets()

	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // substrings
	}{
		{"no workers", map[string]string{"SCANNER_WORKERS": "0"}, []string{"SCANNER_WORKERS must be at least 1"}},
		{"workers not a number", map[string]string{"SCANNER_WORKERS": "four"}, []string{"SCANNER_WORKERS", `"four"`}},
		{"retention not a duration", map[string]string{"SCANNER_RETENTION": "banana"}, []string{"SCANNER_RETENTION", `"banana"`}},
		{"analytics URL without scheme", map[string]string{"SCANNER_ANALYTICS_URL": "localhost:9000"},
			[]string{"SCANNER_ANALYTICS_URL", "no scheme"}},
		{"analytics URL with a password and a bad scheme", map[string]string{"SCANNER_ANALYTICS_URL": "ftp://scanner:" + s.analyticsToken + "@x"},
			[]string{"SCANNER_ANALYTICS_URL", `"ftp"`}},
		{"allowed server not HTTP", map[string]string{"SCANNER_ALLOWED_SERVERS": "https://ok.example,ftp://x"},
			[]string{"SCANNER_ALLOWED_SERVERS", `"ftp"`}},
		// Records and logs show an allowed server as written.
		{"allowed server with a password", map[string]string{"SCANNER_ALLOWED_SERVERS": "https://scanner:" + s.analyticsToken + "@b.example/api/v1"},
			[]string{"SCANNER_ALLOWED_SERVERS", `"b.example"`, "user name or password"}},
		{"unknown log level", map[string]string{"SCANNER_LOG_LEVEL": "loud"}, []string{"SCANNER_LOG_LEVEL", `"loud"`, "debug, info, warn or error"}},
		{"negative job timeout", map[string]string{"SCANNER_JOB_TIMEOUT": "-1s"}, []string{"SCANNER_JOB_TIMEOUT must not be negative"}},
		{"negative shutdown timeout", map[string]string{"SCANNER_SHUTDOWN_TIMEOUT": "-5s"}, []string{"SCANNER_SHUTDOWN_TIMEOUT must not be negative"}},
		{"wait too long", map[string]string{"SCANNER_MAX_WAIT": "1h"}, []string{"SCANNER_MAX_WAIT must be more than 0 and at most 10m"}},
		{"no wait", map[string]string{"SCANNER_MAX_WAIT": "0s"}, []string{"SCANNER_MAX_WAIT must be more than 0 and at most 10m"}},
		// Such a credential could be sent with no request: every scan
		// would fail. The error must not quote it. (A NUL cannot be in
		// the environment; internal/server tests it in a Config.)
		{"token that cannot be sent", map[string]string{"SCANNER_ANALYTICS_URL": "http://analytics.example",
			"SCANNER_ANALYTICS_TOKEN": s.analyticsToken + "\n"}, []string{"SCANNER_ANALYTICS_TOKEN", "control character"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{
				"SCANNER_ADDR":                    taken.Addr().String(),
				"SCANNER_DATA_DIR":                t.TempDir(),
				"SCANNER_ANALYTICS_TOKEN":         s.analyticsToken,
				"SCANNER_API_TOKEN":               s.apiToken,
				"SCANNER_ANALYTICS_3SCALE_SECRET": s.threeScale,
			}
			for k, v := range tt.env {
				vars[k] = v
			}
			for k, v := range vars {
				t.Setenv(k, v)
			}
			var stdout, stderr logtest.Buffer
			start := time.Now()
			code := run(t.Context(), nil, &stdout, &stderr)
			took := time.Since(start)
			if code != 1 {
				t.Fatalf("run exited %d, want 1; stderr:\n%s", code, stderr.String())
			}
			msg := stderr.String()
			if !strings.Contains(msg, "server: configuration: ") {
				t.Errorf("run printed %q, want a configuration error", msg)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if took > 2*time.Second {
				t.Errorf("run took %s to refuse the configuration", took)
			}
			// The error is the one line: nothing was opened, nothing logged.
			if lines := strings.Split(strings.TrimSpace(msg), "\n"); len(lines) != 1 {
				t.Errorf("run wrote more than its error:\n%s", msg)
			}
			s.assertAbsent(t, "the error and the log", msg)
		})
	}
}

// TestBindFailure: an address in use is the commonest start-up failure;
// it must be reported at once and name the address.
func TestBindFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var stderr logtest.Buffer
	start := time.Now()
	cfg := defaults
	cfg.Addr, cfg.DataDir = taken.Addr().String(), t.TempDir()
	err = server.Run(t.Context(), cfg, &stderr)
	if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("run on a taken address returned %v, want an error naming %s and 'address already in use'", err, taken.Addr())
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("run took %s to report the taken address", took)
	}
}

// TestDatabaseUnreachable: a database that refuses connections fails the
// start promptly, and the error does not show the URL's password.
func TestDatabaseUnreachable(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close() // nothing listens there now
	password := "pg-pass-" + testenv.RandomHex(8)

	var stderr logtest.Buffer
	start := time.Now()
	cfg := defaults
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	cfg.DatabaseURL = "postgres://scanner:" + password + "@" + addr + "/scanner?sslmode=disable"
	err = server.Run(t.Context(), cfg, &stderr)
	if err == nil || !strings.Contains(err.Error(), "open store") {
		t.Fatalf("run with an unreachable database returned %v, want an 'open store' error", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("run took %s to give up on a database that refuses connections", took)
	}
	if strings.Contains(err.Error(), password) || strings.Contains(stderr.String(), password) {
		t.Errorf("the database password appears in the error or the log: %v\n%s", err, stderr.String())
	}
}

func TestHealthzURL(t *testing.T) {
	tests := map[string]string{
		":8080":          "http://127.0.0.1:8080/healthz",
		"0.0.0.0:9090":   "http://127.0.0.1:9090/healthz",
		"[::]:8080":      "http://127.0.0.1:8080/healthz",
		"127.0.0.1:9001": "http://127.0.0.1:9001/healthz",
		"[::1]:9000":     "http://[::1]:9000/healthz",
		"scanner:8080":   "http://scanner:8080/healthz",
	}
	for addr, want := range tests {
		if got, err := server.HealthzURL(addr); err != nil || got != want {
			t.Errorf("HealthzURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	if _, err := server.HealthzURL("8080"); err == nil || !strings.Contains(err.Error(), `SCANNER_ADDR="8080"`) {
		t.Errorf("HealthzURL(\"8080\") returned %v, want an error naming SCANNER_ADDR", err)
	}
}

// TestHealthcheck runs `server healthcheck` against a real HTTP server that
// answers /healthz as told; the running server's case is in TestEndToEnd.
func TestHealthcheck(t *testing.T) {
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer peer.Close()
	addr := strings.TrimPrefix(peer.URL, "http://")
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantErr   string // substring; "" means nil
		wantUsage bool
	}{
		{name: "given URL", args: []string{peer.URL + "/healthz"}},
		{name: "URL from SCANNER_ADDR", env: map[string]string{"SCANNER_ADDR": addr}},
		{name: "a URL answering 404", args: []string{peer.URL + "/nowhere"}, wantErr: "answered 404"},
		{name: "nothing listening", args: []string{"http://" + closedAddr + "/healthz"}, wantErr: "connection refused"},
		{name: "default address when none listens", env: map[string]string{"SCANNER_ADDR": closedAddr}, wantErr: closedAddr},
		{name: "bad SCANNER_ADDR", env: map[string]string{"SCANNER_ADDR": "8080"}, wantErr: "SCANNER_ADDR"},
		{name: "two URLs", args: []string{peer.URL, peer.URL}, wantErr: "one URL", wantUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr logtest.Buffer
			code := run(t.Context(), append([]string{"healthcheck"}, tt.args...), &stdout, &stderr)
			wantCode := 0
			switch {
			case tt.wantUsage:
				wantCode = 2
			case tt.wantErr != "":
				wantCode = 1
			}
			switch {
			case tt.wantErr == "" && (code != 0 || stdout.String() != "ok\n"):
				t.Errorf("healthcheck exited %d and printed %q (stderr %q), want 0 and ok", code, stdout.String(), stderr.String())
			case tt.wantErr != "" && !strings.Contains(stderr.String(), tt.wantErr):
				t.Errorf("healthcheck printed %q, want an error containing %q", stderr.String(), tt.wantErr)
			case code != wantCode:
				t.Errorf("healthcheck exited %d, want %d", code, wantCode)
			}
		})
	}
}

// TestSQLiteDatabaseURL: SCANNER_DATABASE_URL may name a SQLite file
// instead of a PostgreSQL server; the server must use that file, say so,
// and leave SCANNER_DATA_DIR alone (it may not be writable).
func TestSQLiteDatabaseURL(t *testing.T) {
	file := filepath.Join(t.TempDir(), "elsewhere", "scans.db")
	unused := filepath.Join(t.TempDir(), "data")
	cfg := defaults
	cfg.Addr, cfg.DataDir, cfg.DatabaseURL = "127.0.0.1:0", unused, "sqlite:"+file
	srv := startServer(t, cfg)
	if db, _ := listeningLine(t, srv.stderr)["database"].(string); !strings.HasPrefix(db, "sqlite") || !strings.Contains(db, file) {
		t.Errorf("the listening line says database %q, want sqlite and %s", db, file)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("the database file: %v", err)
	}
	if _, err := os.Stat(unused); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SCANNER_DATA_DIR was created (%v) although the database is elsewhere", err)
	}
	if err := srv.stop(); err != nil {
		t.Error(err)
	}
}
