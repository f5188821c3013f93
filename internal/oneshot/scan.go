package oneshot

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/client"
	"github.com/rs/zerolog"

	"github.com/centos-pipeline/analytics-scanner/internal/analytics"
	"github.com/centos-pipeline/analytics-scanner/internal/atomicscan"
	"github.com/centos-pipeline/analytics-scanner/internal/docker"
	"github.com/centos-pipeline/analytics-scanner/internal/redact"
	"github.com/centos-pipeline/analytics-scanner/internal/registry"
	"github.com/centos-pipeline/analytics-scanner/internal/scan"
	"github.com/centos-pipeline/analytics-scanner/internal/version"
)

// scanOptions is the scan command's configuration, from flags over the
// environment.
type scanOptions struct {
	scanType string
	image    string
	server   string
	scanIn   string
	scanOut  string
	// scanOutGiven is true when --scanout was on the command line: only
	// then may a missing directory be created (atomic always mounts one).
	scanOutGiven bool
	json         bool
	timeout      time.Duration
	strict       bool
	verbose      bool
	version      bool
	// source is where images are read: daemon, registry, docker-archive
	// or oci; platform, insecure and labelKeys configure the others.
	source    string
	platform  string
	insecure  string
	labelKeys string
	// Secrets come only from the environment: a flag's value would show
	// in `ps`.
	token            string
	threeScaleSecret string
	// retryInitial, when set, replaces the first wait between retries (the
	// later ones scale with it). Not in the usage text: tests use it to
	// retry in milliseconds; users keep the default.
	retryInitial time.Duration
}

// envValue reads a variable, trimmed: atomic passes undefined variables as
// "", and a value pasted with a trailing newline means the same as without.
func envValue(getenv func(string) string, name string) string {
	return strings.TrimSpace(getenv(name))
}

func parseScanArgs(args []string, getenv func(string) string) (scanOptions, error) {
	o := scanOptions{
		image:            envValue(getenv, "IMAGE_NAME"),
		server:           envValue(getenv, "SERVER"),
		token:            envValue(getenv, "ANALYTICS_TOKEN"),
		threeScaleSecret: envValue(getenv, "ANALYTICS_3SCALE_SECRET"),
	}
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.image, "image", o.image, "")
	fs.StringVar(&o.server, "server", o.server, "")
	fs.StringVar(&o.scanIn, "scanin", atomicscan.DefaultScanIn, "")
	fs.StringVar(&o.scanOut, "scanout", atomicscan.DefaultScanOut, "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.DurationVar(&o.timeout, "timeout", analytics.DefaultTimeout, "")
	fs.BoolVar(&o.strict, "strict", false, "")
	fs.BoolVar(&o.verbose, "verbose", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	fs.StringVar(&o.source, "source", scan.SourceDaemon, "")
	fs.StringVar(&o.platform, "platform", "linux/amd64", "")
	fs.StringVar(&o.insecure, "insecure-registries", "", "")
	fs.StringVar(&o.labelKeys, "label-keys", "", "")
	fs.DurationVar(&o.retryInitial, "retry-initial", 0, "")

	// Flags may come after SCAN_TYPE too (`scan register --json`): the
	// flag package stops at the first argument that is not one.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	o.image = strings.TrimSpace(o.image)
	o.server = strings.TrimSpace(o.server)
	fs.Visit(func(f *flag.Flag) { o.scanOutGiven = o.scanOutGiven || f.Name == "scanout" })

	o.scanType = scan.ScanTypeRegister
	if len(positional) == 1 {
		var ok bool
		// An empty argument is a mistake, not a request for the default.
		if o.scanType, ok = scan.ResolveScanType(positional[0]); !ok || positional[0] == "" {
			return o, fmt.Errorf("unknown scan type %q: the scan types are %q", positional[0], scan.ScanTypes)
		}
	}
	switch {
	case len(positional) > 1:
		return o, fmt.Errorf("too many arguments %q: want at most one SCAN_TYPE", positional)
	case o.timeout <= 0:
		return o, fmt.Errorf("--timeout must be positive, got %s", o.timeout)
	case o.retryInitial < 0:
		return o, fmt.Errorf("--retry-initial must not be negative, got %s", o.retryInitial)
	case strings.TrimSpace(o.scanIn) == "":
		return o, errors.New("--scanin must not be empty")
	case strings.TrimSpace(o.scanOut) == "":
		return o, errors.New("--scanout must not be empty")
	case !slices.Contains(oneshotSources, o.source):
		return o, fmt.Errorf("--source %q: want one of %s", o.source, strings.Join(oneshotSources, ", "))
	}
	if _, err := registry.ParsePlatform(o.platform); err != nil {
		return o, fmt.Errorf("--platform: %w", err)
	}
	if _, err := scan.ParseLabelKeys(o.labelKeys); err != nil {
		return o, fmt.Errorf("--label-keys: %w", err)
	}
	return o, nil
}

// retryPolicy is scan.DefaultRetry, with its waits scaled when
// --retry-initial is given. The number of tries and the overall bound stay.
func (o scanOptions) retryPolicy() scan.RetryPolicy {
	p := scan.DefaultRetry
	if o.retryInitial > 0 {
		ratio := float64(p.MaxInterval) / float64(p.InitialInterval)
		p.InitialInterval = o.retryInitial
		p.MaxInterval = time.Duration(float64(o.retryInitial) * ratio)
	}
	return p
}

func newLogger(w io.Writer, verbose bool) zerolog.Logger {
	level := zerolog.InfoLevel
	if verbose {
		level = zerolog.DebugLevel
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: w, NoColor: true, TimeFormat: time.RFC3339}).
		Level(level).With().Timestamp().Logger()
}

// job is one image to scan and where its results go. An empty folder means
// the folder is decided once the image has been inspected.
type job struct {
	target scan.Target
	folder string
}

func runScan(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseScanArgs(args, getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stdout, scanUsage, analytics.DefaultTimeout)
		return exitOK
	case err != nil:
		return usageError(stderr, "scan", err)
	case o.version:
		fmt.Fprintf(stdout, "scan %s\n", versionString())
		return exitOK
	}
	// Everything the scan writes is scrubbed of its credentials: an
	// analytics server's answer, quoted in results and logs, may repeat
	// them.
	scrub := o.scrubber()
	stdout, stderr = scrub.Writer(stdout), scrub.Writer(stderr)
	results := atomicscan.Results{ScanOut: o.scanOut, Scrub: scrub}
	log := newLogger(stderr, o.verbose)

	var inputs []atomicscan.Input
	if o.source == scan.SourceDaemon {
		// Only the daemon's images are mounted by atomic; the other
		// sources scan IMAGE_NAME alone.
		if inputs, err = atomicscan.ScanInputs(o.scanIn); err != nil {
			return usageError(stderr, "scan", fmt.Errorf("--scanin %s: %w", o.scanIn, err))
		}
	}

	source, closeSource, err := newSource(getenv, o)
	if err != nil {
		return usageError(stderr, "scan", err)
	}
	defer closeSource()
	// Before any scan: a result that cannot be written should be said
	// before a status line claims anything.
	if code, err := prepareScanOut(o); err != nil {
		if code == exitUsage {
			return usageError(stderr, "scan", err)
		}
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return code
	}
	labelKeys, _ := scan.ParseLabelKeys(o.labelKeys) // checked by parseScanArgs
	client, clientErr := newAnalyticsClient(o)
	serverURL := ""
	if client != nil {
		serverURL = client.ServerURL()
	}
	log.Debug().Str("image", o.image).Str("server", serverURL).Str("scanin", o.scanIn).
		Str("scanout", o.scanOut).Int("inputs", len(inputs)).Str("timeout", o.timeout.String()).
		Bool("token", o.token != "").Bool("3scale_secret", o.threeScaleSecret != "").Msg("configuration")
	if clientErr != nil {
		// Not fatal: every result will say so, as atomic users only see
		// the results.
		log.Warn().Err(clientErr).Msg("no analytics server")
	}
	scanner := &scan.Scanner{
		Source:       source,
		LabelKeys:    labelKeys,
		RegistrarErr: clientErr,
		Retry:        o.retryPolicy(),
		Log:          log,
	}
	if client != nil {
		// Only a non-nil client: a nil *Client in the interface would
		// count as a registrar.
		scanner.Registrar = client
	}

	code := exitOK
	failed, notReady := false, false
	for _, j := range plan(ctx, o, inputs, source, log) {
		r, attempt := scanner.ScanAttempt(ctx, j.target)
		folder := j.folder
		if folder == "" {
			folder = resultFolder(r, o.image)
		}
		ev := log.Info()
		if !r.Successful {
			if attempt.Report != nil && attempt.Report.State == scan.ReportPending {
				notReady = true
			} else {
				failed = true
			}
			ev = log.Warn().Strs("errors", r.Errors)
		}
		ev.Str("image", r.ScanResults.ImageName).Str("id", r.UUID).Bool("successful", r.Successful).Msg("scanned")

		var document any = r
		write := func() (string, error) { return results.Write(folder, r) }
		if o.scanType == scan.ScanTypeReport {
			rr := reportResult(r, attempt)
			document = rr
			write = func() (string, error) { return results.WriteReport(folder, rr) }
		}
		if dir, err := write(); err != nil {
			log.Error().Err(err).Str("scanout", o.scanOut).Str("folder", folder).Msg("could not write the results")
			code = exitWrite
		} else {
			log.Debug().Str("dir", dir).Msg("results written")
		}
		status := "False"
		if r.Successful {
			status = "True"
		}
		// The first words stay what atomic users grep for; the image
		// comes after, so that several images can be told apart.
		fmt.Fprintf(stdout, "Scanner execution status: %s (%s)\n", status, statusImage(r))
		if o.json {
			doc, err := atomicscan.Marshal(document)
			if err != nil {
				log.Error().Err(err).Msg("encode result")
				code = exitWrite
				continue
			}
			_, _ = stdout.Write(doc)
		}
	}
	switch {
	case code != exitOK || !o.strict:
	case failed:
		code = exitUnsuccessful
	case notReady:
		code = exitNotReady
	}
	return code
}

// scrubber masks the scan's credentials: the token, the 3scale secret and a
// password in SERVER.
func (o scanOptions) scrubber() *redact.Scrubber {
	secrets := []string{o.token, o.threeScaleSecret}
	if u, err := url.Parse(o.server); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
	}
	return redact.New(secrets...)
}

// statusImage names a scan's image on its status line: its name and short
// id, whichever are known.
func statusImage(r scan.Result) string {
	name, id := r.ScanResults.ImageName, strings.TrimPrefix(r.UUID, "sha256:")
	if !scan.LooksLikeID(id) {
		id = ""
	}
	id = id[:min(len(id), 12)]
	switch {
	case name != "" && id != "" && !strings.HasPrefix(id, strings.TrimPrefix(name, "sha256:")):
		return "image " + name + ", id " + id
	case id != "":
		return "image " + id
	case name != "":
		return "image " + name
	}
	return "no image"
}

// prepareScanOut makes sure results can be written before anything is
// scanned. A missing --scanout is created only when it was given: the
// default, /scanout, is atomic's mount, and creating it at the root of a
// host is never what a user meant. It returns the exit code of a failure.
func prepareScanOut(o scanOptions) (int, error) {
	info, err := os.Stat(o.scanOut)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !o.scanOutGiven:
		return exitUsage, fmt.Errorf("%s does not exist: atomic mounts it when it runs the scanner; elsewhere pass --scanout DIR (created if missing)", o.scanOut)
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(o.scanOut, 0o755); err != nil {
			return exitWrite, fmt.Errorf("cannot write results: %w", err)
		}
		return exitOK, nil
	case err != nil:
		return exitWrite, fmt.Errorf("cannot write results: %w", err)
	case !info.IsDir():
		return exitWrite, fmt.Errorf("cannot write results: --scanout %s is not a directory", o.scanOut)
	}
	// Permissions alone do not tell (root, read-only mounts, ACLs): try.
	f, err := os.CreateTemp(o.scanOut, ".write-test-*")
	if err != nil {
		return exitWrite, fmt.Errorf("cannot write results: %w", err)
	}
	_ = f.Close()
	_ = os.Remove(f.Name())
	return exitOK, nil
}

// reportResult is the result document of a `report` scan: the scan's, with
// the report's state, summary and the report itself, and a Summary line
// that gives the counts.
func reportResult(r scan.Result, a *scan.Attempt) atomicscan.ReportResult {
	part := atomicscan.ReportPart{State: scan.ReportFailed}
	if ans := a.Report; ans != nil {
		part = atomicscan.NewReportPart(ans.State, ans.Report, ans.Message)
	}
	if r.Successful {
		r.Summary = atomicscan.ReportSummaryText(part)
	}
	return atomicscan.ReportResult{Result: r, ReportPart: part}
}

// plan lists what to scan: the folders atomic mounted, each by its own id,
// or else IMAGE_NAME.
func plan(ctx context.Context, o scanOptions, inputs []atomicscan.Input, source scan.LabelSource, log zerolog.Logger) []job {
	if len(inputs) == 0 {
		return []job{{target: scan.Target{Ref: o.image, ScanType: o.scanType}}}
	}
	// The folder of IMAGE_NAME's image is shown under that name, the one
	// the user asked for; the others under their first tag or id.
	nameID := ""
	if o.image != "" {
		img, err := source.Inspect(ctx, o.image)
		if err != nil {
			log.Debug().Err(err).Str("image", o.image).Msg("IMAGE_NAME not resolved; images are shown by tag or id")
		}
		nameID = img.ShortID()
	}
	jobs := make([]job, 0, len(inputs))
	for _, in := range inputs {
		t := scan.Target{Ref: in.Ref, ScanType: o.scanType}
		if nameID != "" && in.Ref == nameID {
			t.Name = o.image
		}
		jobs = append(jobs, job{target: t, folder: in.Folder})
	}
	return jobs
}

// resultFolder names the folder of a scan of IMAGE_NAME: the image's full id
// when it was found, as atomic would name it, else the name made safe.
func resultFolder(r scan.Result, image string) string {
	if len(r.UUID) == 64 && scan.LooksLikeID(r.UUID) {
		return r.UUID
	}
	return atomicscan.FolderName(image)
}

// oneshotSources are the values of --source.
var oneshotSources = []string{scan.SourceDaemon, scan.SourceRegistry, scan.SourceDockerArchive, scan.SourceOCILayout}

// newSource returns the label source --source names. The others need no
// daemon: a registry is read over the distribution API, an archive or a
// layout from the file system.
func newSource(getenv func(string) string, o scanOptions) (scan.LabelSource, func(), error) {
	platform, _ := registry.ParsePlatform(o.platform) // checked by parseScanArgs
	var src scan.LabelSource
	switch o.source {
	case scan.SourceDaemon:
		src, closeFn := newDaemonSource(getenv, o.scanIn)
		return src, closeFn, nil
	case scan.SourceRegistry:
		r, err := registry.New(registry.Options{Platform: platform, Insecure: strings.Split(o.insecure, ",")})
		if err != nil {
			return nil, nil, fmt.Errorf("--insecure-registries: %w", err)
		}
		src = r
	case scan.SourceDockerArchive:
		src = registry.ArchiveSource{}
	case scan.SourceOCILayout:
		src = registry.LayoutSource{Platform: platform}
	}
	return imageSource{LabelSource: src, scanIn: o.scanIn, source: o.source}, func() {}, nil
}

// newDaemonSource connects to the Docker daemon. DOCKER_HOST is taken from getenv
// so that tests can point it elsewhere; the other DOCKER_* variables are the
// docker client's own business. A client that cannot be made (a malformed
// DOCKER_HOST) fails every inspection, so that the results say why.
func newDaemonSource(getenv func(string) string, scanIn string) (scan.LabelSource, func()) {
	var opts []client.Opt
	if host := envValue(getenv, "DOCKER_HOST"); host != "" {
		opts = append(opts, client.WithHost(host))
	}
	var src scan.LabelSource
	closeFn := func() {}
	d, err := docker.New(opts...)
	if err != nil {
		src = brokenSource{err: fmt.Errorf("cannot use the Docker daemon (check DOCKER_HOST): %w", err)}
	} else {
		src = d
		closeFn = func() { _ = d.Close() }
	}
	return imageSource{LabelSource: src, scanIn: scanIn, source: scan.SourceDaemon}, closeFn
}

// imageSource explains an empty reference: it means no IMAGE_NAME was given
// and atomic mounted nothing, which the daemon's "not found" would hide.
type imageSource struct {
	scan.LabelSource
	scanIn string
	source string
}

func (s imageSource) Inspect(ctx context.Context, ref string) (scan.Image, error) {
	if strings.TrimSpace(ref) == "" {
		if s.source != scan.SourceDaemon {
			return scan.Image{}, fmt.Errorf("no image to scan: IMAGE_NAME is not set (nor --image); with --source %s it names the image", s.source)
		}
		return scan.Image{}, fmt.Errorf("no image to scan: IMAGE_NAME is not set (nor --image) and %s holds no image folders", s.scanIn)
	}
	return s.LabelSource.Inspect(ctx, ref)
}

type brokenSource struct{ err error }

func (s brokenSource) Inspect(context.Context, string) (scan.Image, error) {
	return scan.Image{}, s.err
}

// newAnalyticsClient returns the client for SERVER, or the error that every
// result will carry when there is none.
func newAnalyticsClient(o scanOptions) (*analytics.Client, error) {
	if o.server == "" {
		return nil, errors.New("SERVER is not set: set the SERVER environment variable (or --server) to the analytics server's URL, e.g. http://host/api/v1")
	}
	c, err := analytics.New(analytics.Config{
		ServerURL:        o.server,
		Token:            o.token,
		ThreeScaleSecret: o.threeScaleSecret,
		Timeout:          o.timeout,
		UserAgent:        "analytics-scanner-scan/" + version.Get().Short(),
	})
	if err != nil {
		return nil, fmt.Errorf("SERVER is invalid: %w", err)
	}
	return c, nil
}
