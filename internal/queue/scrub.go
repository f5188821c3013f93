package queue

import (
	"encoding/json"
	"strings"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// encodeResult is the one place where a scan's result becomes the text
// stored in its record (result and last_error), scrubbed of every
// configured secret: records are served by the API and kept in the database
// file, and an analytics server's answer quoted in them may repeat a
// credential.
func (s *Store) encodeResult(result scan.Result) (doc, lastError string, err error) {
	raw, err := json.Marshal(result)
	if err != nil {
		return "", "", err
	}
	if !result.Successful {
		lastError = strings.Join(result.Errors, "; ")
	}
	return string(s.cfg.Scrub.Bytes(raw)), s.cfg.Scrub.String(lastError), nil
}

// scrubError is err as it may be stored (the record's last_error, River's
// own list of a job's errors) or logged: its text without secrets, its kind
// unchanged.
func (s *Store) scrubError(err error) error { return s.cfg.Scrub.Error(err) }
