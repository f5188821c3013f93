// Package ui is the service's page for people: a server-rendered list of
// scans with filters, cursor pages and live status updates, a detail page
// per scan, and forms to submit, cancel and delete scans. It fronts the same
// scan.Service as the JSON API and knows nothing of queues, SQL or Docker.
//
// Templates, CSS and the one script are embedded, so the page needs nothing
// from outside the machine, and the Content-Security-Policy allows only this
// origin's own files: no inline script, no CDN.
package ui

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// Defaults for the zero values of Config.
const (
	// DefaultPageSize is how many scans a list page shows.
	DefaultPageSize = 25
	// DefaultCallTimeout bounds each call of the service a page makes, so a
	// stuck database cannot hold a page open.
	DefaultCallTimeout = 10 * time.Second
	// DefaultSessionLifetime is how long a sign-in lasts.
	DefaultSessionLifetime = 12 * time.Hour
	// maxFormBytes bounds a form body: a reference is a few hundred bytes.
	maxFormBytes = 64 << 10
	// maxPollIDs bounds one poll of rows.json: a page never shows more.
	maxPollIDs = 100
)

// Config configures the page. The zero value serves an open page (no
// sign-in) with the defaults above.
type Config struct {
	// APIToken, when set, must be given once on the sign-in page; the page
	// then keeps a session cookie derived from it (never the token itself).
	APIToken string
	// ScanTypes are offered by the submit form, the first preselected;
	// empty means every type the service runs, scan.ScanTypes.
	ScanTypes []string
	// Sources are the image sources the submit form offers (scan.SourceDaemon,
	// scan.SourceRegistry); empty means the daemon only. DefaultSource is
	// preselected; empty means the first of Sources. The server passes the
	// API's own settings, so the page offers what the API accepts.
	Sources       []string
	DefaultSource string
	// PageSize is how many scans a list page shows; zero means
	// DefaultPageSize.
	PageSize int
	// CallTimeout bounds each service call; zero means DefaultCallTimeout.
	CallTimeout time.Duration
	// SessionLifetime is how long a sign-in lasts; zero means
	// DefaultSessionLifetime.
	SessionLifetime time.Duration
	// Log receives internal errors of requests that carry no logger of
	// their own (the API's middleware gives each one with its request id);
	// its zero value discards them.
	Log zerolog.Logger
	// Now is the page's clock; nil means time.Now.
	Now func() time.Time
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// handler is the page's state; its methods are the routes.
type handler struct {
	cfg   Config
	svc   scan.Service
	pages map[string]*template.Template
	mux   *http.ServeMux
	// sessionKey signs session cookies; it is derived from the API token so
	// that changing the token ends every session.
	sessionKey []byte
}

// New returns the page's handler. It serves GET / (a redirect to /ui/) and
// everything under /ui/; mount it for both.
func New(cfg Config, svc scan.Service) http.Handler {
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if len(cfg.ScanTypes) == 0 {
		cfg.ScanTypes = slices.Clone(scan.ScanTypes)
	}
	if len(cfg.Sources) == 0 {
		cfg.Sources = []string{scan.SourceDaemon}
	}
	if cfg.DefaultSource == "" || !slices.Contains(cfg.Sources, cfg.DefaultSource) {
		cfg.DefaultSource = cfg.Sources[0]
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &handler{cfg: cfg, svc: svc, pages: parsePages()}
	if cfg.APIToken != "" {
		h.sessionKey = deriveSessionKey(cfg.APIToken)
	}
	h.routes()
	return h
}

func (h *handler) routes() {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static") // a literal, present directory
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", staticFiles(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", redirectTo("/ui/"))
	mux.HandleFunc("GET /ui", redirectTo("/ui/"))
	mux.HandleFunc("GET /ui/signin", h.signInPage)
	mux.HandleFunc("POST /ui/signin", h.signIn)
	mux.HandleFunc("POST /ui/signout", h.signOut)

	mux.Handle("GET /ui/{$}", h.signedIn(h.listPage))
	mux.Handle("GET /ui/rows.json", h.signedIn(h.rowsJSON))
	mux.Handle("GET /ui/chart", h.signedIn(h.chartFragment))
	mux.Handle("POST /ui/scans", h.signedIn(h.submit))
	mux.Handle("GET /ui/scans/{id}", h.signedIn(h.detailPage))
	mux.Handle("GET /ui/scans/{id}/delete", h.signedIn(h.confirmDeletePage))
	mux.Handle("POST /ui/scans/{id}/delete", h.signedIn(h.deleteScan))
	mux.HandleFunc("/ui/", h.notFound)
	h.mux = mux
}

// ServeHTTP adds the headers every answer carries, refuses cross-origin
// state changes, and routes.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	crossOrigin.Handler(h.mux).ServeHTTP(w, r)
}

// contentSecurityPolicy lets the page load only its own files: no inline
// script (every label and server answer on it comes from outside), no
// plugins, no framing, and forms that post only here.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; object-src 'none'; " +
	"base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// crossOrigin refuses POSTs a browser sends from another origin (by
// Sec-Fetch-Site, or Origin against Host), which is what a CSRF attack is;
// with a SameSite=Strict session cookie it is a second, independent guard.
var crossOrigin = func() *http.CrossOriginProtection {
	c := http.NewCrossOriginProtection()
	c.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "This form was sent from another site, so it was refused. Use the page at /ui/.", http.StatusForbidden)
	}))
	return c
}()

// staticFiles lets browsers keep the embedded files for a while; they change
// only with a new binary.
func staticFiles(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}

func redirectTo(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, path, http.StatusFound)
	}
}

// logger is the request's logger when the server gave it one (the API's
// middleware does, with the request's id), the configured one otherwise.
func (h *handler) logger(ctx context.Context) *zerolog.Logger {
	if l := zerolog.Ctx(ctx); l.GetLevel() != zerolog.Disabled {
		return l
	}
	return &h.cfg.Log
}

// call bounds one service call with the configured timeout.
func (h *handler) call(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.cfg.CallTimeout)
}
