package emulator

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Report is the body of a 200 report answer, in the real server's shape. It
// repeats scan.Report on purpose: written from the contract rather than
// imported, it catches a wrong JSON tag on the scanner's side.
type Report struct {
	GitURL       string       `json:"git_url"`
	GitSHA       string       `json:"git_sha"`
	ScannedAt    string       `json:"scanned_at"`
	Dependencies []Dependency `json:"dependencies"`
}

// Dependency is one dependency of a Report. As in the real server's report
// generator, the CVE fields are present only when it has CVEs, ids ordered
// by CVSS score, highest first.
type Dependency struct {
	Name                     string   `json:"name"`
	Version                  string   `json:"version"`
	CVECount                 int      `json:"cve_count"`
	Licenses                 []string `json:"licenses"`
	CVEs                     []string `json:"cves,omitempty"`
	HighestCVSSScore         *float64 `json:"highest_cvss_score,omitempty"`
	CVEIDForHighestCVSSScore string   `json:"cve_id_for_highest_cvss_score,omitempty"`
}

// lockFileAbsent is the real server's 400 answer for a repository without a
// lock file: the report fields it has (none) and the worker's message.
type lockFileAbsent struct {
	GitURL         string  `json:"git_url"`
	GitSHA         string  `json:"git_sha"`
	ScannedAt      *string `json:"scanned_at"`
	Dependencies   []any   `json:"dependencies"`
	LockFileAbsent bool    `json:"lock_file_absent"`
	Message        string  `json:"message"`
}

// LockFileAbsentMessage is the message of a lock-file-absent answer.
func LockFileAbsentMessage(gitURL string) string {
	return fmt.Sprintf("No dependency lock file was found in repository %s", gitURL)
}

// catalog is what the emulated repositories depend on.
var catalog = []struct{ name, version, license string }{
	{"lodash", "4.17.4", "MIT"},
	{"minimist", "0.0.8", "MIT"},
	{"jackson-databind", "2.9.8", "Apache-2.0"},
	{"flask", "0.12.2", "BSD-3-Clause"},
	{"requests", "2.19.1", "Apache-2.0"},
	{"log4j-core", "2.14.1", "Apache-2.0"},
	{"express", "4.16.0", "MIT"},
	{"pyyaml", "3.13", "MIT"},
}

// ReportFor is the report the emulator serves for gitURL at gitSHA, scanned
// at scannedAt: three to five dependencies from a fixed catalog, the first
// with one to three CVEs, the last with none, the others with zero to three.
// It depends only on its arguments, so tests can compute what to expect.
func ReportFor(gitURL, gitSHA, scannedAt string) Report {
	seed := sha256.Sum256([]byte(gitURL + "\n" + gitSHA))
	// Bytes 0-7 choose the dependencies, 8-15 their CVE counts, 16-31
	// the CVEs.
	n := 3 + int(seed[0]%3)
	order := make([]int, len(catalog))
	for i := range order {
		order[i] = i
	}
	// A Fisher-Yates shuffle driven by the seed.
	for i := len(order) - 1; i > 0; i-- {
		j := int(seed[1+i%7]) % (i + 1)
		order[i], order[j] = order[j], order[i]
	}
	r := Report{GitURL: gitURL, GitSHA: gitSHA, ScannedAt: scannedAt, Dependencies: make([]Dependency, 0, n)}
	cveByte := 16
	for k, idx := range order[:n] {
		pkg := catalog[idx]
		d := Dependency{Name: pkg.name, Version: pkg.version, Licenses: []string{pkg.license}}
		count := int(seed[8+k] % 4)
		switch k {
		case 0:
			count = 1 + int(seed[8]%3)
		case n - 1:
			count = 0
		}
		type cve struct {
			id    string
			score float64
		}
		cves := make([]cve, 0, count)
		for c := range count {
			b := seed[cveByte%len(seed)]
			cveByte++
			// Scores 0.1 to 10.0 in tenths, so every band turns up.
			score := float64(1+int(b)*99/255) / 10
			cves = append(cves, cve{fmt.Sprintf("CVE-20%02d-%04d", 15+int(b)%10, 1000+int(b)*37+k*100+c), score})
		}
		if count > 0 {
			slices.SortStableFunc(cves, func(a, b cve) int {
				switch {
				case a.score > b.score:
					return -1
				case a.score < b.score:
					return 1
				}
				return 0
			})
			d.CVECount = count
			for _, c := range cves {
				d.CVEs = append(d.CVEs, c.id)
			}
			top := cves[0].score
			d.HighestCVSSScore = &top
			d.CVEIDForHighestCVSSScore = cves[0].id
		}
		r.Dependencies = append(r.Dependencies, d)
	}
	return r
}

// FailNextReport makes the next n report requests (authenticated, with both
// parameters) answer status with the real server's failure body, whatever
// the report's state, so that a follower's backoff can be tested. n <= 0
// cancels a pending injection.
func (s *Server) FailNextReport(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reportFailures.remaining = max(n, 0)
	s.reportFailures.status = status
}

// ReportRequests returns, oldest first, the report requests that got past
// authentication and are still in their log (kept apart from Requests, which
// lists the requests with a body).
func (s *Server) ReportRequests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reports.all()
}

// ReportQuery is the query of a report request.
type ReportQuery struct {
	GitURL string `json:"git-url"`
	GitSHA string `json:"git-sha"`
}

func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	q := ReportQuery{GitURL: r.URL.Query().Get("git-url"), GitSHA: r.URL.Query().Get("git-sha")}
	s.mu.Lock()
	scripted, isScripted := s.scriptedLocked(EndpointReport)
	s.mu.Unlock()
	var (
		status int
		body   any
	)
	if isScripted {
		status = scripted.Status
	} else {
		status, body = s.report(q)
	}
	s.mu.Lock()
	s.reports.add(Request{Time: s.cfg.Now(), Path: r.URL.Path, Auth: authFrom(r.Context()), Status: status, Report: &q,
		Method: r.Method, Header: r.Header.Clone()})
	s.mu.Unlock()
	if isScripted {
		writeScripted(w, r, scripted)
		return
	}
	writeJSON(w, status, body)
}

// report answers a report query as the real server did: 404 until the
// commit is registered and ReportDelay has passed, then the report, or 400
// lock-file-absent for the repositories of Config.LockFileAbsent.
func (s *Server) report(q ReportQuery) (int, any) {
	if q.GitURL == "" || q.GitSHA == "" {
		return http.StatusBadRequest, failure{"failure", "git-url and git-sha are required"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reportFailures.remaining > 0 {
		s.reportFailures.remaining--
		return s.reportFailures.status, failure{"failure", "injected failure"}
	}
	var registeredAt time.Time
	repo, known := s.repos[q.GitURL]
	if known {
		registeredAt, known = repo.commits[q.GitSHA]
	}
	scannedAt := registeredAt.Add(s.cfg.ReportDelay)
	if !known || s.cfg.Now().Before(scannedAt) {
		return http.StatusNotFound, noReport
	}
	if slices.Contains(s.cfg.LockFileAbsent, q.GitURL) {
		return http.StatusBadRequest, lockFileAbsent{
			GitURL: q.GitURL, GitSHA: q.GitSHA, LockFileAbsent: true, Message: LockFileAbsentMessage(q.GitURL),
		}
	}
	return http.StatusOK, ReportFor(q.GitURL, q.GitSHA, scannedAt.UTC().Format(http.TimeFormat))
}
