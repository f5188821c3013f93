package redact

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"testing"
)

func TestScrubberReplacesEveryDisguise(t *testing.T) {
	const secret = "s3cr3t/t0ken+with=odd&chars\""
	r := New(secret, "", "ab")
	cases := map[string]string{
		"raw":          "Authorization: Bearer " + secret,
		"query":        "https://x/?token=" + url.QueryEscape(secret),
		"path":         "/tokens/" + url.PathEscape(secret),
		"json":         `{"auth":"Bearer s3cr3t/t0ken+with=odd&chars\""}`,
		"base64":       "Basic " + base64.StdEncoding.EncodeToString([]byte(secret)),
		"base64url":    base64.RawURLEncoding.EncodeToString([]byte(secret)),
		"twice":        secret + " and " + secret,
		"json-escaped": strings.ReplaceAll(fmt.Sprintf("%q", secret), `\"`, `\"`),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			out := r.String(in)
			if r.Contains(out) {
				t.Fatalf("String(%q) = %q: still holds the secret", in, out)
			}
			if strings.Contains(out, "t0ken") {
				t.Fatalf("String(%q) = %q: part of the secret left", in, out)
			}
			if !strings.Contains(out, Mask) {
				t.Fatalf("String(%q) = %q: no mask", in, out)
			}
		})
	}
}

func TestScrubberLeavesOtherTextAlone(t *testing.T) {
	r := New("tok3n-value")
	for _, in := range []string{"", "no secrets here", "tok3n-valu", "TOK3N-VALUE"} {
		if got := r.String(in); got != in {
			t.Errorf("String(%q) = %q, want it unchanged", in, got)
		}
	}
}

func TestShortAndEmptySecretsAreIgnored(t *testing.T) {
	r := New("", "a", "abc")
	if !r.Empty() {
		t.Fatal("a Scrubber of only short secrets should be empty")
	}
	if got := r.String("abc abc"); got != "abc abc" {
		t.Fatalf("String = %q, want unchanged", got)
	}
	var nilScrubber *Scrubber
	if got := nilScrubber.String("x"); got != "x" || nilScrubber.Contains("x") || nilScrubber.Error(nil) != nil {
		t.Fatal("a nil Scrubber must scrub nothing")
	}
}

func TestLongerSecretIsMaskedWhole(t *testing.T) {
	r := New("abcd", "abcdefgh")
	if got := r.String("xabcdefghx"); got != "x"+Mask+"x" {
		t.Fatalf("String = %q, want the longer secret masked whole", got)
	}
}

func TestErrorKeepsItsKind(t *testing.T) {
	r := New("hunter22")
	base := fmt.Errorf("server said %q: %w", "Bearer hunter22", fs.ErrNotExist)
	err := r.Error(base)
	if strings.Contains(err.Error(), "hunter22") {
		t.Fatalf("Error() = %q, holds the secret", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("scrubbed error no longer unwraps to its cause")
	}
	plain := errors.New("nothing secret")
	if r.Error(plain) != plain {
		t.Fatal("an error without secret should be returned as is")
	}
}

func TestWriterScrubsEachWrite(t *testing.T) {
	var buf bytes.Buffer
	w := New("p4ssw0rd").Writer(&buf)
	line := []byte(`{"level":"error","error":"answer: Authorization: p4ssw0rd"}` + "\n")
	n, err := w.Write(line)
	if err != nil || n != len(line) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(line))
	}
	if strings.Contains(buf.String(), "p4ssw0rd") || !strings.Contains(buf.String(), Mask) {
		t.Fatalf("written %q", buf.String())
	}
	if New().Writer(&buf) != &buf {
		t.Fatal("an empty Scrubber should hand back the writer itself")
	}
}

func FuzzScrubberNeverLeaks(f *testing.F) {
	f.Add("secret-token", "prefix secret-token suffix")
	f.Add("a+b/c=d", "a%2Bb%2Fc%3Dd")
	f.Fuzz(func(t *testing.T, secret, text string) {
		if len(secret) < minSecretLen {
			return
		}
		out := New(secret).String(text)
		// A secret that overlaps the mask's own letters can reappear
		// around it ("D]ab" from "[REDACTED]ab"); that reveals nothing,
		// so the masks are blanked before looking, with a byte the secret
		// does not hold (a blank of "\x00" made "\x00000" of
		// "[REDACTED]000").
		blank := ""
		for b := range 256 {
			if strings.IndexByte(secret, byte(b)) < 0 {
				blank = string([]byte{byte(b)})
				break
			}
		}
		if blank == "" {
			return // the secret holds every byte: no blank to judge by
		}
		if strings.Contains(strings.ReplaceAll(out, Mask, blank), secret) {
			t.Fatalf("String(%q) with secret %q = %q: the secret survives", text, secret, out)
		}
	})
}
