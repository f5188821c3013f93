package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// FuzzReadSubmitBody feeds the submit decoder any content type and body.
// Whatever comes in, it answers either a body or an error with a code the
// API knows (never an internal one: bad input is the client's), in a
// message of bounded size; a JSON body it accepts survives a round trip
// (what it decoded is exactly what the client sent, no field dropped or
// altered); a text/plain body is taken verbatim.
func FuzzReadSubmitBody(f *testing.F) {
	for _, seed := range []struct{ ct, body string }{
		{"application/json", `{"image":"nginx:1.2","scan_type":"register","server":"http://a","source":"daemon"}`},
		{"application/json; charset=utf-8", `{"image":"nginx","callback_url":"http://cb"}`},
		{"application/json", `{"image":"nginx","extra":1}`},
		{"application/json", `{"image":"nginx"} {"image":"x"}`},
		{"application/json", `{"image":"\u0000\ud800"}`},
		{"application/json", `[1]`},
		{"text/plain", "nginx:latest\n"},
		{"application/x-www-form-urlencoded", "image=nginx&scan_type=register"},
		{"application/x-www-form-urlencoded", "nginx%3A1.2"},
		{"application/x-www-form-urlencoded", "image=a&image=b"},
		{"application/x-www-form-urlencoded", "%zz"},
		{"multipart/form-data; boundary=x", "--x--"},
		{"", "nginx"},
		{"application/json; charset=\"", "{}"},
	} {
		f.Add(seed.ct, []byte(seed.body))
	}
	const limit = 4 << 10
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/scan", bytes.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		b, err := readSubmitBody(httptest.NewRecorder(), r, limit)
		if err != nil {
			code := scan.ErrorCode(err)
			if _, known := statusOf[code]; !known || code == scan.EInternal {
				t.Fatalf("error code %q for %q %q: %v", code, contentType, body, err)
			}
			if msg := scan.ErrorMessage(err); len(msg) > 1024 {
				t.Fatalf("a %d-byte error message", len(msg))
			}
			return
		}
		if len(body) > limit {
			t.Fatalf("a %d-byte body over the %d limit was accepted", len(body), limit)
		}
		media := strings.ToLower(strings.TrimSpace(strings.SplitN(contentType, ";", 2)[0]))
		switch media {
		case contentJSON:
			again, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			back, err := decode[submitBody](bytes.NewReader(again))
			if err != nil || back != b {
				t.Fatalf("decoded %+v does not survive a round trip: %+v, %v", b, back, err)
			}
			// Every field the client sent was decoded: a decoder that
			// dropped one would make this map larger than b's.
			var sent map[string]any
			if json.Unmarshal(body, &sent) == nil {
				var got map[string]any
				_ = json.Unmarshal(again, &got)
				for k := range sent {
					if _, ok := got[k]; !ok {
						t.Fatalf("field %q was accepted but not decoded", k)
					}
				}
			}
		case contentText:
			if b != (submitBody{Image: string(body)}) {
				t.Fatalf("text/plain %q decoded as %+v", body, b)
			}
		}
	})
}

// encoding/json matches member names regardless of case; the API's
// contract does not: "IMAGE" is an unknown field, not the image.
func TestDecodeRefusesMembersDifferingInCase(t *testing.T) {
	for _, body := range []string{`{"IMAGE":"nginx"}`, `{"image":"nginx","Scan_Type":"register"}`} {
		_, err := decode[submitBody](strings.NewReader(body))
		if scan.ErrorCode(err) != EUnknownField {
			t.Errorf("%s: %v, want %s", body, err, EUnknownField)
		}
	}
	if b, err := decode[submitBody](strings.NewReader(`{"image":"nginx","scan_type":"register"}`)); err != nil || b.Image != "nginx" {
		t.Errorf("exact names: %+v, %v", b, err)
	}
}
