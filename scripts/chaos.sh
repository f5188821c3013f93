#!/usr/bin/env bash
# Runs the chaos harness (cmd/chaos): the built server and one-shot, as a
# black box, through kill -9 during 1,000 scans (SQLite and PostgreSQL),
# 60-s analytics outages, a Docker daemon stopped and started, 300 slow
# connections and an analytics server that echoes credentials. It prints one
# table row per scenario and exits non-zero when an expectation is missed.
#
#   scripts/chaos.sh                      # every scenario (about 7 minutes)
#   scripts/chaos.sh -only crash-sqlite   # some scenarios: names or prefixes, comma-separated
#   scripts/chaos.sh -quick               # short outages, 60 scans: a smoke run
#   scripts/chaos.sh -help                # every flag
#
# Needs: go, a Docker daemon that answers (scripts/dockerd.sh start), and,
# for docker-restart, root, dockerd and ip (it starts a second daemon on a
# bridge of its own, br-chaos). crash-postgres uses SCANNER_TEST_POSTGRES_URL
# (scripts/postgres.sh start prints one); without it that scenario is
# skipped, unless CI=true, where it is required.
#
# Exit status: 0 every expectation met, 1 some missed (or a scenario could
# not run), 2 a usage error or a missing prerequisite.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

missing() { printf 'chaos.sh: %s\n' "$*" >&2; exit 2; }

command -v go >/dev/null || missing "go is not on PATH"
command -v docker >/dev/null || missing "the docker client is not on PATH"
timeout 10 docker version >/dev/null 2>&1 ||
	missing "the Docker daemon does not answer (scripts/dockerd.sh start)"

# docker-restart needs a second daemon: root, dockerd and ip. Asked for by
# name, or in a full run, a missing one is an error rather than a silent skip.
only=""
prev=""
for arg in "$@"; do
	case $arg in
	-only=* | --only=*) only=${arg#*=} ;;
	esac
	if [[ $prev == -only || $prev == --only ]]; then only=$arg; fi
	prev=$arg
done
wants_docker=0
[[ -z $only ]] && wants_docker=1
IFS=, read -r -a wanted <<<"$only"
for w in "${wanted[@]}"; do
	[[ -n $w && docker-restart == "$w"* ]] && wants_docker=1
done
if ((wants_docker)); then
	[[ $(id -u) == 0 ]] || missing "docker-restart starts a second dockerd and a bridge: run as root (or -only another scenario)"
	command -v dockerd >/dev/null || missing "dockerd is not on PATH (apt-get install docker.io)"
	command -v ip >/dev/null || missing "ip is not on PATH (apt-get install iproute2)"
fi

cd "$repo"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/chaos" ./cmd/chaos
# Not exec, so that the trap removes the binary afterwards; SIGINT and
# SIGTERM are passed on, and the harness then stops everything it started.
"$bin/chaos" -repo "$repo" "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
status=0
while :; do
	wait "$pid" && status=0 || status=$?
	kill -0 "$pid" 2>/dev/null || break # wait was cut short by a signal
done
exit "$status"
