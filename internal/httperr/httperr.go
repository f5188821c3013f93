// Package httperr shapes the errors of outbound HTTP requests for messages
// that are logged, stored and shown to users.
package httperr

import (
	"errors"
	"fmt"
	"net/url"
)

// Transport strips the *url.Error wrapper, whose text repeats the request URL
// (with its query, and possibly userinfo) that the caller already names in a
// redacted form, and says "no answer in time" for a timeout.
func Transport(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("no answer in time: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}
