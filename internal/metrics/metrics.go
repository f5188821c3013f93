// Package metrics defines the service's Prometheus metrics in one place, so
// that their names, labels and buckets are reviewed together.
package metrics

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the service's instruments. The zero value is not usable; use
// New. RegisterQueueDepth and InstrumentTransport are safe on a nil
// *Metrics, so that packages can be used without metrics (the one-shot
// scanner, unit tests); Handler is not: a nil *Metrics has nothing to serve.
type Metrics struct {
	Registry *prometheus.Registry

	// ScansTotal counts final scans by outcome: succeeded, failed, canceled.
	ScansTotal *prometheus.CounterVec
	// ScanDuration observes each scan attempt, by result: ok, retry, final_error.
	ScanDuration *prometheus.HistogramVec
	// Retries counts attempts that failed transiently and were requeued.
	Retries prometheus.Counter
	// ErrorReports counts the error reports of failed scans by outcome:
	// delivered, or failed (given up).
	ErrorReports *prometheus.CounterVec
	// AnalyticsRequestDuration observes requests to the analytics server.
	AnalyticsRequestDuration *prometheus.HistogramVec
	// HTTPRequestDuration observes the API's own requests by route pattern.
	HTTPRequestDuration *prometheus.HistogramVec
	// ReportCVEs counts the CVEs of the reports that became ready, by
	// severity: each commit's report counts once.
	ReportCVEs *prometheus.CounterVec

	hookOnce   sync.Once
	hookEvents *prometheus.CounterVec
}

// New creates the metrics on a fresh registry that also carries the Go and
// process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		ScansTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scanner_scans_total",
			Help: "Scans that reached a final status, by outcome.",
		}, []string{"outcome"}),
		ScanDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scanner_scan_attempt_duration_seconds",
			Help:    "Duration of scan attempts (inspect, label check, register), by result.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"result"}),
		Retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scanner_scan_retries_total",
			Help: "Scan attempts that failed transiently and were scheduled again.",
		}),
		ErrorReports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scanner_error_reports_total",
			Help: "Error reports of failed scans sent to the analytics server, by outcome: delivered, or failed (given up).",
		}, []string{"outcome"}),
		AnalyticsRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scanner_analytics_request_duration_seconds",
			Help:    "Duration of requests to the analytics server, by status code.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"code", "method"}),
		HTTPRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scanner_http_request_duration_seconds",
			Help:    "Duration of API requests, by route, method and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "code"}),
	}
	m.ReportCVEs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scanner_report_cves_total",
		Help: "CVEs of the analysis reports that became ready, by CVSS v3 severity; each commit's report counts once.",
	}, []string{"severity"})
	for _, severity := range []string{"critical", "high", "medium", "low", "none", "unknown"} {
		m.ReportCVEs.WithLabelValues(severity)
	}
	reg.MustRegister(m.ReportCVEs)
	for _, outcome := range []string{"succeeded", "failed", "canceled"} {
		m.ScansTotal.WithLabelValues(outcome) // export zeros from the start
	}
	for _, outcome := range []string{"delivered", "failed"} {
		m.ErrorReports.WithLabelValues(outcome)
	}
	reg.MustRegister(m.ScansTotal, m.ScanDuration, m.Retries, m.ErrorReports, m.AnalyticsRequestDuration, m.HTTPRequestDuration)
	return m
}

// RegisterQueueDepth exports the number of scans not yet final, read from
// depth at each scrape.
func (m *Metrics) RegisterQueueDepth(depth func() float64) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "scanner_queue_depth",
		Help: "Scans queued, running or waiting to retry.",
	}, depth))
}

// RegisterReportStates exports the number of reports in each state (pending,
// ready, timed_out...), read from count at each scrape; count returns nil
// when it cannot tell.
func (m *Metrics) RegisterReportStates(count func() map[string]int) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(&reportStates{
		desc:  prometheus.NewDesc("scanner_reports", "Reports followed, by state: pending, ready, lock_file_absent, timed_out, failed.", []string{"state"}, nil),
		count: count,
	})
}

type reportStates struct {
	desc  *prometheus.Desc
	count func() map[string]int
}

func (r *reportStates) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

func (r *reportStates) Collect(ch chan<- prometheus.Metric) {
	for state, n := range r.count() {
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.GaugeValue, float64(n), state)
	}
}

// InstrumentTransport wraps rt so that analytics requests are timed.
func (m *Metrics) InstrumentTransport(rt http.RoundTripper) http.RoundTripper {
	if m == nil {
		return rt
	}
	return promhttp.InstrumentRoundTripperDuration(m.AnalyticsRequestDuration, rt)
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Outcomes of registry notification events, the values of HookEvents'
// "outcome" label. Every event is received; each is then ignored (not a
// push of an image, or a repeat within its notification), enqueued (a new
// scan) or existing (its digest was already scanned or in flight).
const (
	HookReceived = "received"
	HookIgnored  = "ignored"
	HookEnqueued = "enqueued"
	HookExisting = "existing"
)

// HookEvents counts registry notification events by hook and outcome,
// created on first use so that services without hooks export none.
func (m *Metrics) HookEvents() *prometheus.CounterVec {
	if m == nil {
		return nil
	}
	m.hookOnce.Do(func() {
		m.hookEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scanner_hook_events_total",
			Help: "Registry notification events, by hook (distribution, harbor) and outcome (received, ignored, enqueued, existing).",
		}, []string{"hook", "outcome"})
		m.Registry.MustRegister(m.hookEvents)
	})
	return m.hookEvents
}
