package scan

import (
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// timestampRE is the original's %Y-%m-%d-%H-%M-%S-%f.
var timestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-\d{6}$`)

func TestTimestampString(t *testing.T) {
	cases := []struct {
		name string
		in   time.Time
		want string
	}{
		{"seed's finished time", time.Date(2018, 3, 1, 10, 23, 39, 719301000, time.Local), "2018-03-01-10-23-39-719301"},
		{"microseconds zero-padded", time.Date(2018, 3, 1, 9, 5, 7, 42000, time.Local), "2018-03-01-09-05-07-000042"},
		{"no microseconds", time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local), "2026-01-02-03-04-05-000000"},
		{"nanoseconds truncated, not rounded", time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.Local), "2026-12-31-23-59-59-999999"},
		{"sub-microsecond only", time.Date(2020, 2, 29, 0, 0, 0, 999, time.Local), "2020-02-29-00-00-00-000000"},
		{"zero time is empty", time.Time{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Timestamp{tc.in}.String()
			if got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if got != "" && (!timestampRE.MatchString(got) || strings.Contains(got, "H")) {
				t.Errorf("String() = %q does not have the form YYYY-MM-DD-HH-MM-SS-ffffff", got)
			}
		})
	}
}

func TestTimestampIsWrittenInLocalTime(t *testing.T) {
	// A zone that differs from any real local zone by a fraction of an hour,
	// so the test means something whatever TZ the machine has.
	zone := time.FixedZone("odd", 5*3600+1800+17)
	in := time.Date(2018, 3, 1, 10, 23, 39, 719301000, zone)
	want := in.Local().Format("2006-01-02-15-04-05") + "-719301"
	if got := (Timestamp{in}).String(); got != want {
		t.Errorf("String() = %q, want local %q", got, want)
	}
}

func TestTimestampRoundTrip(t *testing.T) {
	times := []time.Time{
		time.Date(2018, 3, 1, 10, 23, 39, 719301000, time.Local),
		time.Date(2018, 3, 1, 10, 23, 39, 719301999, time.Local), // below a microsecond is lost
		time.Date(2020, 2, 29, 0, 0, 0, 0, time.Local),
		time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.Local),
		time.Date(2026, 7, 4, 12, 0, 0, 1000, time.UTC),
	}
	for _, in := range times {
		t.Run(in.String(), func(t *testing.T) {
			s := Timestamp{in}.String()
			got, err := ParseTimestamp(s)
			if err != nil {
				t.Fatalf("ParseTimestamp(%q): %v", s, err)
			}
			if want := in.Truncate(time.Microsecond); !got.Equal(want) {
				t.Errorf("ParseTimestamp(%q) = %v, want %v", s, got, want)
			}
			if got.Location() != time.Local {
				t.Errorf("location = %v, want Local", got.Location())
			}

			// And through JSON, as stored results are read back.
			b, err := json.Marshal(Timestamp{in})
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != `"`+s+`"` {
				t.Errorf("MarshalJSON = %s, want %q", b, s)
			}
			var back Timestamp
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("UnmarshalJSON(%s): %v", b, err)
			}
			if !back.Equal(in.Truncate(time.Microsecond)) {
				t.Errorf("UnmarshalJSON(%s) = %v, want %v", b, back.Time, in)
			}
		})
	}
}

func TestParseTimestampRejects(t *testing.T) {
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"the original's literal H", "2018-03-01-H-23-39"},
		{"literal H with microseconds", "2018-03-01-H-23-39-719301"},
		{"no microseconds", "2018-03-01-10-23-39"},
		{"five-digit microseconds", "2018-03-01-10-23-39-71930"},
		{"seven-digit microseconds", "2018-03-01-10-23-39-7193010"},
		{"non-digit microseconds", "2018-03-01-10-23-39-abcdef"},
		{"signed microseconds", "2018-03-01-10-23-39-+19301"},
		{"spaced microseconds", "2018-03-01-10-23-39- 19301"},
		{"single-digit hour", "2018-03-01-1-23-39-719301"},
		{"month 13", "2018-13-01-10-23-39-719301"},
		{"hour 24", "2018-03-01-24-23-39-719301"},
		{"February 30", "2018-02-30-10-23-39-719301"},
		{"RFC 3339", "2018-03-01T10:23:39Z"},
		{"trailing junk", "2018-03-01-10-23-39-719301x"},
		{"dot before microseconds", "2018-03-01-10-23-39.719301"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := ParseTimestamp(tc.in); err == nil {
				t.Errorf("ParseTimestamp(%q) = %v, want an error", tc.in, got)
			}
		})
	}
}

func TestTimestampJSONEdges(t *testing.T) {
	t.Run("zero marshals as empty string", func(t *testing.T) {
		b, err := json.Marshal(Timestamp{})
		if err != nil || string(b) != `""` {
			t.Errorf("Marshal(zero) = %s, %v; want \"\"", b, err)
		}
	})
	for _, in := range []string{`""`, `null`} {
		t.Run("unmarshal "+in, func(t *testing.T) {
			ts := Timestamp{time.Now()}
			if err := json.Unmarshal([]byte(in), &ts); err != nil {
				t.Fatalf("Unmarshal(%s): %v", in, err)
			}
			if !ts.IsZero() {
				t.Errorf("Unmarshal(%s) = %v, want zero", in, ts.Time)
			}
		})
	}
	for _, in := range []string{`12`, `"2018-03-01-H-23-39"`, `{}`} {
		t.Run("unmarshal rejects "+in, func(t *testing.T) {
			var ts Timestamp
			if err := json.Unmarshal([]byte(in), &ts); err == nil {
				t.Errorf("Unmarshal(%s) = %v, want an error", in, ts.Time)
			}
		})
	}
}

// seedKeys are the keys of the seed README's result file.
var seedKeys = []string{
	"CVE Feed Last Updated", "Finished Time", "Scan Results", "Scan Type",
	"Scanner", "Start Time", "Successful", "Summary", "UUID",
}

var seedScanResultKeys = []string{"email-ids", "git-sha", "git-url", "image_name", "server_url"}

func sampleResult() Result {
	return Result{
		ScanType:           ScanTypeRegister,
		CVEFeedLastUpdated: "NA",
		UUID:               "aa295492a6702264ffe86c341e92aa83f9687e810cf29d72593eb7a2c27d0449",
		ScanResults: ScanResults{
			EmailIDs:  "nshaikh@redhat.com,samuzzal@redhat.com",
			GitSHA:    "46e443d",
			GitURL:    "https://github.com/fabric8-analytics/f8a-server-backbone",
			ImageName: "nshaikh/test_label",
			ServerURL: "http://localhost",
		},
		Successful:   true,
		StartTime:    Timestamp{time.Date(2018, 3, 1, 10, 23, 38, 1, time.Local)},
		FinishedTime: Timestamp{time.Date(2018, 3, 1, 10, 23, 39, 719301000, time.Local)},
		Summary:      SuccessSummary,
		Scanner:      ScannerName,
	}
}

func keysOf(t *testing.T, raw []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, raw)
	}
	return m
}

func sortedKeys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestResultJSONKeys(t *testing.T) {
	failed := sampleResult()
	failed.Successful = false
	failed.Errors = []string{"label git-url is missing"}
	failed.Summary = FailureSummary(failed.Errors)
	failed.ServerResponse = &ServerResponse{Status: 404, Summary: "git-url cannot be empty"}

	cases := []struct {
		name       string
		r          Result
		extra      []string
		successful string
	}{
		{"success has exactly the seed's keys", sampleResult(), nil, "true"},
		{"failure adds Errors and Server Response", failed, []string{"Errors", "Server Response"}, "false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			m := keysOf(t, raw)
			want := append(append([]string{}, seedKeys...), tc.extra...)
			sort.Strings(want)
			if got := sortedKeys(m); !reflect.DeepEqual(got, want) {
				t.Errorf("keys = %q, want %q", got, want)
			}
			// A JSON boolean in this file (atomic's own "json" file is
			// another matter).
			if string(m["Successful"]) != tc.successful {
				t.Errorf("Successful = %s, want the boolean %s", m["Successful"], tc.successful)
			}
			sr := keysOf(t, m["Scan Results"])
			if got := sortedKeys(sr); !reflect.DeepEqual(got, seedScanResultKeys) {
				t.Errorf("Scan Results keys = %q, want %q", got, seedScanResultKeys)
			}
			for k, v := range sr {
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					t.Errorf("Scan Results %q = %s, want a string", k, v)
				}
			}
			for _, k := range []string{"Start Time", "Finished Time"} {
				var s string
				if err := json.Unmarshal(m[k], &s); err != nil || !timestampRE.MatchString(s) {
					t.Errorf("%s = %s, want YYYY-MM-DD-HH-MM-SS-ffffff", k, m[k])
				}
			}
			var back Result
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatalf("Result does not read back: %v", err)
			}
			want2 := tc.r
			want2.StartTime = Timestamp{tc.r.StartTime.Truncate(time.Microsecond)}
			want2.FinishedTime = Timestamp{tc.r.FinishedTime.Truncate(time.Microsecond)}
			if !reflect.DeepEqual(back, want2) {
				t.Errorf("read back %+v\nwant %+v", back, want2)
			}
		})
	}
}

func TestResultReadsSeedDocument(t *testing.T) {
	// The seed README's file, with its literal-H Start Time repaired (that
	// defect is not supported) and its Summary shortened.
	const seed = `{
    "Scan Type": "register",
    "CVE Feed Last Updated": "NA",
    "UUID": "a295492a6702264ffe86c341e92aa83f9687e810cf29d72593eb7a2c27d0449",
    "Scan Results": {
        "email-ids": "nshaikh@redhat.com,samuzzal@redhat.com",
        "git-sha": "46e443d",
        "git-url": "https://github.com/fabric8-analytics/f8a-server-backbone",
        "image_name": "nshaikh/test_label",
        "server_url": "http://localhost"
    },
    "Successful": false,
    "Finished Time": "2018-03-01-10-23-39-719301",
    "Summary": "Error: [\"Could not send POST request\"]",
    "Start Time": "2018-03-01-10-23-39-000042",
    "Scanner": "scanner-analytics-integration"
}`
	var r Result
	if err := json.Unmarshal([]byte(seed), &r); err != nil {
		t.Fatal(err)
	}
	if r.ScanResults.GitSHA != "46e443d" || r.Successful || r.Scanner != ScannerName ||
		r.FinishedTime.String() != "2018-03-01-10-23-39-719301" || r.StartTime.String() != "2018-03-01-10-23-39-000042" {
		t.Errorf("decoded %+v", r)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	_ = json.Unmarshal([]byte(seed), &a)
	_ = json.Unmarshal(out, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("re-encoded\n%v\nwant\n%v", b, a)
	}
}

func TestFailureSummary(t *testing.T) {
	cases := []struct {
		name string
		in   []string
		want string
	}{
		{"one", []string{"label git-url is missing"}, `Error: ["label git-url is missing"]`},
		{"quotes and commas stay readable", []string{`a "b", c`, "d"}, `Error: ["a \"b\", c","d"]`},
		{"none is an empty list", []string{}, `Error: []`},
		{"html characters stay readable", []string{"a <b> & c"}, `Error: ["a <b> & c"]`},
		{"nil is an empty list, not null", nil, `Error: []`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := FailureSummary(tc.in); got != tc.want {
				t.Errorf("FailureSummary(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
