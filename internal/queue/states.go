package queue

import (
	"strings"

	"github.com/riverqueue/river/rivertype"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// statusOfJobState is the one map between a scan's job and its record: the
// status a record has while its River job is in a state. A completed job's
// record is succeeded or failed, as its result says (the worker writes both
// in one transaction); every other state has one status. The SQL lists
// below are derived from it, so that scans.status and river_job.state
// cannot drift apart through a hand-kept list.
var statusOfJobState = map[rivertype.JobState][]scan.Status{
	rivertype.JobStateAvailable: {scan.StatusQueued},
	rivertype.JobStatePending:   {scan.StatusQueued},
	rivertype.JobStateScheduled: {scan.StatusQueued, scan.StatusRetrying},
	rivertype.JobStateRunning:   {scan.StatusRunning},
	rivertype.JobStateRetryable: {scan.StatusRetrying},
	rivertype.JobStateCompleted: {scan.StatusSucceeded, scan.StatusFailed},
	rivertype.JobStateCancelled: {scan.StatusCanceled},
	rivertype.JobStateDiscarded: {scan.StatusFailed},
}

// SQL lists of statuses and states, for "status IN ..." conditions.
var (
	// activeStatuses are the statuses that are not final.
	activeStatuses = sqlList(statuses(func(s scan.Status) bool { return !s.Final() }))
	// finalStatuses are the statuses a record keeps for good.
	finalStatuses = sqlList(statuses(scan.Status.Final))
	// cancelableStatuses are the active statuses whose job is not running.
	cancelableStatuses = sqlList(statuses(func(s scan.Status) bool { return !s.Final() && s != scan.StatusRunning }))
	// liveJobStates are the job states of an active record: a record
	// active with its job in none of them was given up on by the queue.
	liveJobStates = sqlList(jobStates(func(st []scan.Status) bool { return !st[0].Final() }))
)

func statuses(keep func(scan.Status) bool) []string {
	var out []string
	for _, s := range scan.Statuses {
		if keep(s) {
			out = append(out, string(s))
		}
	}
	return out
}

func jobStates(keep func([]scan.Status) bool) []string {
	var out []string
	for _, state := range rivertype.JobStates() {
		if keep(statusOfJobState[state]) {
			out = append(out, string(state))
		}
	}
	return out
}

// sqlList renders values as an SQL list: ('a', 'b'). The values are this
// package's constants, never user input.
func sqlList(values []string) string {
	return "('" + strings.Join(values, "', '") + "')"
}
