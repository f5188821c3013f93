package ui

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// sessionCookie holds a signed expiry, not the token: a stolen cookie
// expires, and it never reveals the token, which also opens the JSON API.
const sessionCookie = "scanner_ui_session"

// deriveSessionKey turns the API token into the key that signs sessions, so
// that changing the token ends every session without any stored state.
func deriveSessionKey(token string) []byte {
	m := hmac.New(sha256.New, []byte("analytics-scanner ui session key v1"))
	m.Write([]byte(token))
	return m.Sum(nil)
}

// sessionValue is "<expiry unix seconds>.<base64 HMAC of it>".
func (h *handler) sessionValue(expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(h.sessionMAC(exp))
}

func (h *handler) sessionMAC(exp string) []byte {
	m := hmac.New(sha256.New, h.sessionKey)
	m.Write([]byte("session|" + exp))
	return m.Sum(nil)
}

// validSession reports whether r carries an unexpired session signed with
// the current key; the signature is compared in constant time.
func (h *handler) validSession(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	exp, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !h.cfg.Now().Before(time.Unix(secs, 0)) {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	return err == nil && hmac.Equal(got, h.sessionMAC(exp))
}

// tokenMatches compares digests, so that the comparison takes the same time
// whatever the lengths.
func (h *handler) tokenMatches(given string) bool {
	got := sha256.Sum256([]byte(strings.TrimSpace(given)))
	want := sha256.Sum256([]byte(h.cfg.APIToken))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// secure reports whether the cookie should be Secure: when the page is
// served over TLS, directly or behind a proxy that says so.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// signedIn lets a request through when no token is configured or when it
// carries a valid session; otherwise pages go to the sign-in page and the
// script's requests (rows, chart) answer 401.
func (h *handler) signedIn(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.sessionKey == nil || h.validSession(r) {
			next(w, r)
			return
		}
		if r.URL.Path == "/ui/rows.json" || r.URL.Path == "/ui/chart" {
			// The script's requests: a redirect to the sign-in page would
			// hand it a page to show as rows or as the chart.
			writeJSONError(w, http.StatusUnauthorized, "unauthorized", "sign in again: the session is missing or has expired")
			return
		}
		back := r.URL.RequestURI()
		if r.Method != http.MethodGet {
			back = "/ui/"
		}
		http.Redirect(w, r, "/ui/signin?next="+url.QueryEscape(back), http.StatusSeeOther)
	})
}

// safeNext keeps a post-sign-in redirect on this page: a path under /ui/,
// never another host ("//evil", "/\evil").
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "//") {
		return "/ui/"
	}
	return next
}

type signInData struct {
	pageData
	Next    string
	Problem string
}

func (h *handler) signInPage(w http.ResponseWriter, r *http.Request) {
	if h.sessionKey == nil {
		http.Redirect(w, r, "/ui/", http.StatusFound)
		return
	}
	h.render(w, r, http.StatusOK, "signin", signInData{pageData: h.pageData(r, "Sign in"), Next: safeNext(r.URL.Query().Get("next"))})
}

func (h *handler) signIn(w http.ResponseWriter, r *http.Request) {
	if h.sessionKey == nil {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.render(w, r, http.StatusBadRequest, "signin", signInData{pageData: h.pageData(r, "Sign in"), Next: "/ui/",
			Problem: "The form could not be read. Please try again."})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if !h.tokenMatches(r.PostForm.Get("token")) {
		h.render(w, r, http.StatusUnauthorized, "signin", signInData{pageData: h.pageData(r, "Sign in"), Next: next,
			Problem: "That is not the service's API token (SCANNER_API_TOKEN). Check it and try again."})
		return
	}
	expires := h.cfg.Now().Add(h.cfg.SessionLifetime)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: h.sessionValue(expires), Path: "/ui/",
		Expires: expires, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *handler) signOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/ui/", MaxAge: -1,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode,
	})
	target := "/ui/"
	if h.sessionKey != nil {
		target = "/ui/signin"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
