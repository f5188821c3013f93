package scan

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func TestFollowUpUntilReady(t *testing.T) {
	p := FollowUpPolicy{Interval: 30 * time.Minute, Deadline: 24 * time.Hour}
	st := p.Start(t0)
	if st.State != ReportPending || st.Deadline == nil || !st.Deadline.Equal(t0.Add(24*time.Hour)) || st.Tries != 0 {
		t.Fatalf("Start = %+v", st)
	}
	now := t0
	for i := 1; i <= 3; i++ {
		var wait time.Duration
		st, wait = p.Next(st, ReportPoll{NotReady: true, Message: "No report found for this repository"}, now)
		if st.State != ReportPending || wait != 30*time.Minute || st.Tries != i || !st.LastTryAt.Equal(now) ||
			!st.NextTryAt.Equal(now.Add(wait)) || st.Message != "No report found for this repository" {
			t.Fatalf("poll %d: %+v, wait %v", i, st, wait)
		}
		now = now.Add(wait)
	}
	report, err := DecodeReport([]byte(realReport))
	if err != nil {
		t.Fatal(err)
	}
	st, wait := p.Next(st, ReportPoll{Report: &report}, now)
	if st.State != ReportReady || wait != 0 || st.Tries != 4 || st.NextTryAt != nil || st.Message != "" ||
		st.Summary == nil || st.Summary.CVEs != 5 || st.ScannedAt != report.ScannedAt {
		t.Errorf("ready: %+v, wait %v", st, wait)
	}
	if !st.State.Final() {
		t.Error("ready is not final")
	}
}

func TestFollowUpFinalAnswers(t *testing.T) {
	p := FollowUpPolicy{}
	st, wait := p.Next(p.Start(t0), ReportPoll{LockFileAbsent: true, Message: "no lock file"}, t0)
	if st.State != ReportLockFileAbsent || wait != 0 || st.Message != "no lock file" || st.Summary != nil {
		t.Errorf("lock file absent: %+v, %v", st, wait)
	}
	st, wait = p.Next(p.Start(t0), ReportPoll{Err: errors.New("server answered 401"), Transient: false}, t0)
	if st.State != ReportFailed || wait != 0 || st.Message != "server answered 401" {
		t.Errorf("permanent error: %+v, %v", st, wait)
	}
}

func TestFollowUpBacksOffOnTransientErrors(t *testing.T) {
	p := FollowUpPolicy{Interval: 30 * time.Minute, Deadline: 24 * time.Hour, RetryBase: time.Minute}
	st := p.Start(t0)
	now := t0
	fail := ReportPoll{Err: errors.New("server answered 503"), Transient: true}
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 30 * time.Minute, 30 * time.Minute} {
		var wait time.Duration
		st, wait = p.Next(st, fail, now)
		if st.State != ReportPending || wait != want || st.ConsecutiveErrors != i+1 || st.Message != "server answered 503" {
			t.Fatalf("failure %d: %+v, wait %v, want %v", i+1, st, wait, want)
		}
		now = now.Add(wait)
	}
	// An answer resets the backoff.
	st, wait := p.Next(st, ReportPoll{NotReady: true}, now)
	if wait != 30*time.Minute || st.ConsecutiveErrors != 0 {
		t.Errorf("after an answer: %+v, %v", st, wait)
	}
	st, wait = p.Next(st, fail, now)
	if wait != time.Minute {
		t.Errorf("first failure after an answer: wait %v, want a minute", wait)
	}
	// The server's Retry-After is honoured when longer.
	_, wait = p.Next(st, ReportPoll{Err: errors.New("429"), Transient: true, RetryAfter: 10 * time.Minute}, now)
	if wait != 10*time.Minute {
		t.Errorf("Retry-After 10m: wait %v", wait)
	}
}

func TestFollowUpTimesOut(t *testing.T) {
	p := FollowUpPolicy{Interval: 30 * time.Minute, Deadline: 45 * time.Minute}
	st := p.Start(t0)
	st, wait := p.Next(st, ReportPoll{NotReady: true}, t0)
	if wait != 30*time.Minute {
		t.Fatalf("first wait %v", wait)
	}
	// The next request would fall after the deadline: it is made at it.
	st, wait = p.Next(st, ReportPoll{NotReady: true}, t0.Add(30*time.Minute))
	if st.State != ReportPending || wait != 15*time.Minute {
		t.Fatalf("second: %+v, wait %v; want a last try at the deadline", st, wait)
	}
	st, wait = p.Next(st, ReportPoll{NotReady: true}, t0.Add(45*time.Minute))
	if st.State != ReportTimedOut || wait != 0 || st.Tries != 3 || st.NextTryAt != nil {
		t.Errorf("at the deadline: %+v, wait %v; want timed_out", st, wait)
	}
	// A report arriving at the deadline still counts.
	late := p.Start(t0)
	late, _ = p.Next(late, ReportPoll{Report: &Report{}}, t0.Add(time.Hour))
	if late.State != ReportReady {
		t.Errorf("a report after the deadline: %s, want ready", late.State)
	}
	// A status without a deadline (made before Start existed) gets one.
	st, wait = p.Next(ReportStatus{State: ReportPending}, ReportPoll{NotReady: true}, t0)
	if st.Deadline == nil || !st.Deadline.Equal(t0.Add(45*time.Minute)) || wait != 30*time.Minute {
		t.Errorf("no deadline: %+v, %v", st, wait)
	}
}
