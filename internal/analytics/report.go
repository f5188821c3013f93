package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/centos-pipeline/analytics-scanner/internal/httperr"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// EndpointReport serves a repository's analysis report.
const EndpointReport = "report"

// maxReportBytes bounds a report body. Unlike the short answers bounded by
// maxResponseBytes, a report lists every dependency with its CVEs and
// licences: a large repository's runs to hundreds of kilobytes. The bound
// still keeps a broken server from making the scanner buffer without end.
const maxReportBytes = 8 << 20

// reportAnswer is the union of the report endpoint's bodies: the report
// itself, its lock-file-absent form and the {"status", "message"} failures.
type reportAnswer struct {
	Dependencies   json.RawMessage `json:"dependencies"`
	LockFileAbsent bool            `json:"lock_file_absent"`
	Status         string          `json:"status"`
	Message        string          `json:"message"`
	// Error is the real server's authentication failure text.
	Error string `json:"error"`
}

// FetchReport asks the server for the report of gitURL at gitSHA:
// GET SERVER/report?git-url=U&git-sha=S, with the client's credentials,
// deadline and redirect policy. Not-ready and lock-file-absent are answers,
// not errors. Errors are *Error: transient for 5xx, 429, 408, timeouts and
// connection errors; permanent for other 4xx and for a 200 that is not a
// report.
func (c *Client) FetchReport(ctx context.Context, gitURL, gitSHA string) (*scan.ReportAnswer, error) {
	u := c.endpoint(EndpointReport)
	q := u.Query()
	q.Set("git-url", gitURL)
	q.Set("git-sha", gitSHA)
	u.RawQuery = q.Encode()
	// The query holds only the labels, which are not secret; the error
	// still shows the endpoint without it, as for the other endpoints.
	fail := &Error{Endpoint: EndpointReport, URL: c.endpoint(EndpointReport).Redacted()}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		fail.Err = err
		return nil, fail
	}
	req.Header.Set("Accept", "application/json")
	c.setCredentials(req)

	resp, err := c.http.Do(req)
	if err != nil {
		fail.Err = httperr.Transport(err)
		fail.Retryable = !errors.Is(err, errRedirect)
		return nil, fail
	}
	defer resp.Body.Close()
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, maxReportBytes+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	// A report is kept in results too: no credential of ours goes with it.
	// The mask may be longer than a secret, so the size is judged first.
	tooLarge := len(raw) > maxReportBytes
	raw = c.scrub.Bytes(raw)

	fail.StatusCode = resp.StatusCode
	var a reportAnswer
	jsonErr := json.Unmarshal(raw, &a)
	isJSON := jsonErr == nil
	fail.Summary = summaryOf(answer{Message: a.Message, Error: a.Error}, raw, isJSON)
	message := fail.Summary

	switch status := resp.StatusCode; {
	case status == http.StatusOK:
		switch {
		case readErr != nil:
			// Cut off: the next try may get all of it.
			fail.Err, fail.Retryable = fmt.Errorf("its answer was cut off: %w", readErr), true
			return nil, fail
		case tooLarge:
			fail.Err = fmt.Errorf("its answer is larger than %d bytes", maxReportBytes)
			fail.Summary = ""
			return nil, fail
		case !isJSON || len(a.Dependencies) == 0 || a.Dependencies[0] != '[':
			// An HTML page from a proxy, or another endpoint's answer:
			// the server URL is wrong, and asking again will not help.
			fail.Err = errors.New("its answer is not a report (no JSON dependencies list)")
			if !isJSON {
				fail.Summary = ""
			}
			return nil, fail
		}
		report, err := scan.DecodeReport(raw)
		if err != nil {
			fail.Err = err
			return nil, fail
		}
		return &scan.ReportAnswer{State: scan.ReportReady, StatusCode: status, Report: &report}, nil
	case status == http.StatusBadRequest && isJSON && a.LockFileAbsent:
		return &scan.ReportAnswer{State: scan.ReportLockFileAbsent, StatusCode: status, Message: message}, nil
	case status == http.StatusNotFound && isJSON && (a.Status == "failure" || strings.HasPrefix(a.Message, "No report found")):
		// A 404 without the server's JSON is a wrong URL, not "not yet".
		return &scan.ReportAnswer{State: scan.ReportPending, StatusCode: status, Message: message}, nil
	case status == http.StatusTooManyRequests || status >= 500 || status == http.StatusRequestTimeout:
		fail.Retryable = true
		fail.Wait = parseRetryAfter(resp.Header.Get("Retry-After"))
	case status >= 200 && status < 300:
		// 201, 204...: not what the endpoint answers; treat as a wrong URL.
		fail.Err = errors.New("a report is answered with 200")
	}
	return nil, fail
}

// setCredentials adds the configured credentials and user agent. (Register
// and scanner-error set the same headers in post.)
func (c *Client) setCredentials(req *http.Request) {
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.threeScaleSecret != "" {
		req.Header.Set("x-3scale-account-secret", c.threeScaleSecret)
	}
}
