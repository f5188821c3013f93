package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkSubmitDecodeAndValidate is the accept path's own work before the
// store: reading a JSON POST /scan body and checking it (reference syntax,
// scan type, server, source). The store's transaction is measured apart
// (internal/queue BenchmarkSubmit).
func BenchmarkSubmitDecodeAndValidate(b *testing.B) {
	s := &server{cfg: withDefaults(Config{})}
	const body = `{"image":"registry.example.com/team/app:1.2.3","scan_type":"register"}`
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/scan", strings.NewReader(body))
		r.Header.Set("Content-Type", contentJSON)
		sb, err := readSubmitBody(w, r, s.cfg.MaxBodyBytes)
		if err != nil {
			b.Fatal(err)
		}
		req, err := s.validate(sb)
		if err != nil || req.Image != "registry.example.com/team/app:1.2.3" {
			b.Fatalf("validate: %+v, %v", req, err)
		}
	}
}
