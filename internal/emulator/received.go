package emulator

import (
	"net/http"
	"time"
)

// Auth names the credentials a request presented. It never holds their value.
type Auth string

// The credentials a request can present.
const (
	AuthNone       Auth = "none"
	AuthBearer     Auth = "bearer" // Authorization: Bearer <token>
	AuthThreeScale Auth = "3scale" // x-3scale-account-secret: <secret>
)

// Registration is the body of a register request. It repeats
// the analytics client's wire body on purpose: written from the server's contract, not
// imported from the client, it catches a wrong JSON tag in the client.
type Registration struct {
	GitURL   string `json:"git-url"`
	GitSHA   string `json:"git-sha"`
	EmailIDs string `json:"email-ids"`
}

// ErrorReport is the body of a scanner-error request (kept apart from
// the client's body for the same reason).
type ErrorReport struct {
	ImageName string   `json:"image-name"`
	EmailIDs  string   `json:"email-ids"`
	Errors    []string `json:"error"`
}

// Request is one logged request: a register or scanner-error request that
// got past authentication, the content-type check and JSON decoding, so that
// its body is known, or a report request that got past authentication.
// Exactly one of Registration, ErrorReport and Report is set.
type Request struct {
	Time         time.Time     `json:"time"`
	Path         string        `json:"path"`
	Auth         Auth          `json:"auth"`
	Status       int           `json:"status"`
	Registration *Registration `json:"registration,omitempty"`
	ErrorReport  *ErrorReport  `json:"error_report,omitempty"`
	Report       *ReportQuery  `json:"report,omitempty"`
	// Method, Header and Body are the request as it came, for tests that
	// check what a client sends to the letter (a whole header, no extra
	// body field). They stay out of GET /received: the header holds the
	// credentials.
	Method string      `json:"-"`
	Header http.Header `json:"-"`
	Body   []byte      `json:"-"`
}

// requestLog keeps the last limit requests in a ring, so that a long-running
// emulator holds bounded memory however much traffic it sees.
type requestLog struct {
	limit   int
	entries []Request
	oldest  int // index of the oldest entry once entries is full
	dropped int // how many entries were overwritten since the last clear
}

func (l *requestLog) add(req Request) {
	if len(l.entries) < l.limit {
		l.entries = append(l.entries, req)
		return
	}
	l.entries[l.oldest] = req
	l.oldest = (l.oldest + 1) % l.limit
	l.dropped++
}

// all returns a copy of the entries, oldest first.
func (l *requestLog) all() []Request {
	out := make([]Request, 0, len(l.entries))
	out = append(out, l.entries[l.oldest:]...)
	return append(out, l.entries[:l.oldest]...)
}

func (l *requestLog) clear() {
	*l = requestLog{limit: l.limit}
}
