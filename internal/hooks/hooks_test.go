package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func readTestdata(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	capturedDigest = "sha256:7ad26f6cdecca067707701969ceb25df1a1b6b4045e72f955df7b5ec12f57912"
	capturedIndex  = "sha256:1758a080bfc514de98b1afbe3383e94fe53ac28aaa514ee04f7c7a0cd349cad3"
	d1             = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2             = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestParseDistributionTestdata(t *testing.T) {
	cases := []struct {
		file string
		opts Options
		want Result
	}{
		{file: "distribution-2.8-manifest-push.json", want: Result{Pushes: []Push{{
			Ref:    "127.0.0.1:5055/team/app@" + capturedDigest,
			Name:   "127.0.0.1:5055/team/app:1",
			Digest: capturedDigest,
		}}}},
		{file: "distribution-2.8-manifest-push.json", opts: Options{Host: "registry:5000"}, want: Result{Pushes: []Push{{
			Ref:    "registry:5000/team/app@" + capturedDigest,
			Name:   "registry:5000/team/app:1",
			Digest: capturedDigest,
		}}}},
		{file: "distribution-2.8-layer-push.json", want: Result{Ignored: 1}},
		{file: "distribution-2.8-blob-pull.json", want: Result{Ignored: 1}},
		{file: "distribution-3-envelope.json", want: Result{
			Pushes: []Push{
				{Ref: "registry.example.org/team/multi@" + d1, Name: "registry.example.org/team/multi:v2", Digest: d1},
			},
			Ignored:    4, // the untagged platform entry, config blob push, pull, delete
			Duplicates: 1, // the index again as :latest
		}},
		{file: "distribution-3-envelope.json", opts: Options{IncludeUntagged: true}, want: Result{
			Pushes: []Push{
				{Ref: "registry.example.org/team/multi@" + d1, Name: "registry.example.org/team/multi:v2", Digest: d1},
				{Ref: "registry.example.org/team/multi@" + d2, Digest: d2},
			},
			Ignored:    3,
			Duplicates: 1,
		}},
		// A multi-platform push by go-containerregistry: each platform's
		// manifest by digest, then the index under its tag.
		{file: "distribution-2.8-index-child-push.json", want: Result{Ignored: 1}},
		{file: "distribution-2.8-index-push.json", want: Result{Pushes: []Push{{
			Ref:    "127.0.0.1:5055/team/multi@" + capturedIndex,
			Name:   "127.0.0.1:5055/team/multi:v2",
			Digest: capturedIndex,
		}}}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %+v", tc.file, tc.opts), func(t *testing.T) {
			got, err := ParseDistribution(readTestdata(t, tc.file), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// event returns a one-event envelope with the fields given replacing those
// of a valid manifest push.
func envelope(t *testing.T, edit func(e map[string]any)) []byte {
	t.Helper()
	e := map[string]any{
		"id":     "e1",
		"action": "push",
		"target": map[string]any{
			"mediaType":  "application/vnd.docker.distribution.manifest.v2+json",
			"digest":     d1,
			"repository": "team/app",
			"url":        "http://reg.example:5000/v2/team/app/manifests/" + d1,
			"tag":        "1",
		},
		"request": map[string]any{"host": "reg.example:5000"},
	}
	if edit != nil {
		edit(e)
	}
	b, err := json.Marshal(map[string]any{"events": []any{e}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func target(e map[string]any) map[string]any { return e["target"].(map[string]any) }

func TestParseDistributionEvents(t *testing.T) {
	ok := []struct {
		name string
		edit func(e map[string]any)
		want Result
	}{
		{"manifest push", nil, Result{Pushes: []Push{{Ref: "reg.example:5000/team/app@" + d1, Name: "reg.example:5000/team/app:1", Digest: d1}}}},
		{"host from the target URL", func(e map[string]any) { delete(e, "request") },
			Result{Pushes: []Push{{Ref: "reg.example:5000/team/app@" + d1, Name: "reg.example:5000/team/app:1", Digest: d1}}}},
		{"manifest list", func(e map[string]any) {
			target(e)["mediaType"] = "application/vnd.docker.distribution.manifest.list.v2+json"
		}, Result{Pushes: []Push{{Ref: "reg.example:5000/team/app@" + d1, Name: "reg.example:5000/team/app:1", Digest: d1}}}},
		{"untagged ignored", func(e map[string]any) { delete(target(e), "tag") }, Result{Ignored: 1}},
		{"invalid tag: no name", func(e map[string]any) { target(e)["tag"] = "-bad" },
			Result{Pushes: []Push{{Ref: "reg.example:5000/team/app@" + d1, Digest: d1}}}},
		{"pull ignored", func(e map[string]any) { e["action"] = "pull" }, Result{Ignored: 1}},
		{"mount ignored", func(e map[string]any) { e["action"] = "mount" }, Result{Ignored: 1}},
		{"layer ignored", func(e map[string]any) {
			target(e)["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip"
		}, Result{Ignored: 1}},
		{"schema 1 ignored", func(e map[string]any) {
			target(e)["mediaType"] = "application/vnd.docker.distribution.manifest.v1+prettyjws"
		}, Result{Ignored: 1}},
		{"an ignored event is not checked", func(e map[string]any) {
			e["action"] = "pull"
			target(e)["digest"] = "nonsense"
		}, Result{Ignored: 1}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDistribution(envelope(t, tc.edit), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	t.Run("untagged included on request: no name", func(t *testing.T) {
		got, err := ParseDistribution(envelope(t, func(e map[string]any) { delete(target(e), "tag") }), Options{IncludeUntagged: true})
		want := Result{Pushes: []Push{{Ref: "reg.example:5000/team/app@" + d1, Digest: d1}}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})

	bad := []struct {
		name string
		body []byte
		want string
	}{
		{"not JSON", []byte("<xml/>"), "not a notification envelope"},
		{"empty", nil, "not a notification envelope"},
		{"array", []byte(`[{"events":[]}]`), "not a notification envelope"},
		{"no events", []byte(`{"event":[]}`), `no "events" list`},
		{"events not a list", []byte(`{"events":{}}`), "not a notification envelope"},
		{"trailing data", []byte(`{"events":[]} {}`), "data after the envelope"},
		{"too many events", []byte(`{"events":[` + strings.Repeat(`{},`, MaxEvents) + `{}]}`), "over the limit"},
		{"no digest", envelope(t, func(e map[string]any) { delete(target(e), "digest") }), "no digest"},
		{"bad digest", envelope(t, func(e map[string]any) { target(e)["digest"] = "sha256:xyz" }), "not a valid image reference"},
		{"no repository", envelope(t, func(e map[string]any) { delete(target(e), "repository") }), "no repository"},
		{"upper-case repository", envelope(t, func(e map[string]any) { target(e)["repository"] = "Team/App" }), "not a valid image reference"},
		{"no host anywhere", envelope(t, func(e map[string]any) { delete(e, "request"); delete(target(e), "url") }), "no registry host"},
		{"single-label host", envelope(t, func(e map[string]any) { e["request"] = map[string]any{"host": "registry"} }), "cannot stand in a reference"},
		{"host with a path", envelope(t, func(e map[string]any) { e["request"] = map[string]any{"host": "reg.example/evil"} }), "cannot stand in a reference"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDistribution(tc.body, Options{})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseDistribution = %+v, %v; want ErrMalformed with %q", got, err, tc.want)
			}
			if len(got.Pushes) != 0 {
				t.Errorf("a malformed envelope gave pushes %v", got.Pushes)
			}
		})
	}

	t.Run("one bad event rejects the whole envelope", func(t *testing.T) {
		body := []byte(`{"events":[` + string(envelope(t, nil))[len(`{"events":[`):len(envelope(t, nil))-2] + `,` +
			`{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"x/y","tag":"1"},"request":{"host":"r.example"}}]}`)
		got, err := ParseDistribution(body, Options{})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "event 1") || len(got.Pushes) != 0 {
			t.Errorf("got %+v, %v; want an error naming event 1 and no pushes", got, err)
		}
	})
}

func TestDistributionContentType(t *testing.T) {
	for ct, want := range map[string]bool{
		DistributionEventsV1:              true,
		DistributionEventsV2:              true,
		"application/json; charset=utf-8": true,
		"text/plain":                      false,
		"":                                false,
		"application/vnd.docker.distribution.events.v3+json": false,
	} {
		if got := DistributionContentType(ct); got != want {
			t.Errorf("DistributionContentType(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestParseHarborTestdata(t *testing.T) {
	const (
		hd = "sha256:76525f02955aec223342400a080c73024c995c9db1ba2eabf7505cf3bdf3f1f0"
		cd = "sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c"
	)
	cases := []struct {
		file string
		opts Options
		want Result
	}{
		{file: "harbor-push-default.json", want: Result{Pushes: []Push{{Ref: "harbor.example.org/library/app@" + hd, Name: "harbor.example.org/library/app:v1", Digest: hd}}}},
		{file: "harbor-push-default.json", opts: Options{Host: "harbor-core:8080"},
			want: Result{Pushes: []Push{{Ref: "harbor-core:8080/library/app@" + hd, Name: "harbor-core:8080/library/app:v1", Digest: hd}}}},
		// Pushed by digest: Harbor repeats the digest as the tag.
		{file: "harbor-push-cloudevents.json", want: Result{Pushes: []Push{{Ref: "harbor.example.org:8443/library/busybox@" + cd, Digest: cd}}}},
		{file: "harbor-pull-cloudevents.json", want: Result{Ignored: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.file+tc.opts.Host, func(t *testing.T) {
			got, err := ParseHarbor(readTestdata(t, tc.file), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseHarbor(t *testing.T) {
	ok := []struct {
		name string
		body string
		opts Options
		want Result
	}{
		{"other default type ignored", `{"type":"DELETE_ARTIFACT","event_data":{"resources":[]}}`, Options{}, Result{Ignored: 1}},
		{"scan completed ignored", `{"type":"SCANNING_COMPLETED","event_data":{}}`, Options{}, Result{Ignored: 1}},
		{"default type name in a CloudEvent ignored", `{"specversion":"1.0","type":"PUSH_ARTIFACT","data":{"resources":[]}}`, Options{}, Result{Ignored: 1}},
		{"two resources, one repeated", `{"type":"PUSH_ARTIFACT","event_data":{"resources":[
			{"digest":"` + d1 + `","tag":"a","resource_url":"h.example/p/r:a"},
			{"digest":"` + d2 + `","tag":"b","resource_url":"h.example/p/r:b"},
			{"digest":"` + d1 + `","tag":"c","resource_url":"h.example/p/r:c"}]}}`, Options{},
			Result{Pushes: []Push{
				{Ref: "h.example/p/r@" + d1, Name: "h.example/p/r:a", Digest: d1},
				{Ref: "h.example/p/r@" + d2, Name: "h.example/p/r:b", Digest: d2},
			}, Duplicates: 1}},
		{"no resource_url: repo_full_name and the configured host", `{"type":"PUSH_ARTIFACT","event_data":{
			"resources":[{"digest":"` + d1 + `","tag":"1"}],"repository":{"repo_full_name":"proj/app"}}}`, Options{Host: "harbor.example"},
			Result{Pushes: []Push{{Ref: "harbor.example/proj/app@" + d1, Name: "harbor.example/proj/app:1", Digest: d1}}}},
		{"nested repository with a port host", `{"type":"PUSH_ARTIFACT","event_data":{"resources":[
			{"digest":"` + d1 + `","tag":"v1.2","resource_url":"localhost:8443/proj/team/app:v1.2"}]}}`, Options{},
			Result{Pushes: []Push{{Ref: "localhost:8443/proj/team/app@" + d1, Name: "localhost:8443/proj/team/app:v1.2", Digest: d1}}}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHarbor([]byte(tc.body), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	bad := []struct{ name, body, want string }{
		{"not JSON", `PUSH_ARTIFACT`, "not a Harbor payload"},
		{"no type", `{"event_data":{"resources":[]}}`, "no event type"},
		{"push without resources", `{"type":"PUSH_ARTIFACT","event_data":{}}`, "without resources"},
		{"push without event data", `{"type":"PUSH_ARTIFACT"}`, "without resources"},
		{"CloudEvent push without data", `{"specversion":"1.0","type":"harbor.artifact.pushed"}`, "without resources"},
		{"CloudEvent base64 data", `{"specversion":"1.0","type":"harbor.artifact.pushed","data_base64":"e30="}`, "data_base64"},
		{"CloudEvents 0.3", `{"specversion":"0.3","type":"harbor.artifact.pushed","data":{"resources":[]}}`, "specversion"},
		{"no digest", `{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"1","resource_url":"h.example/p/r:1"}]}}`, "no digest"},
		{"no host", `{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"digest":"` + d1 + `"}],"repository":{"repo_full_name":"p/r"}}}`, "no registry host"},
		{"single-label host", `{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"digest":"` + d1 + `","resource_url":"harbor/p/r:1"}]}}`, "cannot stand in a reference"},
		{"bad digest", `{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"digest":"md5:00","resource_url":"h.example/p/r:1"}]}}`, "not a valid image reference"},
		{"trailing data", `{"type":"X"}{"type":"Y"}`, "data after the payload"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHarbor([]byte(tc.body), Options{})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseHarbor = %+v, %v; want ErrMalformed with %q", got, err, tc.want)
			}
		})
	}
}

func TestSplitResourceURL(t *testing.T) {
	for in, want := range map[string][2]string{
		"h.example/p/r:1":         {"h.example", "p/r"},
		"h.example:5000/p/r:1":    {"h.example:5000", "p/r"},
		"h.example:5000/p/r":      {"h.example:5000", "p/r"},
		"h.example/p/r@sha256:00": {"h.example", "p/r"},
		"https://h.example/p/r:1": {"h.example", "p/r"},
		"h.example":               {"h.example", ""},
		"":                        {"", ""},
	} {
		h, r := splitResourceURL(in)
		if h != want[0] || r != want[1] {
			t.Errorf("splitResourceURL(%q) = %q, %q; want %q, %q", in, h, r, want[0], want[1])
		}
	}
}

// checkResult asserts what every successful parse promises: each Ref is a
// valid digest reference carrying Digest, each Name a tag of the same
// repository, no Ref twice.
func checkResult(t *testing.T, res Result) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range res.Pushes {
		d, err := name.NewDigest(p.Ref, name.StrictValidation)
		if err != nil {
			t.Fatalf("Ref %q does not parse: %v", p.Ref, err)
		}
		if d.DigestStr() != p.Digest || d.String() != p.Ref {
			t.Errorf("Ref %q vs Digest %q", p.Ref, p.Digest)
		}
		if p.Name != "" {
			tag, err := name.NewTag(p.Name, name.StrictValidation)
			if err != nil || tag.Context() != d.Context() {
				t.Errorf("Name %q is not a tag of %s: %v", p.Name, d.Context(), err)
			}
		}
		if seen[p.Ref] {
			t.Errorf("Ref %s twice", p.Ref)
		}
		seen[p.Ref] = true
	}
	if res.Ignored < 0 || res.Duplicates < 0 {
		t.Errorf("negative counts %+v", res)
	}
}

func FuzzParseDistribution(f *testing.F) {
	for _, file := range []string{"distribution-2.8-manifest-push.json", "distribution-2.8-layer-push.json", "distribution-3-envelope.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	f.Add([]byte(`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:`+strings.Repeat("a", 64)+`","repository":"a/b","tag":"t"},"request":{"host":"h:1"}}]}`), "x.example")
	f.Add([]byte(`{"events":null}`), "")
	f.Fuzz(func(t *testing.T, body []byte, host string) {
		res, err := ParseDistribution(body, Options{Host: host, IncludeUntagged: len(host)%2 == 1})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		checkResult(t, res)
		var env struct{ Events []json.RawMessage }
		if json.Unmarshal(body, &env) == nil {
			if n := len(res.Pushes) + res.Ignored + res.Duplicates; n != len(env.Events) {
				t.Errorf("%d events accounted for, the envelope has %d", n, len(env.Events))
			}
		}
	})
}

func FuzzParseHarbor(f *testing.F) {
	for _, file := range []string{"harbor-push-default.json", "harbor-push-cloudevents.json", "harbor-pull-cloudevents.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	f.Add([]byte(`{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"digest":"sha256:`+strings.Repeat("b", 64)+`","resource_url":"a.b/c@x"}]}}`), "h:5000")
	f.Fuzz(func(t *testing.T, body []byte, host string) {
		res, err := ParseHarbor(body, Options{Host: host})
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		checkResult(t, res)
		if res.Ignored > 1 || (res.Ignored == 1 && len(res.Pushes) > 0) {
			t.Errorf("an ignored payload with pushes: %+v", res)
		}
	})
}
