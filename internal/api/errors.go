package api

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Error codes the API adds to the service's (scan.EInvalid, scan.ENotFound,
// scan.EConflict, scan.EQueueFull, scan.EUnavailable, scan.EInternal). API
// errors are *scan.Error values too, so that one function answers them all.
const (
	EMalformedJSON        = "malformed_json"
	EUnknownField         = "unknown_field"
	EInvalidReference     = "invalid_reference"
	EUnsupportedScanType  = "unsupported_scan_type"
	EServerNotAllowed     = "server_not_allowed"
	ECallbackNotAllowed   = "callback_not_allowed"
	EUnauthorized         = "unauthorized"
	EMethodNotAllowed     = "method_not_allowed"
	EPayloadTooLarge      = "payload_too_large"
	EUnsupportedMediaType = "unsupported_media_type"
	ESourceNotEnabled     = "source_not_enabled"
	EHooksDisabled        = "hooks_disabled"
	ERequestTimeout       = "request_timeout"
	EHeaderTooLarge       = "header_too_large"
)

// statusOf maps every error code to its HTTP status: the one place where
// that is decided. openapi.yaml's ErrorBody.code lists the same codes, and a
// test keeps the two equal.
var statusOf = map[string]int{
	scan.EInvalid:         http.StatusBadRequest,
	EMalformedJSON:        http.StatusBadRequest,
	EUnknownField:         http.StatusBadRequest,
	EInvalidReference:     http.StatusBadRequest,
	EUnsupportedScanType:  http.StatusBadRequest,
	ESourceNotEnabled:     http.StatusBadRequest,
	EHooksDisabled:        http.StatusNotFound, // as if the endpoint were not there
	EUnauthorized:         http.StatusUnauthorized,
	EServerNotAllowed:     http.StatusForbidden, // well-formed, but refused by policy
	ECallbackNotAllowed:   http.StatusForbidden,
	scan.ENotFound:        http.StatusNotFound,
	EMethodNotAllowed:     http.StatusMethodNotAllowed,
	scan.EConflict:        http.StatusConflict,
	EPayloadTooLarge:      http.StatusRequestEntityTooLarge,
	EUnsupportedMediaType: http.StatusUnsupportedMediaType,
	ERequestTimeout:       http.StatusRequestTimeout,
	EHeaderTooLarge:       http.StatusRequestHeaderFieldsTooLarge,
	scan.EQueueFull:       http.StatusTooManyRequests,
	scan.EInternal:        http.StatusInternalServerError,
	scan.EUnavailable:     http.StatusServiceUnavailable,
}

// ErrorCodes lists every code the API answers with, sorted.
func ErrorCodes() []string {
	codes := make([]string, 0, len(statusOf))
	for c := range statusOf {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}

// ErrorStatus returns the HTTP status of an error code; unknown codes are
// internal errors.
func ErrorStatus(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// internalMessage is all a user learns of an internal error.
const internalMessage = "internal error"

// errorBody is the "error" member of every error answer.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type errorResponse struct {
	Error errorBody `json:"error"`
}

// writeError answers err in the API's error shape. Errors without a known
// code are internal: the user gets a generic message and the log gets the
// details, under the request's id.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := scan.ErrorCode(err), scan.ErrorMessage(err)
	if _, known := statusOf[code]; !known || code == scan.EInternal {
		zerolog.Ctx(r.Context()).Error().Err(err).Str("code", code).Msg("internal error")
		code, msg = scan.EInternal, internalMessage
	}
	switch code {
	case EUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="analytics-scanner"`)
	case scan.EQueueFull, scan.EUnavailable:
		w.Header().Set("Retry-After", retryAfter(s.cfg.BusyRetryAfter))
	}
	encode(w, ErrorStatus(code), errorResponse{Error: errorBody{Code: code, Message: msg}})
}

// retryAfter formats d as Retry-After seconds, rounded up and at least 1.
func retryAfter(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}
