package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// encode answers v as JSON with status. Encoding into a buffer first means a
// value that cannot be encoded becomes a 500, not a truncated 200.
func encode[T any](w http.ResponseWriter, status int, v T) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal","message":"` + internalMessage + `"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// decode reads one JSON object from body into a T, refusing unknown fields
// and trailing data, and turns every failure into an error with the code a
// client can act on.
func decode[T any](body io.Reader) (T, error) {
	var v T
	raw, err := io.ReadAll(body)
	if err != nil {
		return v, bodyError(err)
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return v, scan.Errorf(EMalformedJSON, "the request body is empty; want a JSON object")
	}
	if trimmed[0] != '{' {
		return v, scan.Errorf(EMalformedJSON, "the request body is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, jsonError(err)
	}
	if dec.More() {
		return v, scan.Errorf(EMalformedJSON, "the request body holds more than one JSON value")
	}
	if err := exactFields[T](trimmed); err != nil {
		return v, err
	}
	return v, nil
}

// exactFields refuses a member whose name matches a field of T only when
// case is ignored: encoding/json accepts "IMAGE" for "image", which the
// contract (additionalProperties: false) does not.
func exactFields[T any](object []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(object, &members); err != nil {
		return nil // not an object of members: Decode has judged it
	}
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		return nil
	}
	names := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names[name] = true
	}
	for name := range members {
		if !names[name] {
			return scan.Errorf(EUnknownField, "unknown field %s", quote(name))
		}
	}
	return nil
}

// bodyError classifies an error reading a request body.
func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return scan.Errorf(EPayloadTooLarge, "the request body is over %d bytes", tooLarge.Limit)
	}
	if isTimeout(err) {
		return scan.Errorf(ERequestTimeout, "the request body did not arrive in time")
	}
	return scan.Errorf(scan.EInvalid, "reading the request body: %v", err)
}

// jsonError turns encoding/json's errors into coded ones. The decoder has
// no error type for unknown fields, only its message.
func jsonError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return scan.Errorf(EMalformedJSON, "malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return scan.Errorf(EMalformedJSON, "malformed JSON: the body ends too early")
	case errors.As(err, &typ):
		return scan.Errorf(scan.EInvalid, "field %q must be a %s, not a JSON %s", typ.Field, typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return scan.Errorf(EUnknownField, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return scan.Errorf(EMalformedJSON, "malformed JSON: %v", err)
}

// quote shows a user's value in a message, cut short: values come from
// request bodies and must not turn a message into a megabyte.
func quote(s string) string {
	const maxShown = 200
	if len(s) > maxShown {
		s = strings.ToValidUTF8(s[:maxShown], "") + "…"
	}
	return fmt.Sprintf("%q", s)
}
