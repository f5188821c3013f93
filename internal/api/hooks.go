package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/hooks"
	"github.com/centos-pipeline/analytics-scanner/internal/metrics"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// DefaultHookBodyBytes bounds a notification body: a registry envelope
// holds a handful of events of about a kilobyte, and hooks.MaxEvents of them
// fit well within it.
const DefaultHookBodyBytes = 2 << 20

// HooksConfig configures POST /hooks/distribution and POST /hooks/harbor.
type HooksConfig struct {
	// Token is the shared secret registries send as "Authorization:
	// Bearer <token>"; empty disables the hooks (404 hooks_disabled). It
	// is never logged.
	Token string
	// Submitter queues the scans of one notification together; nil
	// disables the hooks.
	Submitter scan.BatchSubmitter
	// Options adjust the references built from events (the registry host
	// the scanner knows the registry by).
	Options hooks.Options
	// MaxBodyBytes bounds a notification; zero means DefaultHookBodyBytes.
	MaxBodyBytes int64
}

// hookKind is one of the notification formats the service understands.
type hookKind struct {
	name  string
	parse func([]byte, hooks.Options) (hooks.Result, error)
	// contentType says whether a Content-Type is one the sender uses.
	contentType func(string) bool
}

var (
	hookDistribution = hookKind{name: "distribution", parse: hooks.ParseDistribution,
		contentType: hooks.DistributionContentType}
	hookHarbor = hookKind{name: "harbor", parse: hooks.ParseHarbor,
		contentType: func(ct string) bool {
			mt, _, err := mime.ParseMediaType(ct)
			// Harbor sends application/json; the CloudEvents format
			// may come as application/cloudevents+json.
			return err == nil && (mt == contentJSON || mt == "application/cloudevents+json")
		}}
)

// hookAnswer is the body of an accepted notification.
type hookAnswer struct {
	// Received counts the notification's events; Ignored those that are
	// not pushes of an image (or repeat one of the same notification);
	// Enqueued the new scans; Existing the pushes whose digest was already
	// scanned or in flight.
	Received int        `json:"received"`
	Ignored  int        `json:"ignored"`
	Enqueued int        `json:"enqueued"`
	Existing int        `json:"existing"`
	Scans    []hookScan `json:"scans"`
}

type hookScan struct {
	ID      string `json:"id"`
	Image   string `json:"image"`
	Created bool   `json:"created"`
}

// handleHook turns a registry notification into scans, all of them in one
// transaction: the registry gets its answer as soon as they are queued,
// within milliseconds, since Harbor gives up after 3 s and distribution's
// queue backs up behind a slow endpoint. Nothing is stored unless the
// notification is authenticated, well-formed and fits.
func (s *server) handleHook(kind hookKind) http.HandlerFunc {
	enabled := s.cfg.Hooks.Token != "" && s.cfg.Hooks.Submitter != nil
	want := sha256.Sum256([]byte(s.cfg.Hooks.Token))
	counter := s.metrics.HookEvents()
	count := func(outcome string, n int) {
		if n > 0 {
			counter.WithLabelValues(kind.name, outcome).Add(float64(n))
		}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if !enabled {
			s.writeError(w, r, scan.Errorf(EHooksDisabled,
				"registry notifications are disabled: the operator has not set SCANNER_HOOK_TOKEN"))
			return
		}
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		// Digests keep the comparison constant-time whatever the lengths.
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			s.writeError(w, r, scan.Errorf(EUnauthorized, "this endpoint needs the hook token as Authorization: Bearer <token>"))
			return
		}
		if ct := r.Header.Get("Content-Type"); !kind.contentType(ct) {
			s.writeError(w, r, scan.Errorf(EUnsupportedMediaType, "Content-Type %s is not one a %s notification comes with",
				quote(ct), kind.name))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.Hooks.MaxBodyBytes))
		if err != nil {
			s.writeError(w, r, bodyError(err))
			return
		}
		res, err := kind.parse(body, s.cfg.Hooks.Options)
		if err != nil {
			if errors.Is(err, hooks.ErrMalformed) {
				err = scan.Errorf(scan.EInvalid, "%s notification: %v", kind.name, err)
			}
			s.writeError(w, r, err)
			return
		}
		answer := hookAnswer{
			Received: len(res.Pushes) + res.Ignored + res.Duplicates,
			Ignored:  res.Ignored + res.Duplicates,
			Scans:    []hookScan{},
		}
		count(metrics.HookReceived, answer.Received)
		count(metrics.HookIgnored, answer.Ignored)
		if len(res.Pushes) > 0 {
			reqs := make([]scan.Request, len(res.Pushes))
			for i, p := range res.Pushes {
				reqs[i] = scan.Request{Image: p.Ref, Name: p.Name, Source: scan.SourceRegistry, ScanType: scan.ScanTypeRegister}
			}
			subs, err := s.cfg.Hooks.Submitter.SubmitMany(r.Context(), reqs)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			for _, sub := range subs {
				if sub.Created {
					answer.Enqueued++
				} else {
					answer.Existing++
				}
				answer.Scans = append(answer.Scans, hookScan{ID: sub.Record.ID, Image: sub.Record.Image, Created: sub.Created})
			}
			count(metrics.HookEnqueued, answer.Enqueued)
			count(metrics.HookExisting, answer.Existing)
		}
		zerolog.Ctx(r.Context()).Info().Str("hook", kind.name).
			Int("received", answer.Received).Int("ignored", answer.Ignored).
			Int("enqueued", answer.Enqueued).Int("existing", answer.Existing).
			Msg("registry notification")
		encode(w, http.StatusAccepted, answer)
	}
}
