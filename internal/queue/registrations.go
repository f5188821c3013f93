package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// One registration per server, repository and commit. Before a scan
// registers, it claims the (server, git-url, git-sha) row of the
// registrations table:
//   - registered by any scan within ReregisterAfter: nothing is sent, the
//     scan succeeds and its result names that registration (its scan id
//     and time). This also covers a scan killed between registering and
//     recording it, when it runs again;
//   - claimed by another scan whose registration is under way: the scan
//     waits (a transient failure, tried again a second or two later) and
//     then finds it registered;
//   - otherwise the scan claims it, registers, and marks it registered, or
//     gives the claim up when the registration failed.
// Several references to one image (its name, its ids) so make one
// registration, as do different images of one commit.

// claimHold is how long a claim under way holds off other scans when the
// scan that made it neither registers nor gives it up (it was killed and
// not rescued): then another scan may take it over.
func (s *Store) claimHold() time.Duration { return s.cfg.JobTimeout + rescueMargin }

// errRegistrationBusy is the transient failure of a scan whose commit is
// being registered by another scan.
type errRegistrationBusy struct{ by string }

func (e errRegistrationBusy) Error() string {
	return fmt.Sprintf("scan %s is registering the same repository and commit; waiting for it", e.by)
}
func (errRegistrationBusy) Transient() bool           { return true }
func (errRegistrationBusy) RetryAfter() time.Duration { return time.Second }

// waitingForRegistration reports whether the attempt failed only because
// another scan is registering the same commit, and which.
func waitingForRegistration(a *scan.Attempt) (errRegistrationBusy, bool) {
	var busy errRegistrationBusy
	if len(a.Errors) != 1 || !errors.As(a.Errors[0], &busy) {
		return busy, false
	}
	return busy, true
}

// onceRegistrar is the scanner's registrar as a scan of this store uses it:
// Register goes through the registrations table.
type onceRegistrar struct {
	scan.Registrar
	s      *Store
	scanID string
}

func (o *onceRegistrar) Register(ctx context.Context, reg scan.Registration) (*scan.Response, error) {
	key := registrationKey{server: o.ServerURL(), gitURL: reg.GitURL, gitSHA: reg.GitSHA}
	prior, err := o.s.claimRegistration(ctx, key, o.scanID)
	if err != nil {
		return nil, err
	}
	if prior != nil {
		return &scan.Response{StatusCode: http.StatusOK, Prior: prior,
			Summary: fmt.Sprintf("Not sent again: scan %s registered this repository and commit at %s.",
				prior.ScanID, prior.RegisteredAt.Format(time.RFC3339))}, nil
	}
	resp, err := o.Registrar.Register(ctx, reg)
	// Recorded even when ctx is done: the attempt's outcome must stick.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if err != nil {
		if rerr := o.s.releaseRegistration(bg, key, o.scanID); rerr != nil {
			o.s.log.Warn().Err(rerr).Str("scan_id", o.scanID).Msg("could not give up the registration claim")
		}
		return nil, err
	}
	if merr := o.s.markRegistered(bg, key, o.scanID); merr != nil {
		o.s.log.Warn().Err(merr).Str("scan_id", o.scanID).Msg("could not record the registration")
	}
	return resp, nil
}

type registrationKey struct{ server, gitURL, gitSHA string }

// errClaimStore is a failure of the registrations table itself, transient
// as any database hiccup is.
type errClaimStore struct{ err error }

func (e errClaimStore) Error() string { return "registration claim: " + e.err.Error() }
func (e errClaimStore) Unwrap() error { return e.err }
func (errClaimStore) Transient() bool { return true }

// claimRegistration claims key for scanID, or returns the registration
// that stands for it, or errRegistrationBusy.
func (s *Store) claimRegistration(ctx context.Context, key registrationKey, scanID string) (*scan.PriorRegistration, error) {
	var prior *scan.PriorRegistration
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		var (
			holder     string
			claimed    int64
			registered sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT scan_id, claimed_at, registered_at FROM registrations
			WHERE server = $1 AND git_url = $2 AND git_sha = $3`, key.server, key.gitURL, key.gitSHA).
			Scan(&holder, &claimed, &registered)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO registrations (server, git_url, git_sha, scan_id, claimed_at)
				VALUES ($1, $2, $3, $4, $5)`, key.server, key.gitURL, key.gitSHA, scanID, micros(now))
			if isUniqueViolation(err) {
				return errRegistrationBusy{by: "another"}
			}
			return err
		case err != nil:
			return err
		case registered.Valid && now.Sub(fromMicros(registered.Int64)) < s.cfg.ReregisterAfter:
			prior = &scan.PriorRegistration{ScanID: holder, RegisteredAt: fromMicros(registered.Int64)}
			return nil
		case !registered.Valid && holder != scanID && now.Sub(fromMicros(claimed)) < s.claimHold():
			return errRegistrationBusy{by: holder}
		}
		// Registered too long ago, or a claim of this scan's own (an
		// attempt that died registering) or one left behind: take it.
		taken, err := changedOne(ctx, tx, `UPDATE registrations SET scan_id = $1, claimed_at = $2, registered_at = NULL
			WHERE server = $3 AND git_url = $4 AND git_sha = $5 AND scan_id = $6 AND claimed_at = $7`,
			scanID, micros(now), key.server, key.gitURL, key.gitSHA, holder, claimed)
		if err == nil && !taken {
			return errRegistrationBusy{by: "another"}
		}
		return err
	})
	var busy errRegistrationBusy
	switch {
	case errors.As(err, &busy):
		return nil, err
	case err != nil:
		return nil, errClaimStore{err}
	}
	return prior, nil
}

// markRegistered records that scanID's claim was registered.
func (s *Store) markRegistered(ctx context.Context, key registrationKey, scanID string) error {
	_, err := s.write(ctx, `UPDATE registrations SET registered_at = $1
		WHERE server = $2 AND git_url = $3 AND git_sha = $4 AND scan_id = $5`,
		micros(s.now()), key.server, key.gitURL, key.gitSHA, scanID)
	return err
}

// releaseRegistration gives up scanID's claim after a failed registration,
// so that another scan of the commit may register at once.
func (s *Store) releaseRegistration(ctx context.Context, key registrationKey, scanID string) error {
	_, err := s.write(ctx, `DELETE FROM registrations
		WHERE server = $1 AND git_url = $2 AND git_sha = $3 AND scan_id = $4 AND registered_at IS NULL`,
		key.server, key.gitURL, key.gitSHA, scanID)
	return err
}
