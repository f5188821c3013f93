package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/centos-pipeline/analytics-scanner/internal/hooks"
	"github.com/centos-pipeline/analytics-scanner/internal/pgtest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/server"
)

// TestMeasureScanOnPushRate measures, against one real docker-registry in
// one run, the rate of whole registry-source scans (one notification
// naming the images, queue, manifest and config read, label check,
// registration at the emulator) beside the raw manifest+config fetch rate
// of the same images, both 8 at a time, in alternating rounds so that the
// machine's changing load hits both alike. A measurement, not a test: by
// hand only,
//
//	SCANNER_MEASURE=1 go test -run MeasureScanOnPush -v ./cmd/server/
//
// (SCANNER_MEASURE_DB=postgres: the queue on SCANNER_TEST_POSTGRES_URL
// instead of SQLite.)
func TestMeasureScanOnPushRate(t *testing.T) {
	if os.Getenv("SCANNER_MEASURE") != "1" {
		t.Skip("a measurement, not a test: set SCANNER_MEASURE=1")
	}
	const perRound, rounds, workers = 200, 3, 8
	database := ""
	if os.Getenv("SCANNER_MEASURE_DB") == "postgres" {
		database = pgtest.SchemaURL(t, "measure")
	}
	p := startPushServiceNotifying(t, false, func(c *server.Config) {
		c.DatabaseURL = database
		c.Workers = workers
		c.LogLevel = "info" // not the tests' debug: the measure is of the service as run
	})

	// Distinct images per round, since a digest is scanned once.
	type pushed struct{ repo, digest, config string }
	sets := make([][]pushed, rounds)
	for round := range rounds {
		for i := range perRound {
			img := ociImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, map[string]string{
				scan.LabelGitURL: fmt.Sprintf("https://github.com/example/measure-%d-%d", round, i), scan.LabelGitSHA: "46e443d",
				scan.LabelEmailIDs: "dev@example.org"}, nil)
			repo := fmt.Sprintf("measure/app-%d-%d", round, i)
			ref, err := name.ParseReference(p.reg.Host + "/" + repo + ":1")
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img); err != nil {
				t.Fatal(err)
			}
			d, _ := img.Digest()
			c, _ := img.ConfigName()
			sets[round] = append(sets[round], pushed{repo, d.String(), c.String()})
		}
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * workers}}
	get := func(url, accept string) error {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %d", url, resp.StatusCode)
		}
		return nil
	}
	rawRate := func(set []pushed) float64 {
		var next, done atomic.Int64
		stop := time.Now().Add(2 * time.Second)
		began := time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for time.Now().Before(stop) {
					im := set[int(next.Add(1))%len(set)]
					err := get("http://"+p.reg.Host+"/v2/"+im.repo+"/manifests/"+im.digest, string(types.OCIManifestSchema1))
					if err == nil {
						err = get("http://"+p.reg.Host+"/v2/"+im.repo+"/blobs/"+im.config, "")
					}
					if err != nil {
						t.Error(err)
						return
					}
					done.Add(1)
				}
			})
		}
		wg.Wait()
		return float64(done.Load()) / time.Since(began).Seconds()
	}

	var raw, scans []float64
	for round, set := range sets {
		raw = append(raw, rawRate(set))
		events := make([]map[string]any, len(set))
		for i, im := range set {
			events[i] = map[string]any{
				"action": "push",
				"target": map[string]any{"mediaType": string(types.OCIManifestSchema1), "digest": im.digest,
					"repository": im.repo, "tag": "1"},
				"request": map[string]any{"host": p.reg.Host},
			}
		}
		body, _ := json.Marshal(map[string]any{"events": events})
		req := p.c.api.NewRequest(http.MethodPost, "/hooks/distribution", hooks.DistributionEventsV1, body)
		req.Header.Set("Authorization", "Bearer "+p.hookToken)
		began := time.Now()
		r := p.c.api.Do(req)
		answered := time.Since(began)
		var a struct{ Enqueued int }
		r.JSON(t, &a)
		if a.Enqueued != len(set) {
			t.Fatalf("round %d: %d enqueued, want %d: %s", round, a.Enqueued, len(set), r.Body)
		}
		waitFinalCount(t, p, (round+1)*len(set))
		rate := float64(len(set)) / time.Since(began).Seconds()
		scans = append(scans, rate)
		t.Logf("round %d: raw manifest+config %.0f/s; %d registry scans queued by one notification (answered in %s), all registered at %.0f scans/s",
			round, raw[round], len(set), answered.Round(time.Millisecond), rate)
	}
	if failed := scansTotal(t, p.c, "failed"); failed != 0 {
		t.Errorf("%d scans failed", failed)
	}
	slices.Sort(raw)
	slices.Sort(scans)
	t.Logf("median of %d rounds, %d at a time: raw manifest+config fetch %.0f/s; registry-source scans %.0f/s",
		rounds, workers, raw[rounds/2], scans[rounds/2])
}

// waitFinalCount waits until the service has finished n scans, read from
// its metrics: one request however many scans there are.
func waitFinalCount(t *testing.T, p *pushService, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		final := scansTotal(t, p.c, "succeeded") + scansTotal(t, p.c, "failed")
		if final >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d scans final after 5 minutes", final, n)
		}
		// Seldom enough not to load the service it measures.
		time.Sleep(100 * time.Millisecond)
	}
}
