package httperr

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestTransportDropsTheURL(t *testing.T) {
	inner := errors.New("connection refused")
	err := Transport(&url.Error{Op: "Post", URL: "http://user:pw@host/x?token=secret", Err: inner})
	if err != inner {
		t.Fatalf("Transport = %v, want the inner error alone", err)
	}
	err = Transport(&url.Error{Op: "Post", URL: "http://host/x?token=secret", Err: timeoutErr{}})
	if !strings.HasPrefix(err.Error(), "no answer in time") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Transport of a timeout = %q", err)
	}
	if !errors.Is(Transport(context.Canceled), context.Canceled) {
		t.Fatal("an error that is not a *url.Error should pass through")
	}
}
