package ui_test

// Browser tests: Debian's chromium, headless, driven by chromedp, against
// the real server (server.Run) with a real Docker daemon and the analytics
// emulator. Each test saves screenshots in one directory per run:
// $SCANNER_TEST_SCREENSHOTS when set (CI sets it and prints it), otherwise a
// fresh temporary directory, whose path is printed on stderr when the first
// screenshot is saved.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/centos-pipeline/analytics-scanner/internal/dockertest"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/testenv"
)

// chromiumPath is Debian's chromium; CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// browser is one headless chromium with a fresh profile, and what it saw.
type browser struct {
	ctx     context.Context
	mu      sync.Mutex
	dialogs []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath()
	_, err := exec.LookPath(path)
	testenv.RequireDependency(t, "chromium ("+path+")", err)
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first call starts the browser, and lives as long as it: no
	// timeout on it, but one on everything after.
	if err := chromedp.Do(ctx); err != nil {
		testenv.RequireDependency(t, "a startable chromium", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	b := &browser{ctx: ctx}
	// Any script dialog is recorded and dismissed; the page itself never
	// opens one, so a dialog means a label ran as script. The listener may
	// not send commands, so the dismissal runs on its own goroutine.
	err = chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			b.mu.Lock()
			b.dialogs = append(b.dialogs, e.Message)
			b.mu.Unlock()
			go func() {
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		}
	})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return b
}

// do runs steps, saving a screenshot when one fails.
func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.screenshot(t, "failure")
		t.Fatalf("browser: %v", err)
	}
}

// get runs one action that returns a value.
func get[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.screenshot(t, "failure")
		t.Fatalf("browser: %v", err)
	}
	return v
}

// eval evaluates a script expression, awaiting a promise.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	return get(t, b, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

func (b *browser) seenDialogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

// shotsDir is this run's screenshot directory, made once.
var shotsDir = sync.OnceValues(func() (string, error) {
	dir := os.Getenv("SCANNER_TEST_SCREENSHOTS")
	if dir != "" {
		return dir, os.MkdirAll(dir, 0o755)
	}
	dir, err := os.MkdirTemp("", "analytics-scanner-ui-shots-")
	if err == nil {
		// t.Log shows only under -v or on failure; this always shows.
		fmt.Fprintf(os.Stderr, "browser test screenshots: %s\n", dir)
	}
	return dir, err
})

// screenshot saves the whole page as a PNG and logs where.
func (b *browser) screenshot(t *testing.T, name string) string {
	t.Helper()
	dir, err := shotsDir()
	if err != nil {
		t.Errorf("screenshot dir: %v", err)
		return ""
	}
	// Quality 100 makes chromedp ask for a PNG.
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	t.Logf("screenshot: %s", path)
	return path
}

// waitText polls until the element's text holds want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		// A scan here ends in well under a second; a minute is a generous
		// bound that still fails a page that stopped updating.
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		for {
			got, err := chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible)(ctx, tg)
			if err != nil {
				return err
			}
			if strings.Contains(got, want) {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s never showed %q (last %q): %w", sel, want, got, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// labelled builds an image with the three labels and returns its name.
func labelled(t *testing.T, s *stack, prefix, gitURL, gitSHA, emails string) string {
	t.Helper()
	name := dockertest.UniqueName(prefix) + ":1.0"
	labels := map[string]string{scan.LabelGitURL: gitURL, scan.LabelGitSHA: gitSHA, scan.LabelEmailIDs: emails}
	for k, v := range labels {
		if v == "" {
			delete(labels, k)
		}
	}
	s.Daemon.BuildLabelled(t, name, labels)
	return name
}

func rowSel(id string) string { return `tr[data-id="` + id + `"]` }

func TestBrowserSubmitTurnsGreenLive(t *testing.T) {
	s := newStack(t, stackOptions{held: true})
	b := newBrowser(t)
	image := labelled(t, s, "ui-submit", "https://github.com/example/ui-submit", "46e443d", "dev@example.org")

	b.do(t,
		chromedp.Navigate(s.URL+"/"), // the root redirects to the page
		chromedp.WaitVisible(chromedp.ID("submit-image")),
		chromedp.SendKeys(chromedp.ID("submit-image"), image),
		chromedp.Click(chromedp.ID("submit-button")),
		waitText(`.notice`, "Scan queued:"),
	)
	id := get(t, b, chromedp.AttributeValue(chromedp.CSS(`#scans tbody tr`), "data-id")).Value
	b.do(t, waitText(rowSel(id)+` .badge`, "queued"))
	b.screenshot(t, "queued")

	// A marker on the window survives only if the page is not reloaded.
	eval[bool](t, b, `window.__notReloaded = true`)
	s.Release()
	b.do(t, waitText(rowSel(id)+` .badge`, "succeeded"))
	// The chart follows too: both scans (the one holding the worker, and
	// this one) are counted as succeeded, none as pending.
	b.do(t, waitText(`#chart .legend`, "succeeded 2"), waitText(`#chart .legend`, "not finished 0"))
	if !eval[bool](t, b, `window.__notReloaded === true`) {
		t.Errorf("the page was reloaded; the row should have changed in place")
	}
	class := get(t, b, chromedp.AttributeValue(chromedp.CSS(rowSel(id)+` .badge`), "class")).Value
	gitURL := get(t, b, chromedp.Text(chromedp.CSS(rowSel(id)+` [data-field="git_url"] a`)))
	answer := get(t, b, chromedp.Text(chromedp.CSS(rowSel(id)+` [data-field="answer"]`)))
	if !strings.Contains(class, "badge-succeeded") {
		t.Errorf("badge class %q, want the succeeded colour", class)
	}
	if gitURL != "https://github.com/example/ui-submit" || !strings.HasPrefix(answer, "200") {
		t.Errorf("the updated row shows git-url %q and answer %q, want the image's label and the server's 200", gitURL, answer)
	}
	b.screenshot(t, "succeeded")
	if d := b.seenDialogs(); len(d) != 0 {
		t.Errorf("dialogs opened: %q", d)
	}
}

// A scan of an image in a registry, chosen in the form's source list: the
// row says where the image was read, the detail page which manifest.
func TestBrowserSubmitFromRegistry(t *testing.T) {
	s := newStack(t, stackOptions{registry: true})
	b := newBrowser(t)
	ref, digest := pushLabelled(t, s, "team/ui-pushed:1", map[string]string{
		scan.LabelGitURL: "https://github.com/example/ui-pushed", scan.LabelGitSHA: "feed123", scan.LabelEmailIDs: "dev@example.org",
	})
	b.do(t,
		chromedp.Navigate(s.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("submit-source")),
		chromedp.SendKeys(chromedp.ID("submit-image"), ref),
		chromedp.SetValue(chromedp.ID("submit-source"), scan.SourceRegistry),
		chromedp.Click(chromedp.ID("submit-button")),
		waitText(`.notice`, "Scan queued:"),
	)
	id := get(t, b, chromedp.AttributeValue(chromedp.CSS(`#scans tbody tr`), "data-id")).Value
	b.do(t, waitText(rowSel(id)+` .badge`, "succeeded"))
	if src := get(t, b, chromedp.Text(chromedp.CSS(rowSel(id)+` [data-field="source"]`))); src != "registry" {
		t.Errorf("the row's source is %q, want registry", src)
	}
	b.screenshot(t, "list")
	b.do(t, chromedp.Click(chromedp.CSS(rowSel(id)+` a.image`)), chromedp.WaitVisible(chromedp.CSS(`pre.result`)))
	fields := eval[map[string]string](t, b, `Object.fromEntries(Array.from(document.querySelectorAll('table.fields tr')).map(tr => [tr.querySelector('th').textContent, tr.querySelector('td').textContent]))`)
	if fields["source"] != "registry" || fields["manifest_digest"] != digest {
		t.Errorf("the detail page shows source %q, manifest_digest %q; want registry and %s", fields["source"], fields["manifest_digest"], digest)
	}
	b.screenshot(t, "detail")
	if got := s.get(t, id); got.Source != scan.SourceRegistry || got.Status != scan.StatusSucceeded {
		t.Errorf("the stored scan: source %q, status %s; want a succeeded registry scan", got.Source, got.Status)
	}
}

func TestBrowserFilterAndDetail(t *testing.T) {
	s := newStack(t, stackOptions{})
	b := newBrowser(t)
	good := scanned(t, s, labelled(t, s, "ui-good", "https://github.com/example/ui-good", "1234567", "dev@example.org"))
	bad := scanned(t, s, labelled(t, s, "ui-bad", "https://github.com/example/ui-bad", "", ""))
	if good.Status != scan.StatusSucceeded || bad.Status != scan.StatusFailed {
		t.Fatalf("statuses %s and %s, want succeeded and failed", good.Status, bad.Status)
	}

	b.do(t,
		chromedp.Navigate(s.URL+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(rowSel(bad.ID))),
		chromedp.WaitVisible(chromedp.CSS(rowSel(good.ID))),
	)
	b.screenshot(t, "list")
	// Filter with the keyboard: choose the status, Enter in the form.
	b.do(t,
		chromedp.SetValue(chromedp.ID("filter-status"), "failed"),
		chromedp.Focus(chromedp.ID("filter-image")),
		chromedp.KeyEvent("\r"),
		chromedp.WaitNotPresent(chromedp.CSS(rowSel(good.ID))),
		chromedp.WaitVisible(chromedp.CSS(rowSel(bad.ID))),
	)
	rows := eval[int](t, b, `document.querySelectorAll('#scans tbody tr').length`)
	loc := get(t, b, chromedp.Location())
	if rows != 1 || !strings.Contains(loc, "status=failed") {
		t.Errorf("after filtering: %d rows at %s, want the one failed scan", rows, loc)
	}

	// The detail page of the failed scan, by its link.
	b.do(t,
		chromedp.Click(chromedp.CSS(rowSel(bad.ID)+` a.image`)),
		chromedp.WaitVisible(chromedp.CSS(`pre.result`)),
	)
	errs := eval[[]string](t, b, `Array.from(document.querySelectorAll('ul.errors li')).map(e => e.textContent)`)
	result := get(t, b, chromedp.Text(chromedp.CSS(`pre.result`)))
	status := get(t, b, chromedp.Text(chromedp.ID("status")))
	if len(errs) != 2 || !strings.Contains(errs[0], "git-sha") || !strings.Contains(errs[1], "email-ids") {
		t.Errorf("errors %q, want one line each for the missing git-sha and email-ids", errs)
	}
	if status != "failed" || !strings.Contains(result, "\n  \"Successful\": false") {
		t.Errorf("status %q, result %q: want failed and the pretty-printed document", status, result)
	}
	created := eval[[]string](t, b, `(() => { const el = document.querySelector('table.fields time'); return [el.textContent, el.title]; })()`)
	if !strings.HasSuffix(created[1], " UTC") || strings.HasSuffix(created[0], " UTC") {
		t.Errorf("created_at shows %q with title %q; want the browser's local time, the UTC time on hover", created[0], created[1])
	}
	b.screenshot(t, "detail")

	// A phone-sized window shows the list as cards.
	b.do(t, chromedp.EmulateViewport(390, 844), chromedp.Navigate(s.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS(rowSel(good.ID))))
	if display := eval[string](t, b, `getComputedStyle(document.querySelector('#scans tbody tr')).display`); display != "block" {
		t.Errorf("on a phone a row is displayed %q, want block (a card)", display)
	}
	b.screenshot(t, "phone")
}

func TestBrowserCancel(t *testing.T) {
	s := newStack(t, stackOptions{held: true})
	b := newBrowser(t)
	rec := s.submit(t, "example/never-run:1")
	b.do(t,
		chromedp.Navigate(s.URL+"/ui/scans/"+rec.ID),
		waitText(`#status`, "queued"),
		chromedp.Click(chromedp.CSS(`a.button.danger`)),
		chromedp.WaitVisible(chromedp.ID("confirm")),
	)
	b.screenshot(t, "confirm")
	b.do(t,
		chromedp.Click(chromedp.ID("confirm")),
		waitText(`.notice`, "The scan was canceled."),
		waitText(`#status`, "canceled"),
	)
	b.screenshot(t, "canceled")
	if got := s.get(t, rec.ID); got.Status != scan.StatusCanceled {
		t.Errorf("the stored scan is %s, want canceled", got.Status)
	}
}

func TestBrowserSignIn(t *testing.T) {
	token := "ui-token-" + testenv.RandomHex(12)
	wrong := "not-the-token-" + testenv.RandomHex(12)
	s := newStack(t, stackOptions{apiToken: token})
	b := newBrowser(t)
	b.do(t, chromedp.Navigate(s.URL+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")))
	if loc := get(t, b, chromedp.Location()); !strings.Contains(loc, "/ui/signin") {
		t.Errorf("without a session the page is at %s, want the sign-in page", loc)
	}
	b.do(t,
		chromedp.SendKeys(chromedp.ID("token"), wrong+"\r"),
		waitText(`.problem`, "not the service's API token"),
	)
	if status := eval[int](t, b, `fetch('/ui/rows.json').then(r => r.status)`); status != 401 {
		t.Errorf("rows.json without a session: %d, want 401", status)
	}
	b.screenshot(t, "refused")
	b.do(t,
		chromedp.SendKeys(chromedp.ID("token"), token+"\r"),
		chromedp.WaitVisible(chromedp.ID("submit-image")),
	)
	if cookie := eval[string](t, b, `document.cookie`); cookie != "" {
		t.Errorf("the page's script can read the cookie %q; it must be HttpOnly", cookie)
	}
	if status := eval[int](t, b, `fetch('/ui/rows.json?first=1').then(r => r.status)`); status != 200 {
		t.Errorf("rows.json with the session: %d, want 200", status)
	}
	// The session opens the page, not the JSON API: that still wants the
	// bearer token.
	if status := eval[int](t, b, `fetch('/scan').then(r => r.status)`); status != 401 {
		t.Errorf("GET /scan with the page's session: %d, want 401", status)
	}
	b.screenshot(t, "signed-in")
	// Neither the token nor the wrong guess reaches the server's log.
	s.Logs.WaitFor(t, "the access log of the sign-in", func(l map[string]any) bool {
		return l["path"] == "/ui/signin" && l["status"] == float64(http.StatusSeeOther)
	})
	if logs := s.Logs.String(); strings.Contains(logs, token) || strings.Contains(logs, wrong) {
		t.Errorf("the server's log holds a token that was typed into the sign-in page")
	}
}

func TestBrowserHostileLabelsInert(t *testing.T) {
	s := newStack(t, stackOptions{})
	b := newBrowser(t)
	const (
		gitURL = "javascript:alert(document.domain)"
		gitSHA = "<script>alert(1)</script>"
		emails = `"><img src=x onerror=alert(2)>`
	)
	rec := scanned(t, s, labelled(t, s, "ui-evil", gitURL, gitSHA, emails))

	var mu sync.Mutex
	navigations := 0
	err := chromedp.Listen(b.ctx, func(ev any) {
		if _, ok := ev.(*page.EventFrameNavigated); ok {
			mu.Lock()
			navigations++
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, path := range []string{"/ui/", "/ui/scans/" + rec.ID} {
		b.do(t, chromedp.Navigate(s.URL+path), chromedp.WaitVisible(chromedp.CSS(`main`)), chromedp.Sleep(500*time.Millisecond))
		text := get(t, b, chromedp.Text(chromedp.CSS(`main`)))
		jsLinks := eval[int](t, b, `document.querySelectorAll('a[href^="javascript:" i]').length`)
		injected := eval[int](t, b, `document.querySelectorAll('main img, main script').length`)
		if !strings.Contains(text, gitURL) || !strings.Contains(text, gitSHA) {
			t.Errorf("%s: the hostile labels are not shown as text:\n%s", path, text)
		}
		if jsLinks != 0 || injected != 0 {
			t.Errorf("%s: %d javascript: links and %d injected elements, want none", path, jsLinks, injected)
		}
		b.screenshot(t, []string{"list", "detail"}[i])
	}
	// Clicking the git-url goes nowhere: it is text, not a link.
	mu.Lock()
	before := navigations
	mu.Unlock()
	b.do(t, chromedp.Click(chromedp.Search(`//td[contains(., "javascript:alert")]`)), chromedp.Sleep(500*time.Millisecond))
	loc := get(t, b, chromedp.Location())
	mu.Lock()
	after := navigations
	mu.Unlock()
	if after != before || !strings.HasSuffix(loc, "/ui/scans/"+rec.ID) {
		t.Errorf("clicking the git-url navigated (%d navigations, now at %s)", after-before, loc)
	}
	if d := b.seenDialogs(); len(d) != 0 {
		t.Errorf("script dialogs opened: %q", d)
	}
}

// TestBrowserDetailAndListFollow: a detail page open on a queued scan shows
// its result once it ends, and a list page says when newer scans exist.
func TestBrowserDetailAndListFollow(t *testing.T) {
	s := newStack(t, stackOptions{held: true})
	b := newBrowser(t)
	image := labelled(t, s, "ui-follow", "https://github.com/example/ui-follow", "abc1234", "dev@example.org")
	first := s.submit(t, image)

	b.do(t, chromedp.Navigate(s.URL+"/ui/"), chromedp.WaitVisible(chromedp.CSS(rowSel(first.ID))))
	if hidden := eval[bool](t, b, `document.getElementById('new-scans').hidden`); !hidden {
		t.Errorf("the new-scans notice shows with nothing new")
	}
	shown := eval[int](t, b, `document.querySelectorAll('#scans tbody tr').length`)
	second := s.submit(t, "example/other:2")
	b.do(t, chromedp.WaitVisible(chromedp.ID("new-scans")))
	if n := eval[int](t, b, `document.querySelectorAll('#scans tbody tr').length`); n != shown {
		t.Errorf("%d rows before the reload, want the page as it was (%d)", n, shown)
	}
	b.do(t, chromedp.Click(chromedp.CSS(`#new-scans a`)), chromedp.WaitVisible(chromedp.CSS(rowSel(second.ID))))

	b.do(t, chromedp.Navigate(s.URL+"/ui/scans/"+first.ID), waitText(`#status`, "queued"))
	s.Release()
	b.do(t, waitText(`#status`, "succeeded"), chromedp.WaitVisible(chromedp.CSS(`pre.result`)))
	if result := get(t, b, chromedp.Text(chromedp.CSS(`pre.result`))); !strings.Contains(result, "ui-follow") {
		t.Errorf("the result document after the scan ended: %q", result)
	}
	b.screenshot(t, "detail-followed")
}

// A succeeded scan's detail page shows its report once the follow-up has
// it (the emulator reports CVEs for every commit) and the deliveries of
// its signed notifications.
func TestBrowserReportAndCallbacks(t *testing.T) {
	s := newStack(t, stackOptions{})
	b := newBrowser(t)
	rec := scanned(t, s, labelled(t, s, "ui-report", "https://github.com/example/ui-report", "c0ffee1", "dev@example.org"))
	if rec.Status != scan.StatusSucceeded {
		t.Fatalf("the scan %s, want succeeded", rec.Status)
	}
	// A final scan's page does not follow its report: reload until the
	// report and both notifications are there.
	deadline := time.Now().Add(time.Minute)
	for {
		b.do(t, chromedp.Navigate(s.URL+"/ui/scans/"+rec.ID), chromedp.WaitVisible(chromedp.CSS(`pre.result`)))
		ready := eval[bool](t, b, `(document.querySelector('#report strong') || {}).textContent === 'ready'`)
		delivered := eval[int](t, b, `Array.from(document.querySelectorAll('#deliveries tbody tr')).filter(tr => tr.textContent.includes('delivered')).length`)
		if ready && delivered >= 2 {
			break
		}
		if time.Now().After(deadline) {
			b.screenshot(t, "failure")
			t.Fatalf("after a minute the report is ready: %v, delivered notifications: %d; want ready and 2", ready, delivered)
		}
		time.Sleep(500 * time.Millisecond)
	}
	cves := eval[int](t, b, `document.querySelectorAll('table.cves tbody tr').length`)
	summary := get(t, b, chromedp.Text(chromedp.CSS(`.report-summary`)))
	events := eval[string](t, b, `Array.from(document.querySelectorAll('#deliveries tbody tr')).map(tr => tr.textContent).join(' | ')`)
	if cves == 0 || !strings.Contains(summary, "dependencies") {
		t.Errorf("the ready report shows %d CVE rows and summary %q", cves, summary)
	}
	if !strings.Contains(events, "scan.final") || !strings.Contains(events, "report.final") || !strings.Contains(events, "204") {
		t.Errorf("the deliveries say %q, want scan.final and report.final answered 204", events)
	}
	b.screenshot(t, "detail")
	// The list shows the report's state in its own column.
	b.do(t, chromedp.Navigate(s.URL+"/ui/"), waitText(rowSel(rec.ID)+` [data-field="report"]`, "ready"))
	b.screenshot(t, "list")
}
