package queue

import (
	"slices"
	"testing"

	"github.com/riverqueue/river/rivertype"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// TestStatusOfJobState: every River job state has its statuses, every
// status is reachable, and a state's statuses are all final or all not, so
// that the derived lists agree with each other.
func TestStatusOfJobState(t *testing.T) {
	seen := map[scan.Status]bool{}
	for _, state := range rivertype.JobStates() {
		sts, ok := statusOfJobState[state]
		if !ok || len(sts) == 0 {
			t.Errorf("job state %q has no scan status", state)
			continue
		}
		for _, s := range sts {
			if !s.Valid() {
				t.Errorf("job state %q maps to unknown status %q", state, s)
			}
			if s.Final() != sts[0].Final() {
				t.Errorf("job state %q maps to final and active statuses: %v", state, sts)
			}
			seen[s] = true
		}
	}
	for _, s := range scan.Statuses {
		if !seen[s] {
			t.Errorf("status %q belongs to no job state", s)
		}
	}
}

func TestDerivedLists(t *testing.T) {
	for _, tt := range []struct{ name, got, want string }{
		{"active statuses", activeStatuses, "('queued', 'running', 'retrying')"},
		{"final statuses", finalStatuses, "('succeeded', 'failed', 'canceled')"},
		{"cancelable statuses", cancelableStatuses, "('queued', 'retrying')"},
		{"live job states", liveJobStates, "('available', 'pending', 'retryable', 'running', 'scheduled')"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	if !slices.Contains(rivertype.JobStates(), rivertype.JobStateRunning) {
		t.Error("rivertype.JobStates lacks running")
	}
}
