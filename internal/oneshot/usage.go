package oneshot

import (
	"fmt"
	"io"
)

// The usage texts are written by hand rather than by flag.PrintDefaults so
// that they can explain the environment and the exit codes, and so that the
// test-only flags stay out of them.

const scanUsage = `Usage:
  scan [flags] [SCAN_TYPE]        scan images and write their results
  scan install [--root DIR] [--image NAME]
                                  write the atomic scanner configuration
  scan uninstall [--root DIR]     remove it
  scan --version

The one-shot scanner that ` + "`atomic scan --scanner analytics-integration`" + ` runs.
For each image it reads the labels git-url, git-sha and email-ids from the
Docker daemon (or, with --source, from a registry, a docker save archive or an
OCI layout, with no daemon) and registers them with the analytics server
(POST SERVER/register). A missing label is taken from the standard
provenance keys (org.opencontainers.image.source, .revision, .authors, then
label-schema's and OpenShift's; see --label-keys); the result's
"Label Sources" says which key each value came from.
When anything fails it reports every error to SERVER/scanner-error, when a
SERVER is known, and says why in the result files.

SCAN_TYPE is one of:
  register   (the default) register the labels with the analytics server
  report     ask once for the analysis report of git-url at git-sha
             (GET SERVER/report): a report is successful, with its
             dependencies and CVEs in the result and each CVE in the json
             file's Vulnerabilities; a repository without a lock file is
             successful and says so; a report not ready yet is unsuccessful
             (exit 4 with --strict)

What is scanned: every folder under --scanin (atomic mounts each image or
container there as a folder named by its id), each by its own id. With no
such folder, or no --scanin directory at all, the image IMAGE_NAME. With a
--source other than daemon, IMAGE_NAME alone:
  registry         a reference: registry.example/team/app:1 or ...@sha256:...
  docker-archive   PATH or PATH:REPO:TAG of a docker save tarball
  oci              DIR or DIR:NAME of an OCI image layout (NAME is the
                   org.opencontainers.image.ref.name annotation)

Results, per image, in <scanout>/<id>/ (or <scanout>/<image name>/ when
IMAGE_NAME could not be found, <scanout>/unknown-image/ without IMAGE_NAME):
  scanner-analytics-integration.json   the result document
  json                                 the summary atomic reads and shows
and on stdout one line per image: "Scanner execution status: True|False"
followed by the image, e.g. "(image myimage:1.0, id 0123456789ab)".

Flags:
  --image NAME       image under test; overrides IMAGE_NAME
  --server URL       analytics server; overrides SERVER
  --scanin DIR       where atomic mounts the images (default /scanin)
  --scanout DIR      where to write the results (default /scanout, which
                     atomic mounts: only a DIR given here is created when
                     missing)
  --json             also print each result document on stdout, after
                     its status line
  --timeout DUR      bound on each request to the server (default %s)
  --strict           exit 1 when any scan was unsuccessful
  --verbose          debug logs on stderr (default: info)
  --source SRC       daemon (default), registry, docker-archive or oci
  --platform P       the platform read from a multi-platform image
                     (registry, oci), os/arch[/variant] (default linux/amd64)
  --insecure-registries LIST
                     comma-separated registries (host or host:port) read
                     over plain HTTP; loopback ones always are
  --label-keys SPEC  keys standing in for a missing label, as
                     LABEL=KEY,KEY;... e.g. "git-url=vcs-url;email-ids="
                     (a label named takes only its keys; "LABEL=" none)
  --version          print the version and exit
  -h, --help         print this help and exit

Environment:
  IMAGE_NAME                the image under test (name or id); empty counts
                            as unset
  SERVER                    the analytics server's URL, http:// or https://,
                            with any path prefix kept: http://host/api/v1
                            registers at http://host/api/v1/register; empty
                            counts as unset
  ANALYTICS_TOKEN           sent as "Authorization: Bearer <token>"
  ANALYTICS_3SCALE_SECRET   sent as "x-3scale-account-secret"
                            (secrets are read only from the environment, so
                            that they never show in ps, and are never logged
                            or written to a result)
  DOCKER_HOST, DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY
                            which Docker daemon to ask, as for the docker CLI
                            (default unix:///var/run/docker.sock)
  DOCKER_CONFIG, REGISTRY_AUTH_FILE
                            registry credentials (docker's config.json,
                            podman's auth.json), for --source registry

Failures that may pass (an unreachable daemon or server, a 5xx or 429 answer,
a timeout) are retried a few times within seconds; others are not.

Exit codes:
  0  results were written, successful or not (what atomic expects)
  1  with --strict: results were written and some scan was unsuccessful
  2  usage error (unknown flag or scan type, bad flag value, unreadable
     --scanin, no /scanout and no --scanout); a missing or invalid SERVER
     or IMAGE_NAME is not one: the results say what is wrong, with exit 0
  3  some result could not be written (an unwritable --scanout is found
     before anything is scanned, and no status line is printed)
  4  with --strict: results were written and every unsuccessful scan was a
     report not ready yet (scan again later)
`

const installUsage = `Usage:
  scan install [--root DIR] [--image NAME]

Writes the scanner configuration that atomic reads, <root>/etc/atomic.d/analytics-integration,
creating the directories as needed. ` + "`atomic install IMAGE`" + ` runs this through the
image's INSTALL label, with the host's /etc/atomic.d/ mounted under --root.

Flags:
  --root DIR     the host's root file system (default /)
  --image NAME   the scanner image the configuration runs (default $IMAGE,
                 which atomic sets, else %s)

Exit codes: 0 written, 2 usage error, 3 could not write.
`

const uninstallUsage = `Usage:
  scan uninstall [--root DIR]

Removes <root>/etc/atomic.d/analytics-integration; no error when it is absent.

Flags:
  --root DIR   the host's root file system (default /)

Exit codes: 0 removed or absent, 2 usage error, 3 could not remove.
`

// usageError prints one clear message for a usage or configuration error
// and returns exitUsage.
func usageError(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", cmd, err, cmd)
	return exitUsage
}
