package scan

import (
	"time"
)

// The follow-up's defaults, as the original pipeline polled: every 30
// minutes for up to a day.
const (
	DefaultReportInterval = 30 * time.Minute
	DefaultReportDeadline = 24 * time.Hour
)

// ReportPoll is the outcome of one report request, as the follow-up needs
// it; whoever asks the server fills exactly one case.
type ReportPoll struct {
	// Report is set when the server answered with the report.
	Report *Report
	// NotReady: the server has no report yet.
	NotReady bool
	// LockFileAbsent: the repository has no lock file; there will be no
	// report.
	LockFileAbsent bool
	// Message is the server's text (not ready, lock file absent).
	Message string
	// Err is a failed request; Transient says whether asking again may
	// help, RetryAfter what the server asked for.
	Err        error
	Transient  bool
	RetryAfter time.Duration
}

// FollowUpPolicy decides when to ask for a report again and when to give up.
type FollowUpPolicy struct {
	// Interval between requests while the report is not ready; zero means
	// DefaultReportInterval.
	Interval time.Duration
	// Deadline after the follow-up's start at which it gives up (state
	// timed_out); zero means DefaultReportDeadline.
	Deadline time.Duration
	// RetryBase is the wait after a first transient failure, doubling with
	// each further one up to Interval: a server in trouble is asked again
	// sooner than a slow one, without being hammered. Zero means a minute.
	RetryBase time.Duration
}

func (p FollowUpPolicy) withDefaults() FollowUpPolicy {
	if p.Interval <= 0 {
		p.Interval = DefaultReportInterval
	}
	if p.Deadline <= 0 {
		p.Deadline = DefaultReportDeadline
	}
	if p.RetryBase <= 0 {
		p.RetryBase = time.Minute
	}
	return p
}

// Start is the report part of a registration just made at now: pending,
// with the deadline set.
func (p FollowUpPolicy) Start(now time.Time) ReportStatus {
	p = p.withDefaults()
	deadline := now.Add(p.Deadline)
	return ReportStatus{State: ReportPending, Deadline: &deadline}
}

// Next applies poll, made at now, to st and returns the new status and, when
// it is still pending, how long to wait before the next request (the queue
// snoozes the job that long). A pending status past its deadline becomes
// timed_out; the last request is made at the deadline, not skipped.
func (p FollowUpPolicy) Next(st ReportStatus, poll ReportPoll, now time.Time) (ReportStatus, time.Duration) {
	p = p.withDefaults()
	if st.Deadline == nil {
		deadline := now.Add(p.Deadline)
		st.Deadline = &deadline
	}
	st.Tries++
	at := now
	st.LastTryAt, st.NextTryAt = &at, nil

	switch {
	case poll.Report != nil:
		summary := Summarize(*poll.Report)
		st.State, st.Summary, st.ScannedAt, st.Message, st.ConsecutiveErrors = ReportReady, &summary, poll.Report.ScannedAt, "", 0
		return st, 0
	case poll.LockFileAbsent:
		st.State, st.Message, st.ConsecutiveErrors = ReportLockFileAbsent, poll.Message, 0
		return st, 0
	case poll.Err != nil && !poll.Transient:
		st.State, st.Message = ReportFailed, poll.Err.Error()
		return st, 0
	}

	wait := p.Interval
	if poll.Err != nil {
		st.ConsecutiveErrors++
		st.Message = poll.Err.Error()
		wait = p.RetryBase
		for i := 1; i < st.ConsecutiveErrors && wait < p.Interval; i++ {
			wait *= 2
		}
		wait = max(min(wait, p.Interval), poll.RetryAfter)
	} else {
		st.ConsecutiveErrors = 0
		st.Message = poll.Message
	}
	remaining := st.Deadline.Sub(now)
	if remaining <= 0 {
		st.State = ReportTimedOut
		return st, 0
	}
	wait = min(wait, remaining)
	next := now.Add(wait)
	st.State, st.NextTryAt = ReportPending, &next
	return st, wait
}
