package atomicscan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/safefile/safefiletest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

func sampleResult(successful bool) scan.Result {
	start := time.Date(2026, 3, 1, 10, 23, 39, 719301000, time.Local)
	r := scan.Result{
		ScanType:           scan.ScanTypeRegister,
		CVEFeedLastUpdated: "NA",
		UUID:               strings.Repeat("a", 64),
		ScanResults: scan.ScanResults{
			EmailIDs:  "a@example.org,b@example.org",
			GitSHA:    "46e443d",
			GitURL:    "https://example.org/repo",
			ImageName: "team/app",
			ServerURL: "http://analytics.example/api/v1",
		},
		Successful:   successful,
		StartTime:    scan.Timestamp{Time: start},
		FinishedTime: scan.Timestamp{Time: start.Add(1500 * time.Millisecond)},
		Scanner:      scan.ScannerName,
	}
	if successful {
		r.Summary = scan.SuccessSummary
		r.ServerResponse = &scan.ServerResponse{Status: 200, Summary: "registered"}
	} else {
		r.Errors = []string{"label git-sha is missing", "<none> & more"}
		r.Summary = scan.FailureSummary(r.Errors)
	}
	return r
}

func TestNewSummary(t *testing.T) {
	tests := []struct {
		name       string
		result     scan.Result
		successful string
		custom     map[string]any
	}{
		{
			name: "successful", result: sampleResult(true), successful: "true",
			custom: map[string]any{
				"image": "team/app", "git-url": "https://example.org/repo", "git-sha": "46e443d",
				"email-ids": "a@example.org,b@example.org", "server": "http://analytics.example/api/v1",
				"server-status": float64(200), "server-answer": "registered", "summary": scan.SuccessSummary,
			},
		},
		{
			name: "failed", result: sampleResult(false), successful: "false",
			custom: map[string]any{
				"image": "team/app", "git-url": "https://example.org/repo", "git-sha": "46e443d",
				"email-ids": "a@example.org,b@example.org", "server": "http://analytics.example/api/v1",
				"errors": []any{"label git-sha is missing", "<none> & more"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			folder := strings.Repeat("f", 64)
			data, err := Marshal(NewSummary(tt.result, folder))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			keys := make([]string, 0, len(got))
			for k := range got {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			wantKeys := []string{"Custom", "Finished Time", "Scan Type", "Scanner", "Successful", "Time", "UUID"}
			if !reflect.DeepEqual(keys, wantKeys) {
				t.Errorf("keys = %q, want %q", keys, wantKeys)
			}
			// atomic calls .upper() on Successful: it must be a string.
			if got["Successful"] != tt.successful {
				t.Errorf("Successful = %#v, want the string %q", got["Successful"], tt.successful)
			}
			if got["UUID"] != "/scanin/"+folder {
				t.Errorf("UUID = %v, want /scanin/%s", got["UUID"], folder)
			}
			if got["Scanner"] != scan.ScannerName || got["Scan Type"] != scan.ScanTypeRegister {
				t.Errorf("Scanner, Scan Type = %v, %v", got["Scanner"], got["Scan Type"])
			}
			for _, k := range []string{"Time", "Finished Time"} {
				parsed, err := time.Parse(time.RFC3339, got[k].(string))
				if err != nil {
					t.Errorf("%s = %v: %v", k, got[k], err)
					continue
				}
				want := tt.result.StartTime.Truncate(time.Second)
				if k == "Finished Time" {
					want = tt.result.FinishedTime.Truncate(time.Second)
				}
				if !parsed.Equal(want) {
					t.Errorf("%s = %v, want %v", k, parsed, want)
				}
			}
			if !reflect.DeepEqual(got["Custom"], tt.custom) {
				t.Errorf("Custom = %#v\nwant %#v", got["Custom"], tt.custom)
			}
			if !strings.Contains(string(data), "<none> & more") && !tt.result.Successful {
				t.Errorf("summary escapes text meant for people:\n%s", data)
			}
		})
	}
}

// customKeyOrder is the order atomic shows the Custom keys in: the file's.
func TestSummaryCustomKeysKeepTheirOrder(t *testing.T) {
	data, err := Marshal(NewSummary(sampleResult(true), "x"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	order := []string{`"image"`, `"git-url"`, `"git-sha"`, `"email-ids"`, `"server"`, `"server-status"`, `"server-answer"`, `"summary"`}
	last := -1
	for _, k := range order {
		i := strings.Index(s, k)
		if i <= last {
			t.Fatalf("key %s out of order in\n%s", k, s)
		}
		last = i
	}
}

func TestWriteResults(t *testing.T) {
	t.Run("writes both files in the folder, creating it", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "scanout")
		r := sampleResult(false)
		dir, err := WriteResults(out, r.UUID, r)
		if err != nil {
			t.Fatal(err)
		}
		if dir != filepath.Join(out, r.UUID) {
			t.Errorf("dir = %s", dir)
		}
		safefiletest.AssertOnlyFiles(t, dir, SummaryFile, ResultFile)

		raw, err := os.ReadFile(filepath.Join(dir, ResultFile))
		if err != nil {
			t.Fatal(err)
		}
		var back scan.Result
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Errors, r.Errors) || back.ScanResults != r.ScanResults || back.Successful {
			t.Errorf("result read back = %+v, want %+v", back, r)
		}
		if !strings.Contains(string(raw), "\n    \"Scan Type\"") {
			t.Errorf("result is not indented:\n%s", raw)
		}

		var summary Summary
		raw, err = os.ReadFile(filepath.Join(dir, SummaryFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &summary); err != nil {
			t.Fatal(err)
		}
		if summary.UUID != "/scanin/"+r.UUID || summary.Successful != "false" {
			t.Errorf("summary = %+v", summary)
		}
	})

	t.Run("overwrites the results of an earlier run", func(t *testing.T) {
		out := t.TempDir()
		if _, err := WriteResults(out, "img", sampleResult(false)); err != nil {
			t.Fatal(err)
		}
		dir, err := WriteResults(out, "img", sampleResult(true))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, SummaryFile))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"Successful": "true"`) {
			t.Errorf("summary not replaced:\n%s", raw)
		}
		safefiletest.AssertOnlyFiles(t, dir, SummaryFile, ResultFile)
	})

	for _, folder := range []string{"", ".", "..", "a/b", `a\b`} {
		t.Run("refuses folder "+folder, func(t *testing.T) {
			out := t.TempDir()
			if _, err := WriteResults(out, folder, sampleResult(true)); err == nil {
				t.Errorf("WriteResults(%q) succeeded", folder)
			}
			safefiletest.AssertOnlyFiles(t, out)
		})
	}

	t.Run("fails when the scan-out directory cannot be made", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := WriteResults(file, "img", sampleResult(true)); err == nil {
			t.Error("WriteResults under a file succeeded")
		}
	})
}
