package oneshot

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// An analytics server whose answers repeat the request's headers (and the
// password of the URL it was reached at) must not get any credential into
// the one-shot's stdout, stderr or result files, in any disguise.
func TestEchoedCredentialsReachNoOutput(t *testing.T) {
	d := dockertest.New(t)
	_, id := buildImage(t, d, "scan-echo", goodLabels)
	// '<' and '"' make the JSON-escaped forms differ from the raw ones.
	token := "tok<" + testenv.RandomHex(12)
	secret := `3scale"` + testenv.RandomHex(12)
	password := "pw-" + testenv.RandomHex(12)
	forms := func(s string) []string {
		j, _ := json.Marshal(s)
		return []string{s, url.QueryEscape(s), strings.Trim(string(j), `"`), base64.StdEncoding.EncodeToString([]byte(s))}
	}
	// Not the emulator: the answer depends on the request's own headers,
	// whatever they are, which no scripted answer can know beforehand.
	var registrations atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/register") {
			registrations.Add(1)
		}
		var parts []string
		for name, values := range r.Header {
			for _, v := range values {
				parts = append(parts, name+": "+v)
			}
		}
		for _, s := range []string{token, secret, password} {
			parts = append(parts, forms(s)...)
		}
		body, _ := json.Marshal(map[string]any{"success": false, "error": "bad gateway; you sent " + strings.Join(parts, " | ")})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	server, _ := url.Parse(srv.URL + "/api/v1")
	server.User = url.UserPassword("scanner", password)
	scanIn, scanOut := scanDirs(t)
	mount(t, scanIn, id)

	out := runCommand(t, map[string]string{
		"SERVER": server.String(), "ANALYTICS_TOKEN": token, "ANALYTICS_3SCALE_SECRET": secret,
	}, "--scanin", scanIn, "--scanout", scanOut, "--verbose", "--json", fastRetry)
	if registrations.Load() == 0 {
		t.Fatal("the server received no registration")
	}

	outputs := map[string]string{"stdout": out.stdout, "stderr": out.stderr}
	err := filepath.WalkDir(scanOut, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		outputs[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(outputs) < 4 {
		t.Fatalf("no result files under %s", scanOut)
	}
	for where, text := range outputs {
		for name, s := range map[string]string{"ANALYTICS_TOKEN": token, "ANALYTICS_3SCALE_SECRET": secret, "the SERVER password": password} {
			for _, form := range forms(s) {
				if strings.Contains(text, form) {
					t.Errorf("%s holds %s (as %q)", where, name, form)
				}
			}
		}
	}
	if !strings.Contains(outputs["stdout"], "bad gateway; you sent") || !strings.Contains(outputs["stdout"], "[REDACTED]") {
		t.Errorf("stdout does not quote the server's answer with the secrets masked, so the check proves little:\n%s", out.stdout)
	}
}
