package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/docker"
	"github.com/centos-pipeline/analytics-scanner/internal/emulator"
	"github.com/centos-pipeline/analytics-scanner/internal/probe"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// devAddr is where `server --dev` listens unless SCANNER_ADDR says: the
// loopback only, since a development service has no token by default.
const devAddr = "127.0.0.1:8080"

// LoadDevConfig is LoadConfig for `server --dev`, a service that works with
// nothing but Go and a Docker daemon: it listens on 127.0.0.1:8080 unless
// SCANNER_ADDR is set, keeps its SQLite database in a temporary directory
// removed at exit unless SCANNER_DATA_DIR or SCANNER_DATABASE_URL is set,
// and, without SCANNER_ANALYTICS_URL, registers with an analytics emulator
// run in-process on a loopback port. Every other variable applies as usual.
func LoadDevConfig() (Config, error) {
	c, err := LoadConfig()
	if err != nil {
		return c, err
	}
	if os.Getenv(EnvPrefix+"_ADDR") == "" {
		c.Addr = devAddr
	}
	if os.Getenv(EnvPrefix+"_DATA_DIR") == "" {
		c.DataDir = ""
	}
	c.Dev = true
	return c, nil
}

// devSetup makes what --dev promises and Run does not otherwise have: the
// temporary data directory and the in-process emulator. The returned stop
// removes both; it is called once Run has stopped everything else.
func devSetup(cfg *Config, log zerolog.Logger) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	log.Warn().Msg("DEVELOPMENT MODE (--dev): for trying the service out, not for production")
	if cfg.DatabaseURL == "" && cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "analytics-scanner-dev-")
		if err != nil {
			return stop, fmt.Errorf("--dev: temporary data directory: %w", err)
		}
		stops = append(stops, func() { _ = os.RemoveAll(dir) })
		cfg.DataDir = dir
		log.Warn().Str("data_dir", dir).Msg("DEVELOPMENT MODE: scans are kept in a temporary SQLite database, deleted at exit (set " + EnvPrefix + "_DATA_DIR to keep them)")
	}
	if cfg.AnalyticsURL == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("--dev: analytics emulator: %w", err)
		}
		emu := &http.Server{
			Handler: emulator.New(emulator.Config{Token: cfg.AnalyticsToken, ThreeScaleSecret: cfg.Analytics3scaleSecret}),
			// The emulator answers at once; these only bound a client
			// that stalls.
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       time.Minute,
		}
		go func() { _ = emu.Serve(ln) }()
		stops = append(stops, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = emu.Shutdown(ctx)
		})
		cfg.AnalyticsURL = "http://" + ln.Addr().String() + "/api/v1"
		log.Warn().Str("analytics_url", cfg.AnalyticsURL).
			Msg("DEVELOPMENT MODE: the analytics server is an EMULATOR running in this process; nothing is registered with a real analytics server (set " +
				EnvPrefix + "_ANALYTICS_URL for one)")
	}
	return stop, nil
}

// printDevHint writes the curl command that scans an image with the
// running service, naming an image of the local daemon that carries a
// git-url label when there is one. The API token, if any, is referred to
// by its variable, never written out.
func printDevHint(ctx context.Context, w io.Writer, cfg Config, addr string, sources map[string]scan.LabelSource) {
	base, err := probe.LocalURL(addr, "")
	if err != nil {
		return
	}
	img, found := labelledImage(ctx, sources)
	auth := ""
	if cfg.APIToken != "" {
		auth = `-H "Authorization: Bearer $` + EnvPrefix + `_API_TOKEN" `
	}
	fmt.Fprintf(w, "\nThe scan service is ready (development mode): %s/ui/ shows the scans.\n", base)
	if found {
		fmt.Fprintf(w, "Scan %s, an image of the local Docker daemon with a git-url label:\n\n", img)
	} else {
		fmt.Fprintf(w, "Scan an image of the local Docker daemon that has the labels git-url, git-sha and email-ids\n(none found now; replace %s with its name):\n\n", img)
	}
	fmt.Fprintf(w, "  curl -s %s-d %s '%s/scan?wait=30s'\n\n", auth, shellQuote(img), base)
}

// labelledImage returns the first tag of a daemon image labelled git-url,
// or a placeholder and false.
func labelledImage(ctx context.Context, sources map[string]scan.LabelSource) (string, bool) {
	const placeholder = "myimage:1.0"
	d, ok := sources[scan.SourceDaemon].(*docker.Source)
	if !ok {
		return placeholder, false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	images, err := d.Client().ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", scan.LabelGitURL))})
	if err != nil {
		return placeholder, false
	}
	for _, img := range images {
		for _, tag := range img.RepoTags {
			if tag != "" && !strings.Contains(tag, "<none>") {
				return tag, true
			}
		}
	}
	return placeholder, false
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
