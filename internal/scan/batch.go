package scan

import "context"

// Submission is the outcome of one request of a batch.
type Submission struct {
	Record Record
	// Created is true when the request queued a new scan, false when an
	// earlier scan of the same image stands for it (Record is that one).
	Created bool
}

// BatchSubmitter queues the scans of one registry notification together.
type BatchSubmitter interface {
	// SubmitMany queues every request in one transaction: all are queued
	// or none is. A request whose image, type, server and source already
	// have a scan that is in flight or final (not canceled) is not queued
	// again: it names an immutable digest, whose scan's outcome stands, and
	// a registry that delivers a notification twice must change nothing.
	// The submissions are in the order of reqs.
	SubmitMany(ctx context.Context, reqs []Request) ([]Submission, error)
}
