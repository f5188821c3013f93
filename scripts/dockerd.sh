#!/usr/bin/env bash
# Starts or stops a Docker daemon for the tests and the image build.
#
#   scripts/dockerd.sh start   # reuse a daemon that answers, else start one
#   scripts/dockerd.sh stop    # stop it, but only if `start` started it
#
# The machines this project runs on have no Docker daemon by default, and the
# one that works here is Debian's docker.io with the vfs storage driver
# (shared/docs/local-docker.md). A developer often has a daemon running
# already: `start` then leaves it alone, and `stop` never touches it.
#
# Environment:
#   SCANNER_DOCKERD_DIR             state dir: data root, log, pid file
#                                   (default /tmp/analytics-scanner-dockerd)
#   SCANNER_DOCKERD_STORAGE_DRIVER  storage driver (default vfs)
#   SCANNER_DOCKERD_TIMEOUT         seconds to wait for the daemon (default 60)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state_dir=${SCANNER_DOCKERD_DIR:-/tmp/analytics-scanner-dockerd}
storage_driver=${SCANNER_DOCKERD_STORAGE_DRIVER:-vfs}
timeout_s=${SCANNER_DOCKERD_TIMEOUT:-60}
pidfile=$state_dir/dockerd.pid
logfile=$state_dir/dockerd.log
# Present only while a daemon that this script started is running: it is what
# lets `stop` tell "ours" from "someone else's".
marker=$state_dir/started-by-script

log() { printf '[dockerd] %s\n' "$*" >&2; }

daemon_answers() {
	# A bounded probe: a wedged daemon must not hang the caller.
	timeout 10 docker version >/dev/null 2>&1
}

pid_alive() {
	[[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

fail_with_log() {
	log "$1"
	if [[ -f $logfile ]]; then
		log "last lines of $logfile:"
		tail -n 40 "$logfile" >&2
	fi
	exit 1
}

start() {
	if daemon_answers; then
		if [[ -f $marker ]] && pid_alive; then
			log "daemon started earlier by this script is running (pid $(cat "$pidfile"))"
		else
			rm -f "$marker"
			log "reusing the Docker daemon that already answers; it will not be stopped"
		fi
		return 0
	fi

	if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
		"$here/ensure-packages.sh" docker.io
	fi

	# A daemon that is still starting (or started by someone else a moment ago)
	# owns the default socket; a second one would fight it for it. Wait for it
	# instead of starting another.
	if pgrep -x dockerd >/dev/null 2>&1; then
		log "a dockerd process exists but does not answer yet; waiting for it"
		for ((i = 0; i < timeout_s; i++)); do
			if daemon_answers; then
				log "the existing daemon answers now; reusing it"
				return 0
			fi
			sleep 1
		done
		fail_with_log "a dockerd process exists but did not answer within ${timeout_s}s"
	fi

	mkdir -p "$state_dir/data"
	rm -f "$marker"
	log "starting dockerd (data root $state_dir/data, storage driver $storage_driver)"
	# setsid: the daemon must not get the caller's terminal signals (Ctrl-C in
	# the CI script would otherwise kill it before the trap can stop it cleanly).
	# --wait keeps $! alive as long as dockerd even when setsid has to fork.
	setsid --wait dockerd \
		--data-root "$state_dir/data" \
		--storage-driver "$storage_driver" \
		--pidfile "$pidfile" \
		</dev/null >"$logfile" 2>&1 &
	local launcher=$!

	for ((i = 0; i < timeout_s; i++)); do
		if daemon_answers; then
			touch "$marker"
			log "dockerd is up (pid $(cat "$pidfile" 2>/dev/null || echo "$launcher")) after ${i}s"
			return 0
		fi
		if ! kill -0 "$launcher" 2>/dev/null; then
			fail_with_log "dockerd exited during start-up"
		fi
		sleep 1
	done
	# Do not leave a half-started daemon behind for the next attempt to trip on.
	if pid_alive; then
		kill "$(cat "$pidfile")" 2>/dev/null || true
	fi
	kill "$launcher" 2>/dev/null || true
	fail_with_log "dockerd did not answer \`docker version\` within ${timeout_s}s"
}

stop() {
	if [[ ! -f $marker ]]; then
		log "no daemon was started by this script; leaving Docker alone"
		return 0
	fi
	if ! pid_alive; then
		log "the daemon this script started is gone already"
		rm -f "$marker"
		return 0
	fi
	local pid
	pid=$(cat "$pidfile")
	log "stopping dockerd (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true # it may have exited on its own meanwhile
	# dockerd stops its containers (10 s grace each) and its containerd first.
	for ((i = 0; i < 30; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$marker"
			log "dockerd stopped"
			return 0
		fi
		sleep 1
	done
	log "dockerd still running after 30s; killing it"
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$marker"
}

case ${1:-} in
start) start ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
