package scan

import (
	"errors"
	"fmt"
)

// Error codes shared by the service and its HTTP API. The API maps each code
// to a status in one place; messages are meant for users.
const (
	EInvalid     = "invalid_request"
	ENotFound    = "not_found"
	EConflict    = "conflict"
	EQueueFull   = "queue_full"
	EUnavailable = "unavailable"
	EInternal    = "internal"
)

// Error is a service error with a machine-readable code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns err's code, EInternal for errors without one and ""
// for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message to show a user: an *Error's own message,
// and a generic one for internal errors, whose details belong in logs.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	}
	return "internal error"
}
