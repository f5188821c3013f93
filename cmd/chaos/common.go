package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the schema of crash-postgres
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// secrets are one scenario's credentials, random so that finding one in an
// output cannot be a coincidence.
type secrets struct {
	analyticsToken, threeScale, apiToken string
}

func newSecrets() secrets {
	return secrets{
		analyticsToken: "chaos-analytics-token-" + randomHex(16),
		threeScale:     "chaos-3scale-secret-" + randomHex(16),
		apiToken:       "chaos-api-token-" + randomHex(16),
	}
}

// serverEnv is a server's environment: its own address, a stand-in, the
// credentials, and a SQLite data dir unless databaseURL is set; extra adds
// or overrides.
func serverEnv(addr string, st *standin, sec secrets, dataDir, databaseURL string, extra map[string]string) map[string]string {
	env := map[string]string{
		"SCANNER_ADDR":                    addr,
		"SCANNER_DATA_DIR":                dataDir,
		"SCANNER_DATABASE_URL":            databaseURL,
		"SCANNER_ANALYTICS_URL":           st.url(),
		"SCANNER_ANALYTICS_TOKEN":         sec.analyticsToken,
		"SCANNER_ANALYTICS_3SCALE_SECRET": sec.threeScale,
		"SCANNER_API_TOKEN":               sec.apiToken,
		"SCANNER_SHUTDOWN_TIMEOUT":        "10s",
		"SCANNER_LOG_LEVEL":               "info",
		// Issue 9's time budget for transient failures. A server that
		// does not know it yet ignores it (checked by every start).
		"SCANNER_RETRY_FOR": "10m",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// pgSchema makes a schema of its own on the PostgreSQL at base and returns
// a URL whose connections use it; the schema is dropped by the cleanup.
func pgSchema(ctx context.Context, base string, cl *cleanups) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL URL: %w", err)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		return "", err
	}
	schema := "chaos_" + randomHex(6)
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := db.ExecContext(cctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		return "", fmt.Errorf("PostgreSQL: create schema: %w", err)
	}
	cl.add("drop schema "+schema, func() error {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
		return err
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// outcome is where a set of accepted scans ended.
type outcome struct {
	byID      map[string]record
	lost      []string // accepted, then unknown to the server
	stuck     []string // not final when the wait ended
	succeeded int
	failed    int
}

// waitFinal polls the records of ids until all are final, or until after
// `until` no scan has become final for 15 s, or `limit` passes. A scan the
// server answers 404 for is lost.
func waitFinal(ctx context.Context, c *apiClient, ids []string, until, limit time.Time) outcome {
	out := outcome{byID: map[string]record{}}
	pending := append([]string(nil), ids...)
	lastProgress := time.Now()
	for {
		var mu sync.Mutex
		var next []string
		work := make(chan string)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for id := range work {
					rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					rec, found, err := c.get(rctx, id)
					cancel()
					mu.Lock()
					switch {
					case err != nil || (found && !rec.final()):
						next = append(next, id) // unreachable for a moment counts as pending
						if found {
							out.byID[id] = rec
						}
					case !found:
						out.lost = append(out.lost, id)
					default:
						out.byID[id] = rec
					}
					mu.Unlock()
				}
			})
		}
		for _, id := range pending {
			work <- id
		}
		close(work)
		wg.Wait()
		if len(next) < len(pending) {
			lastProgress = time.Now()
		}
		pending = next
		now := time.Now()
		if len(pending) == 0 || ctx.Err() != nil || now.After(limit) || (now.After(until) && now.Sub(lastProgress) > 15*time.Second) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	out.stuck = pending
	for _, rec := range out.byID {
		switch rec.Status {
		case "succeeded":
			out.succeeded++
		case "failed":
			out.failed++
		}
	}
	return out
}

// stuckStatuses says in which status the stuck scans were left.
func (o outcome) stuckStatuses() string {
	by := map[string]int{}
	for _, id := range o.stuck {
		st := "unreadable"
		if rec, ok := o.byID[id]; ok {
			st = rec.Status
		}
		by[st]++
	}
	var parts []string
	for st, n := range by {
		parts = append(parts, fmt.Sprintf("%d %s", n, st))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// fill puts an outcome and the stand-in's counts into the row.
func (r *row) fill(accepted int, o outcome, c counts) {
	r.scans = accepted
	r.succeeded, r.failed = o.succeeded, o.failed
	r.lost, r.stuck = len(o.lost), len(o.stuck)
	r.duplicates = c.duplicates()
	r.reports = c.reports
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
