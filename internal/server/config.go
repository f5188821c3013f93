package server

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/api"
	"github.com/centos-pipeline/analytics-scanner/internal/envload"
	"github.com/centos-pipeline/analytics-scanner/internal/notify"
	"github.com/centos-pipeline/analytics-scanner/internal/registry"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
)

// EnvPrefix prefixes every variable: SCANNER_ADDR, SCANNER_DATABASE_URL...
const EnvPrefix = "SCANNER"

// Config is the server's whole configuration. LoadConfig reads it from the
// environment; tests build it directly. Docker itself is configured by
// Docker's own variables (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH,
// DOCKER_API_VERSION).
type Config struct {
	Addr        string `envconfig:"ADDR" default:":8080" desc:"listen address"`
	DatabaseURL string `envconfig:"DATABASE_URL" desc:"postgres://... for PostgreSQL (any number of replicas); empty: embedded SQLite in DATA_DIR"`
	DataDir     string `envconfig:"DATA_DIR" default:"data" desc:"directory of the embedded SQLite database"`

	AnalyticsURL          string        `envconfig:"ANALYTICS_URL" desc:"analytics server base URL: http://host (seed layout) or https://host/api/v1 (real server)"`
	AnalyticsToken        string        `secret:"true" envconfig:"ANALYTICS_TOKEN" desc:"Bearer token for the analytics server; never logged"`
	Analytics3scaleSecret string        `secret:"true" envconfig:"ANALYTICS_3SCALE_SECRET" desc:"x-3scale-account-secret for the analytics server; never logged"`
	AnalyticsTimeout      time.Duration `envconfig:"ANALYTICS_TIMEOUT" default:"15s" desc:"timeout of each request to the analytics server"`
	AllowedServers        []string      `envconfig:"ALLOWED_SERVERS" desc:"comma-separated analytics URLs a request may choose with \"server\"; empty: none"`

	Workers         int           `envconfig:"WORKERS" default:"4" desc:"scans this replica runs at once"`
	MaxAttempts     int           `envconfig:"MAX_ATTEMPTS" default:"250" desc:"cap on the tries of a scan failing transiently (RETRY_FOR is the budget that normally ends them)"`
	RetryBase       time.Duration `envconfig:"RETRY_BASE" default:"2s" desc:"first retry delay; doubles, with jitter, up to RETRY_MAX"`
	RetryMax        time.Duration `envconfig:"RETRY_MAX" default:"30s" desc:"longest retry delay: a scan waiting out an outage finishes within about this long of its end"`
	RetryFor        time.Duration `envconfig:"RETRY_FOR" default:"1h" desc:"time budget of a scan failing transiently, and of its error report: no new try starts once this long has passed since the first"`
	ReregisterAfter time.Duration `envconfig:"REREGISTER_AFTER" default:"24h" desc:"a repository and commit registered with a server within this long is not sent again: the scan succeeds naming that registration (0: every scan registers)"`
	JobTimeout      time.Duration `envconfig:"JOB_TIMEOUT" default:"1m" desc:"time limit of one scan attempt (an inspection, bounded at 30 s, and one analytics request)"`
	Retention       time.Duration `envconfig:"RETENTION" default:"720h" desc:"how long finished scan records are kept"`
	MaxQueueDepth   int           `envconfig:"MAX_QUEUE_DEPTH" default:"1000" desc:"unfinished scans beyond which POST /scan answers 429"`
	MaxWait         time.Duration `envconfig:"MAX_WAIT" default:"60s" desc:"longest ?wait= a client may ask for"`
	ReadTimeout     time.Duration `envconfig:"READ_TIMEOUT" default:"30s" desc:"time a request's body may take to arrive; slower clients get 408 and are disconnected"`

	ReportInterval time.Duration `envconfig:"REPORT_INTERVAL" default:"30m" desc:"after a registration, how often the commit's report is asked for until it is final"`
	ReportDeadline time.Duration `envconfig:"REPORT_DEADLINE" default:"24h" desc:"how long after the registration a report is asked for before it is timed_out"`

	NotifyURL        string   `envconfig:"NOTIFY_URL" desc:"POST every scan's record there, signed, when the scan and then its report are final; needs NOTIFY_SECRET"`
	NotifySecret     string   `secret:"true" envconfig:"NOTIFY_SECRET" desc:"HMAC-SHA256 key of the callbacks' X-Scanner-Signature-256; never logged"`
	AllowedCallbacks []string `envconfig:"ALLOWED_CALLBACKS" desc:"comma-separated URLs a request may choose with \"callback_url\"; empty: none; needs NOTIFY_SECRET"`

	APIToken        string        `secret:"true" envconfig:"API_TOKEN" desc:"when set, all but /healthz and /readyz need Authorization: Bearer <token>; the page asks for it once"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"30s" desc:"on SIGTERM, how long running scans may take to finish"`
	LogLevel        string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat       string        `envconfig:"LOG_FORMAT" desc:"json or console; empty: console on a terminal, else json"`

	Source             string        `envconfig:"SOURCE" default:"daemon" desc:"where a scan reads the image unless the request says: daemon or registry"`
	Sources            []string      `envconfig:"SOURCES" desc:"comma-separated sources requests may choose (daemon, registry); empty: SOURCE alone. Without daemon no Docker daemon is needed"`
	Platform           string        `envconfig:"PLATFORM" default:"linux/amd64" desc:"the platform read from a multi-platform image in a registry: os/arch[/variant]"`
	InsecureRegistries []string      `envconfig:"INSECURE_REGISTRIES" desc:"comma-separated registries (host or host:port) spoken to over plain HTTP; loopback ones always are"`
	RegistryTimeout    time.Duration `envconfig:"REGISTRY_TIMEOUT" default:"30s" desc:"bound on reading one image from a registry (manifest, index, config)"`
	LabelKeys          string        `envconfig:"LABEL_KEYS" desc:"keys standing in for a missing label, e.g. git-url=org.opencontainers.image.source,vcs-url;email-ids= (empty: the documented default order)"`
	HookToken          string        `secret:"true" envconfig:"HOOK_TOKEN" desc:"shared secret registries send as Authorization: Bearer to /hooks/*; empty: the hooks are off; never logged"`
	HookRegistryHost   string        `envconfig:"HOOK_REGISTRY_HOST" desc:"host[:port] the scanner reaches the notifying registry at, instead of the host its events name"`
	HookUntagged       bool          `envconfig:"HOOK_UNTAGGED" default:"false" desc:"also scan manifests pushed without a tag (an index's platform entries usually are)"`

	PprofAddr   string `envconfig:"PPROF_ADDR" desc:"host:port of a separate listener serving Go's profiles on /debug/pprof/ (no authentication); empty: off. Loopback only unless PPROF_PUBLIC"`
	PprofPublic bool   `envconfig:"PPROF_PUBLIC" default:"false" desc:"allow a PPROF_ADDR that is not a loopback address"`

	// Version is the build's version, shown in logs and the User-Agent.
	Version string `ignored:"true"`
	// Dev is `server --dev` (see LoadDevConfig): an empty DataDir is a
	// temporary directory, an empty AnalyticsURL an in-process emulator,
	// and once listening the service writes to DevOut how to scan with it.
	Dev    bool      `ignored:"true"`
	DevOut io.Writer `ignored:"true"`
}

// usage is what `server --help` shows before the table of variables.
const usage = `Usage:
  server              run the scan service (configured by the environment below)
  server --dev        the same for trying it out, never for production: on
                      127.0.0.1:8080 unless SCANNER_ADDR is set; SQLite in a
                      temporary directory unless SCANNER_DATA_DIR or
                      SCANNER_DATABASE_URL is set; without SCANNER_ANALYTICS_URL,
                      an analytics emulator in the process; prints a curl
                      command that scans an image
  server healthcheck [URL]
                      GET URL (default: /healthz on SCANNER_ADDR, at 127.0.0.1 when
                      it names no host) and exit 0 if it answers 200: the image has
                      no shell or curl for health checks
  server --help | --version

Exit status: 0 after a clean shutdown (SIGTERM or SIGINT), 1 on a start-up
or runtime error (bad configuration, address in use, database unreachable),
2 on a usage error.

Docker is configured by its own variables: DOCKER_HOST, DOCKER_TLS_VERIFY,
DOCKER_CERT_PATH, DOCKER_API_VERSION. Registry credentials come from
docker's config.json (DOCKER_CONFIG) or REGISTRY_AUTH_FILE.

Environment:
`

// PrintUsage writes the command's usage and every variable with its default
// and meaning, the table made from Config's tags.
func PrintUsage(w io.Writer) error {
	if _, err := io.WriteString(w, usage); err != nil {
		return err
	}
	return envload.PrintTable(w, EnvPrefix, &Config{})
}

// LoadConfig reads the configuration from the environment and checks it.
// An empty variable counts as unset, so that its default applies: compose
// files and Helm charts pass empty values for unset ones. Every error names
// the variable at fault.
func LoadConfig() (Config, error) {
	var c Config
	if err := envload.Process(EnvPrefix, &c); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	return c, c.check()
}

// check refuses values the server cannot run with, and normalises the
// allow-list so that requests are matched against it exactly.
func (c *Config) check() error {
	switch {
	case c.Workers < 1:
		return fmt.Errorf("configuration: %s_WORKERS must be at least 1", EnvPrefix)
	case c.MaxAttempts < 1:
		return fmt.Errorf("configuration: %s_MAX_ATTEMPTS must be at least 1", EnvPrefix)
	case c.MaxQueueDepth < 1:
		return fmt.Errorf("configuration: %s_MAX_QUEUE_DEPTH must be at least 1", EnvPrefix)
	case c.MaxWait <= 0 || c.MaxWait > 10*time.Minute:
		// Not 0 either: the API would read it as its default of 60s
		// while the HTTP server's write timeout, MAX_WAIT + 30s, would
		// cut such waits at 30s.
		return fmt.Errorf("configuration: %s_MAX_WAIT must be more than 0 and at most 10m", EnvPrefix)
	}
	// A negative JOB_TIMEOUT would mean no timeout to River while its
	// rescuer still deemed a scan running for 30 s dead and ran it again;
	// the other durations have no meaningful negative either. RETENTION
	// does: a negative one keeps records forever.
	for name, d := range map[string]time.Duration{
		"ANALYTICS_TIMEOUT": c.AnalyticsTimeout,
		"RETRY_BASE":        c.RetryBase,
		"RETRY_MAX":         c.RetryMax,
		"RETRY_FOR":         c.RetryFor,
		"REREGISTER_AFTER":  c.ReregisterAfter,
		"JOB_TIMEOUT":       c.JobTimeout,
		"SHUTDOWN_TIMEOUT":  c.ShutdownTimeout,
		"READ_TIMEOUT":      c.ReadTimeout,
	} {
		if d < 0 {
			return fmt.Errorf("configuration: %s_%s must not be negative", EnvPrefix, name)
		}
	}
	// Zero means the default to the queue (tests building Config rely on
	// that); a negative one means nothing.
	for name, d := range map[string]time.Duration{"REPORT_INTERVAL": c.ReportInterval, "REPORT_DEADLINE": c.ReportDeadline} {
		if d < 0 {
			return fmt.Errorf("configuration: %s_%s must not be negative", EnvPrefix, name)
		}
	}
	if c.NotifyURL != "" {
		if _, err := notify.ParseURL(c.NotifyURL); err != nil {
			return fmt.Errorf("configuration: %s_NOTIFY_URL: %w", EnvPrefix, err)
		}
	}
	if _, err := api.ParseAllowList(c.AllowedCallbacks); err != nil {
		return fmt.Errorf("configuration: %s_ALLOWED_CALLBACKS: %w", EnvPrefix, err)
	}
	if c.NotifySecret == "" && (c.NotifyURL != "" || len(c.AllowedCallbacks) > 0) {
		// Unsigned callbacks could be forged by anyone who can reach
		// the receiver.
		return fmt.Errorf("configuration: %s_NOTIFY_URL and %s_ALLOWED_CALLBACKS need %s_NOTIFY_SECRET: callbacks are always signed", EnvPrefix, EnvPrefix, EnvPrefix)
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil {
		// zerolog's own message says it is "defaulting to NoLevel", which
		// it is not: the server refuses to start.
		return fmt.Errorf("configuration: %s_LOG_LEVEL is %q; use debug, info, warn or error", EnvPrefix, c.LogLevel)
	}
	if _, err := logWriter(io.Discard, c.LogFormat, keep); err != nil {
		return err
	}
	if c.AnalyticsURL != "" {
		// Checked here, before anything is opened, rather than when the
		// first scan builds its client.
		if _, err := analytics.ParseServerURL(c.AnalyticsURL); err != nil {
			return fmt.Errorf("configuration: %s_ANALYTICS_URL: %w", EnvPrefix, err)
		}
		// The client also refuses credentials it cannot send (a newline
		// in a token); its errors never quote them.
		if _, err := analytics.New(analytics.Config{ServerURL: c.AnalyticsURL,
			Token: c.AnalyticsToken, ThreeScaleSecret: c.Analytics3scaleSecret}); err != nil {
			return fmt.Errorf("configuration: %s_ANALYTICS_TOKEN or %s_ANALYTICS_3SCALE_SECRET: %w", EnvPrefix, EnvPrefix, err)
		}
	}
	if _, err := api.ParseAllowList(c.AllowedServers); err != nil {
		return fmt.Errorf("configuration: %s_ALLOWED_SERVERS: %w", EnvPrefix, err)
	}
	if err := checkPprofAddr(c.PprofAddr, c.PprofPublic); err != nil {
		return err
	}
	return c.checkSources()
}

// serviceSources are the sources the service can read; the one-shot scan
// also reads archives and layouts, which a service has no business opening.
var serviceSources = []string{scan.SourceDaemon, scan.SourceRegistry}

// enabledSources is SOURCES, or SOURCE alone when SOURCES is empty.
func (c *Config) enabledSources() []string {
	var out []string
	for _, s := range c.Sources {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = []string{c.Source}
	}
	return out
}

func (c *Config) enabled(source string) bool { return slices.Contains(c.enabledSources(), source) }

// checkSources refuses source settings the service cannot serve; an empty
// SOURCE or PLATFORM (a Config built in code) means its default.
func (c *Config) checkSources() error {
	if c.Source == "" {
		c.Source = scan.SourceDaemon
	}
	if c.Platform == "" {
		c.Platform = "linux/amd64"
	}
	if !slices.Contains(serviceSources, c.Source) {
		return fmt.Errorf("configuration: %s_SOURCE is %q; use daemon or registry", EnvPrefix, c.Source)
	}
	for _, s := range c.enabledSources() {
		if !slices.Contains(serviceSources, s) {
			return fmt.Errorf("configuration: %s_SOURCES names %q; use daemon and/or registry", EnvPrefix, s)
		}
	}
	if !c.enabled(c.Source) {
		return fmt.Errorf("configuration: %s_SOURCE %q is not among %s_SOURCES", EnvPrefix, c.Source, EnvPrefix)
	}
	if _, err := registry.ParsePlatform(c.Platform); err != nil {
		return fmt.Errorf("configuration: %s_PLATFORM: %w", EnvPrefix, err)
	}
	if c.RegistryTimeout < 0 {
		return fmt.Errorf("configuration: %s_REGISTRY_TIMEOUT must not be negative", EnvPrefix)
	}
	if _, err := scan.ParseLabelKeys(c.LabelKeys); err != nil {
		return fmt.Errorf("configuration: %s_LABEL_KEYS: %w", EnvPrefix, err)
	}
	if c.HookToken != "" && !c.enabled(scan.SourceRegistry) {
		// The hooks queue registry scans, which would all fail.
		return fmt.Errorf("configuration: %s_HOOK_TOKEN is set but the registry source is not enabled; add registry to %s_SOURCES", EnvPrefix, EnvPrefix)
	}
	if strings.ContainsAny(c.HookToken, " \t\r\n") {
		return fmt.Errorf("configuration: %s_HOOK_TOKEN holds white space, which a Bearer header cannot carry", EnvPrefix)
	}
	if h := c.HookRegistryHost; h != "" && (strings.ContainsAny(h, "/@ \t") || (!strings.ContainsAny(h, ".:") && h != "localhost")) {
		return fmt.Errorf("configuration: %s_HOOK_REGISTRY_HOST is %q; want host[:port] with a '.' or a port, or localhost", EnvPrefix, h)
	}
	return nil
}
