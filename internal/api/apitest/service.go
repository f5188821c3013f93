// Package apitest helps test the HTTP API: a scan.Service made of functions
// for unit tests, and a client that validates every request it sends and
// every response it gets against openapi.yaml, so that no test can pass
// with an exchange the contract does not describe.
package apitest

import (
	"context"
	"fmt"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Service is a scan.Service whose methods call its function fields. A call
// of a method whose field is nil panics (the API turns that into a 500), so
// a test notices calls it did not expect; Ping alone defaults to healthy.
type Service struct {
	SubmitFn     func(ctx context.Context, req scan.Request) (scan.Record, bool, error)
	GetFn        func(ctx context.Context, id string) (scan.Record, error)
	WaitFn       func(ctx context.Context, id string) (scan.Record, error)
	ListFn       func(ctx context.Context, f scan.Filter) (scan.Page, error)
	DeleteFn     func(ctx context.Context, id string) (scan.Record, bool, error)
	ReportFn     func(ctx context.Context, id string) (scan.Report, error)
	QueueDepthFn func(ctx context.Context) (int, error)
	PingFn       func(ctx context.Context) error
}

var _ scan.Service = (*Service)(nil)

func unexpected(method string) string {
	return fmt.Sprintf("apitest.Service: %s called but %sFn is nil", method, method)
}

func (s *Service) Submit(ctx context.Context, req scan.Request) (scan.Record, bool, error) {
	if s.SubmitFn == nil {
		panic(unexpected("Submit"))
	}
	return s.SubmitFn(ctx, req)
}

func (s *Service) Get(ctx context.Context, id string) (scan.Record, error) {
	if s.GetFn == nil {
		panic(unexpected("Get"))
	}
	return s.GetFn(ctx, id)
}

func (s *Service) Wait(ctx context.Context, id string) (scan.Record, error) {
	if s.WaitFn == nil {
		panic(unexpected("Wait"))
	}
	return s.WaitFn(ctx, id)
}

func (s *Service) List(ctx context.Context, f scan.Filter) (scan.Page, error) {
	if s.ListFn == nil {
		panic(unexpected("List"))
	}
	return s.ListFn(ctx, f)
}

func (s *Service) Delete(ctx context.Context, id string) (scan.Record, bool, error) {
	if s.DeleteFn == nil {
		panic(unexpected("Delete"))
	}
	return s.DeleteFn(ctx, id)
}

func (s *Service) Report(ctx context.Context, id string) (scan.Report, error) {
	if s.ReportFn == nil {
		panic(unexpected("Report"))
	}
	return s.ReportFn(ctx, id)
}

func (s *Service) QueueDepth(ctx context.Context) (int, error) {
	if s.QueueDepthFn == nil {
		panic(unexpected("QueueDepth"))
	}
	return s.QueueDepthFn(ctx)
}

func (s *Service) Ping(ctx context.Context) error {
	if s.PingFn == nil {
		return nil
	}
	return s.PingFn(ctx)
}
