package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// The chart covers the last day in hourly bars, drawn by the server as
// inline SVG: no script, no library, and it works under the page's CSP.
const (
	chartHours = 24
	// chartMaxPages bounds the records read for the chart (pages of
	// chartPageSize), so a busy day cannot make every list page slow; the
	// chart says when it was cut short.
	chartMaxPages = 20
	chartPageSize = 100
	chartBarWidth = 20
	chartHeight   = 100
)

// chartOutcomes are the stacked parts of a bar, bottom up.
var chartOutcomes = []string{"succeeded", "failed", "canceled", "pending"}

type chartBar struct {
	X     int
	Label string // the hour in UTC, and its counts
	Parts []chartPart
}

type chartPart struct {
	Outcome string
	Y, H    int
}

type chart struct {
	Bars   []chartBar
	Max    int
	Totals map[string]int
	Total  int
	// Partial is set when the day held more scans than the chart reads.
	Partial bool
	Width   int
	Height  int
	// Unavailable is set when the records could not be read.
	Unavailable bool
}

// outcome groups a status for the chart: unfinished scans are "pending".
func outcome(st scan.Status) string {
	switch st {
	case scan.StatusSucceeded, scan.StatusFailed, scan.StatusCanceled:
		return string(st)
	}
	return "pending"
}

// buildChart counts the scans created in each of the last 24 hours, by
// outcome.
func (h *handler) buildChart(ctx context.Context, now time.Time) chart {
	end := now.UTC().Truncate(time.Hour).Add(time.Hour)
	start := end.Add(-chartHours * time.Hour)
	counts := make([]map[string]int, chartHours)
	for i := range counts {
		counts[i] = map[string]int{}
	}
	c := chart{Totals: map[string]int{}, Width: chartHours * chartBarWidth, Height: chartHeight}
	cursor := ""
	for page := 0; ; page++ {
		if page == chartMaxPages {
			c.Partial = true
			break
		}
		p, err := h.svc.List(ctx, scan.Filter{Limit: chartPageSize, Cursor: cursor})
		if err != nil {
			h.logger(ctx).Warn().Err(err).Msg("ui: chart: list")
			return chart{Unavailable: true}
		}
		older := false
		for _, rec := range p.Scans {
			if rec.CreatedAt.Before(start) {
				older = true // newest first: the rest are older still
				break
			}
			i := int(rec.CreatedAt.UTC().Sub(start) / time.Hour)
			if i >= chartHours {
				i = chartHours - 1 // a clock a little ahead of ours
			}
			o := outcome(rec.Status)
			counts[i][o]++
			c.Totals[o]++
			c.Total++
		}
		if older || p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	for _, m := range counts {
		sum := 0
		for _, n := range m {
			sum += n
		}
		c.Max = max(c.Max, sum)
	}
	for i, m := range counts {
		hour := start.Add(time.Duration(i) * time.Hour)
		bar := chartBar{X: i * chartBarWidth}
		var words []string
		y := chartHeight
		for _, o := range chartOutcomes {
			n := m[o]
			if n == 0 {
				continue
			}
			words = append(words, fmt.Sprintf("%d %s", n, o))
			hgt := n * chartHeight / c.Max
			if hgt < 1 {
				hgt = 1
			}
			y -= hgt
			bar.Parts = append(bar.Parts, chartPart{Outcome: o, Y: y, H: hgt})
		}
		if len(words) == 0 {
			words = []string{"no scans"}
		}
		bar.Label = fmt.Sprintf("%s–%s UTC: %s", hour.Format("15:04"), hour.Add(time.Hour).Format("15:04"), strings.Join(words, ", "))
		c.Bars = append(c.Bars, bar)
	}
	return c
}
