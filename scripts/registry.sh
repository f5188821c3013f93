#!/usr/bin/env bash
# Starts or stops a throwaway container registry (Debian's docker-registry,
# distribution 2.8) for the tests and the local stack.
#
#   addr=$(scripts/registry.sh start)   # prints host:port on stdout
#   scripts/registry.sh addr            # prints it again
#   scripts/registry.sh stop            # stops it and deletes its files
#
# It listens on 127.0.0.1 only, so the Docker daemon pushes to it over plain
# HTTP without any daemon setting (loopback registries are trusted), and it
# keeps its blobs in its own directory: everything in it is disposable.
#
# With SCANNER_REGISTRY_NOTIFY_URL set, the registry POSTs a notification
# envelope for every push and pull to that URL (the scanner's
# /hooks/distribution), carrying "Authorization: Bearer
# $SCANNER_REGISTRY_NOTIFY_TOKEN" when a token is set. The token is written
# only into the registry's config file (mode 600), never on a command line.
#
# Environment:
#   SCANNER_REGISTRY_PORT          port (default 5055)
#   SCANNER_REGISTRY_DIR           state dir: config, data, log, pid file
#                                  (default /tmp/analytics-scanner-registry-PORT)
#   SCANNER_REGISTRY_NOTIFY_URL    notification endpoint (default: none)
#   SCANNER_REGISTRY_NOTIFY_TOKEN  its bearer token (default: none)
#   SCANNER_REGISTRY_TIMEOUT       seconds to wait for readiness (default 30)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
port=${SCANNER_REGISTRY_PORT:-5055}
state_dir=${SCANNER_REGISTRY_DIR:-${TMPDIR:-/tmp}/analytics-scanner-registry-$port}
notify_url=${SCANNER_REGISTRY_NOTIFY_URL:-}
notify_token=${SCANNER_REGISTRY_NOTIFY_TOKEN:-}
timeout_s=${SCANNER_REGISTRY_TIMEOUT:-30}
addr=127.0.0.1:$port
config=$state_dir/config.yml
pidfile=$state_dir/registry.pid
logfile=$state_dir/registry.log

# Everything but the address goes to stderr, so that `$(registry.sh start)` is it.
log() { printf '[registry] %s\n' "$*" >&2; }

ready() {
	# A bounded probe; /v2/ answers 200 on a registry without auth.
	curl -fsS -m 2 -o /dev/null "http://$addr/v2/" 2>/dev/null
}

ours_running() {
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

# yaml_quote writes $1 as a single-quoted YAML scalar: no character in it
# (a ':' in the URL, a '#' in the token) can change the document's shape.
yaml_quote() {
	printf "'%s'" "${1//\'/\'\'}"
}

write_config() {
	umask 077
	{
		cat <<-EOF
			version: 0.1
			log:
			  # warn, not info: at info the registry logs each endpoint with its
			  # headers, the bearer token included.
			  level: warn
			  fields: {service: registry}
			storage:
			  filesystem: {rootdirectory: $(yaml_quote "$state_dir/data")}
			  delete: {enabled: true}
			  # Nothing here runs long enough to need upload purging, and
			  # its first run at start-up only slows the tests.
			  maintenance: {uploadpurging: {enabled: false}}
			http:
			  addr: $(yaml_quote "$addr")
		EOF
		if [[ -n $notify_url ]]; then
			cat <<-EOF
				notifications:
				  endpoints:
				    - name: scanner
				      url: $(yaml_quote "$notify_url")
				      timeout: 2s
				      threshold: 5
				      backoff: 1s
			EOF
			if [[ -n $notify_token ]]; then
				printf '      headers:\n        Authorization: [%s]\n' "$(yaml_quote "Bearer $notify_token")"
			fi
		fi
	} >"$config"
}

start() {
	if [[ ! -x /usr/bin/docker-registry ]]; then
		"$here/ensure-packages.sh" docker-registry
	fi
	if ours_running && ready; then
		log "registry in $state_dir is running already on $addr"
		printf '%s\n' "$addr"
		return 0
	fi
	if [[ -d $state_dir ]]; then
		log "removing the stale registry in $state_dir"
		stop_registry
	fi
	if ready; then
		log "something else already answers on $addr; set SCANNER_REGISTRY_PORT"
		exit 1
	fi
	mkdir -p "$state_dir/data"
	write_config
	log "starting on $addr${notify_url:+, notifying $notify_url}"
	# setsid: the registry outlives this script and is not killed by the
	# caller's terminal; its pid is what `stop` kills.
	setsid /usr/bin/docker-registry serve "$config" >"$logfile" 2>&1 </dev/null &
	echo $! >"$pidfile"

	local i
	for ((i = 0; i < timeout_s * 5; i++)); do
		if ready; then
			log "ready: $addr"
			printf '%s\n' "$addr"
			return 0
		fi
		if ! ours_running; then
			fail_with_log "the registry exited"
		fi
		sleep 0.2
	done
	fail_with_log "the registry did not answer on $addr within ${timeout_s}s"
}

stop_registry() {
	if ours_running; then
		local pid
		pid=$(cat "$pidfile")
		kill -TERM "$pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -rf "$state_dir"
}

stop() {
	if [[ ! -d $state_dir ]]; then
		log "no registry in $state_dir"
		return 0
	fi
	stop_registry
	log "stopped; removed $state_dir"
}

case ${1:-} in
start) start ;;
stop) stop ;;
addr) printf '%s\n' "$addr" ;;
*)
	echo "usage: $0 start|stop|addr" >&2
	exit 2
	;;
esac
