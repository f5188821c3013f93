#!/usr/bin/env bash
# Runs the benchmark suite (cmd/bench) against the real Docker daemon.
#
#   scripts/bench.sh [-quick] [-only GROUPS] [-scans N] [-workers N] [-stored N] [-out FILE] ...
#
# It checks what the suite needs first: the Go toolchain, the docker CLI and
# a daemon that answers, and PostgreSQL when SCANNER_BENCH_POSTGRES_URL (or
# SCANNER_TEST_POSTGRES_URL) names one; without one, the PostgreSQL figures
# are skipped (-skip-postgres). It builds the server, scan and bench binaries
# into a temporary directory, runs the suite with the arguments given, and
# removes the directory. SCANNER_BENCH_IMAGE names an image whose size is
# reported (e.g. analytics-scanner:dev from scripts/build-image.sh).
#
# The full run takes about five minutes on a 2-core machine (4 min 18 s at
# load 5-8, 100,000 stored scans and their backlog included), within its
# ten-minute budget; -quick under one. -only GROUPS measures a part.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

log() { printf '[bench.sh] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

command -v go >/dev/null || die "no Go toolchain on PATH"
command -v docker >/dev/null || die "no docker CLI on PATH (the one-shot figures run 'docker image inspect')"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
	die "no Docker daemon answers (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}); scripts/dockerd.sh start starts one"

args=("$@")
pg_url=${SCANNER_BENCH_POSTGRES_URL:-${SCANNER_TEST_POSTGRES_URL:-}}
skip_pg=false
for a in "$@"; do
	[[ $a == -skip-postgres || $a == --skip-postgres ]] && skip_pg=true
done
if [[ $skip_pg == false ]]; then
	if [[ -z $pg_url ]]; then
		log "no SCANNER_BENCH_POSTGRES_URL or SCANNER_TEST_POSTGRES_URL: PostgreSQL figures skipped"
		args+=(-skip-postgres)
	elif command -v pg_isready >/dev/null && ! pg_isready -d "$pg_url" -t 5 >/dev/null; then
		die "PostgreSQL at the given URL does not answer (pg_isready); scripts/postgres.sh start starts one, or pass -skip-postgres"
	fi
fi

bin=$(mktemp -d "${TMPDIR:-/tmp}/analytics-scanner-bench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
log "building server, scan and bench into $bin"
(cd "$repo" && go build -o "$bin/" ./cmd/server ./cmd/scan ./cmd/bench)

log "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, Docker $(docker version --format '{{.Server.Version}}')"
# Not exec, so that the trap removes the binaries when the suite ends; a
# SIGTERM to this script is passed on, and the suite then stops its server
# processes and removes its image tags before it exits.
"$bin/bench" -server-bin "$bin/server" -scan-bin "$bin/scan" "${args[@]}" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' TERM INT
status=0
wait "$pid" || status=$?
if kill -0 "$pid" 2>/dev/null; then
	# wait returned for the signal; wait again for the suite's cleanup.
	wait "$pid" || status=$?
fi
exit "$status"
