package queue

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/riverqueue/river/rivertype"
)

// TestScansRunBeforeBackgroundJobs queues a scan behind 30 report
// follow-ups with one worker: the scan is worked first, since the jobs that
// follow scans (follow-ups, error reports, callbacks) have a lower priority
// than scans; in arrival order it would have waited for all 30.
func TestScansRunBeforeBackgroundJobs(t *testing.T) {
	eachBackend(t, func(t *testing.T, env *testEnv) {
		s := env.open(func(c *Config) { c.Workers = 1 })
		ctx := context.Background()
		const backlog = 30
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			for i := range backlog {
				// Follow-ups of reports that do not exist: each cancels
				// itself when worked.
				if err := s.insertFollowUp(ctx, tx, fmt.Sprintf("absent-report-%d", i), 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		env.image("priority/app")
		rec := submit(t, s, "priority/app")
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if got := waitFinal(t, s, rec.ID); got.Status != "succeeded" {
			t.Fatalf("scan: %s %s", got.Status, got.LastError)
		}
		var worked int
		if err := s.db.QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = $1 AND state <> $2`,
			FollowUpArgs{}.Kind(), string(rivertype.JobStateAvailable)).Scan(&worked); err != nil {
			t.Fatal(err)
		}
		// The first fetch may have taken one follow-up beside the scan.
		if worked > 1 {
			t.Errorf("%d of %d follow-ups queued before the scan were worked before it ended; want the scan first", worked, backlog)
		}
	})
}
