package notify

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds a receiver's check any timestamp, signature and body.
// It never panics, answers only its documented errors, and accepts a
// delivery only when the signature is one Sign makes for that body and
// time (a forgery would need the secret).
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	secret := []byte("fuzz-secret")
	good := Sign(secret, now, []byte(`{"id":"x"}`))
	f.Add(strconv.FormatInt(now.Unix(), 10), good, []byte(`{"id":"x"}`))
	f.Add(strconv.FormatInt(now.Unix(), 10), "sha256=00,"+good, []byte(`{"id":"x"}`))
	f.Add("1700000000 ", " sha256=zz", []byte{})
	f.Add("-1", "sha256=", []byte("a"))
	f.Add("99999999999999", good, []byte(`{"id":"x"}`))
	f.Add("", "", []byte(nil))
	f.Fuzz(func(t *testing.T, timestamp, signature string, body []byte) {
		err := Verify(secret, timestamp, signature, body, now, time.Minute)
		if err != nil {
			if !errors.Is(err, ErrNoSignature) && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrStale) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		// Verify trims white space; so does the oracle.
		unix, perr := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
		if perr != nil {
			t.Fatalf("accepted the unreadable timestamp %q", timestamp)
		}
		if Verify(secret, strconv.FormatInt(unix, 10), Sign(secret, time.Unix(unix, 0), body), body, now, time.Minute) != nil {
			t.Fatalf("Sign's own signature is refused")
		}
		if Verify([]byte("another-secret"), timestamp, signature, body, now, time.Minute) == nil {
			t.Fatalf("signature %q verifies under two secrets", signature)
		}
	})
}
