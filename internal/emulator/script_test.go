package emulator_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
)

func TestScriptAnswersInOrderThenTheServerAgain(t *testing.T) {
	emu, srv := newServer(t, emulator.Config{})
	emu.Script(emulator.EndpointRegister,
		emulator.Answer{Status: 503, Header: http.Header{"Retry-After": {"7"}}},
		emulator.Answer{Status: 200, Body: `{"success": false, "summary": "refused"}`})

	resp := registerResponse(t, srv, "/api/v1/register")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("first answer %d, Retry-After %q, Content-Type %q; want the scripted 503 with its header",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
	}
	if status, body := register(t, srv, repoURL, "46e443d"); status != 200 || body != `{"success": false, "summary": "refused"}` {
		t.Errorf("second answer %d %s, want the scripted body as is", status, body)
	}
	if status, body := register(t, srv, repoURL, "46e443d"); status != 200 || body != firstRegistered(repoURL, "46e443d") {
		t.Errorf("third answer %d %s, want the server's own: the script is used up", status, body)
	}

	reqs := emu.Requests()
	if len(reqs) != 3 || reqs[0].Status != 503 || reqs[1].Status != 200 || reqs[0].Path != "/api/v1/register" || reqs[0].Method != http.MethodPost {
		t.Fatalf("requests = %+v, want the three, with the scripted statuses", reqs)
	}
	if got := string(reqs[0].Body); got != registerBody(repoURL, "46e443d") {
		t.Errorf("raw body = %q, want the body as sent", got)
	}
	if got := reqs[0].Header.Values("Content-Type"); len(got) != 1 || got[0] != "application/json" {
		t.Errorf("raw Content-Type = %q", got)
	}
	// Only the unscripted registration registered anything.
	if regs := emu.Registrations(); len(regs) != 2 {
		t.Errorf("Registrations() = %+v, want the two answered 200", regs)
	}
	if total, _ := emu.Arrivals(); total != 3 {
		t.Errorf("arrivals = %d, want 3: scripted requests arrive too", total)
	}
}

func TestAlwaysAnswersUntilCancelled(t *testing.T) {
	emu, srv := newServer(t, emulator.Config{})
	emu.Always(emulator.EndpointScannerError, emulator.Answer{Status: 404, Body: `{"error": "not found"}`})
	emu.Script(emulator.EndpointScannerError, emulator.Answer{Status: 500})
	report := request{http.MethodPost, "/scanner-error", jsonHeaders(), `{"image-name": "i", "email-ids": "", "error": ["e"]}`}
	for i, want := range []int{500, 404, 404} {
		if status, _ := send(t, srv, report); status != want {
			t.Errorf("report %d answered %d, want %d (queue first, then the standing answer)", i+1, status, want)
		}
	}
	emu.Always(emulator.EndpointScannerError, emulator.Answer{})
	if status, _ := send(t, srv, report); status != 200 {
		t.Errorf("after cancelling: %d, want the server's 200", status)
	}
	if n := len(emu.ErrorReports()); n != 1 {
		t.Errorf("ErrorReports() = %d, want only the one answered 200", n)
	}
	if n := len(emu.Requests()); n != 4 {
		t.Errorf("Requests() = %d, want all 4 logged", n)
	}
}

func TestScriptedReportAndHeadersStayOutOfReceived(t *testing.T) {
	emu, srv := newServer(t, emulator.Config{Token: testToken})
	emu.Script(emulator.EndpointReport, emulator.Answer{Status: 200, Body: `{"partial": `})
	status, body := send(t, srv, request{http.MethodGet, "/api/v1/report?git-url=" + repoURL + "&git-sha=1",
		map[string]string{"Authorization": "Bearer " + testToken, "User-Agent": "probe/1"}, ""})
	if status != 200 || body != `{"partial": ` {
		t.Errorf("report answered %d %q, want the scripted malformed body", status, body)
	}
	reqs := emu.ReportRequests()
	if len(reqs) != 1 || reqs[0].Status != 200 || reqs[0].Header.Get("User-Agent") != "probe/1" {
		t.Fatalf("report requests = %+v", reqs)
	}
	send(t, srv, request{http.MethodPost, "/register", jsonHeaders("Authorization", "Bearer "+testToken), registerBody(repoURL, "1")})
	if reqs := emu.Requests(); len(reqs) != 1 || reqs[0].Header.Get("Authorization") != "Bearer "+testToken {
		t.Fatalf("requests = %+v, want the register request with its header", reqs)
	}
	if _, body := send(t, srv, request{method: http.MethodGet, path: "/received"}); strings.Contains(body, testToken) || strings.Contains(body, "probe/1") {
		t.Errorf("GET /received shows the raw headers: %s", body)
	}
}

func TestScriptedDelayIsAHangToAnImpatientClient(t *testing.T) {
	emu, srv := newServer(t, emulator.Config{})
	emu.Always(emulator.EndpointRegister, emulator.Answer{Status: 200, Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/register", strings.NewReader(registerBody(repoURL, "1")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got an answer, %d, from a server scripted to hang", resp.StatusCode)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the client waited %s", took)
	}
	if n := len(emu.Requests()); n != 1 {
		t.Errorf("Requests() = %d, want the held request logged on arrival", n)
	}
	// srv.Close (the cleanup) returns only when the held handler has seen
	// the client go away.
}
