package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// routes lists the whole API. openapi.yaml describes the same routes; a test
// checks that neither has one the other lacks.
func (s *server) routes(r *chi.Mux) {
	r.Use(s.bodyDeadline, s.requestID, s.observe, s.recoverPanics)
	r.NotFound(s.handleNotFound)
	r.MethodNotAllowed(s.handleMethodNotAllowed)

	// Probes stay open: orchestrators call them without credentials.
	r.Get("/healthz", s.handleHealth())
	r.Get("/readyz", s.handleReady())
	// Registries authenticate with the hook token, not the API token.
	r.Post("/hooks/distribution", s.handleHook(hookDistribution))
	r.Post("/hooks/harbor", s.handleHook(hookHarbor))

	if s.cfg.Page != nil {
		s.pageRoutes(r)
	}

	r.Group(func(r chi.Router) {
		r.Use(s.requireToken)
		r.Post("/scan", s.handleSubmit())
		r.Get("/scan", s.handleList())
		r.Get("/scan/{id}", s.handleGet())
		r.Get("/scan/{id}/report", s.handleReport())
		r.Delete("/scan/{id}", s.handleDelete())
		r.Method(http.MethodGet, "/metrics", s.metrics.Handler())
		r.Get("/openapi.yaml", s.handleOpenAPI())
	})
}

// pageRoutes hands the page its paths, for the methods it answers; the
// page's own router sorts out the rest of /ui/ (its 404 page included).
// openapi.yaml documents the entry points, / and /ui/; the page's forms,
// detail pages and polling are its own, not part of the API's contract.
func (s *server) pageRoutes(r chi.Router) {
	page := s.cfg.Page.ServeHTTP
	r.Get("/", page)
	r.Get("/ui", page)
	r.Get("/ui/", page)
	r.Get("/ui/*", page)
	r.Post("/ui/*", page)
}
