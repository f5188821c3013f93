package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

var _ scan.BatchSubmitter = (*Store)(nil)

// SubmitMany implements scan.BatchSubmitter: the scans of one registry
// notification are queued in one transaction, their jobs inserted by one
// InsertManyTx. Requests are checked first; one bad request refuses the
// whole batch. Requests of the same image within the batch count once.
func (s *Store) SubmitMany(ctx context.Context, reqs []scan.Request) ([]scan.Submission, error) {
	keys := make([]string, len(reqs))
	for i := range reqs {
		req := &reqs[i]
		if strings.TrimSpace(req.Image) == "" {
			return nil, scan.Errorf(scan.EInvalid, "image is required")
		}
		scanType, ok := scan.ResolveScanType(req.ScanType)
		if !ok {
			return nil, scan.Errorf(scan.EInvalid, "scan type %q is not supported", req.ScanType)
		}
		req.ScanType = scanType
		source, err := resolveSource(req.Source)
		if err != nil {
			return nil, err
		}
		req.Source = source
		keys[i] = imageKey(req.Image)
	}
	for range submitTries {
		subs, err := s.submitManyOnce(ctx, reqs, keys)
		if isUniqueViolation(err) {
			// A concurrent delivery of the same push committed first; the
			// next pass finds its scans.
			continue
		}
		if err != nil {
			if scan.ErrorCode(err) == scan.EInternal {
				err = fmt.Errorf("store: submit many: %w", err)
			}
			return nil, err
		}
		for _, sub := range subs {
			if sub.Created {
				s.log.Info().Str("scan_id", sub.Record.ID).Str("image", sub.Record.Image).
					Str("source", sub.Record.Source).Msg("scan queued")
			}
		}
		return subs, nil
	}
	return nil, errors.New("store: submit many: concurrent submissions of the same images kept conflicting")
}

func (s *Store) submitManyOnce(ctx context.Context, reqs []scan.Request, keys []string) ([]scan.Submission, error) {
	subs := make([]scan.Submission, len(reqs))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Which requests need a new scan: not one already in the table,
		// nor one earlier in this batch.
		var fresh []int
		firstOf := map[string]int{}
		repeats := map[int]int{} // a request's index -> its first's
		for i, req := range reqs {
			dedupe := strings.Join([]string{keys[i], req.ScanType, req.Server, req.Source}, "\x00")
			if j, ok := firstOf[dedupe]; ok {
				repeats[i] = j
				continue
			}
			firstOf[dedupe] = i
			existing, found, err := findScan(ctx, tx, req, keys[i], `status <> 'canceled'`)
			if err != nil {
				return err
			}
			if found {
				subs[i] = scan.Submission{Record: existing}
				continue
			}
			fresh = append(fresh, i)
		}
		if len(fresh) > 0 {
			if err := s.checkDepth(ctx, tx, len(fresh)); err != nil {
				return err
			}
			newReqs, newKeys := make([]scan.Request, len(fresh)), make([]string, len(fresh))
			for n, i := range fresh {
				newReqs[n], newKeys[n] = reqs[i], keys[i]
			}
			recs, err := s.queueScans(ctx, tx, newReqs, newKeys)
			if err != nil {
				return err
			}
			for n, i := range fresh {
				subs[i] = scan.Submission{Record: recs[n], Created: true}
			}
		}
		// A request repeated within the batch stands for its first.
		for i, j := range repeats {
			subs[i] = scan.Submission{Record: subs[j].Record}
		}
		return nil
	})
	return subs, err
}

// queueScans writes new scans of reqs (deduplicated under keys): their
// jobs in one InsertManyTx, then their records, in tx.
func (s *Store) queueScans(ctx context.Context, tx *sql.Tx, reqs []scan.Request, keys []string) ([]scan.Record, error) {
	ids := make([]string, len(reqs))
	params := make([]river.InsertManyParams, len(reqs))
	for i := range reqs {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		ids[i] = id.String()
		params[i] = river.InsertManyParams{Args: ScanArgs{ScanID: ids[i]},
			InsertOpts: &river.InsertOpts{MaxAttempts: s.cfg.MaxAttempts}}
	}
	jobs, err := s.client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("queue the jobs: %w", err)
	}
	if len(jobs) != len(reqs) {
		return nil, fmt.Errorf("queue the jobs: %d inserted for %d scans", len(jobs), len(reqs))
	}
	recs := make([]scan.Record, len(reqs))
	for i := range reqs {
		if recs[i], err = s.insertScan(ctx, tx, reqs[i], keys[i], ids[i], jobs[i].Job.ID); err != nil {
			return nil, err
		}
	}
	return recs, nil
}
