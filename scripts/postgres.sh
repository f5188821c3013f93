#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster for the tests.
#
#   url=$(scripts/postgres.sh start)   # prints the connection URL on stdout
#   scripts/postgres.sh url            # prints it again
#   scripts/postgres.sh stop           # stops the cluster and deletes its files
#
# The server's queue can run on PostgreSQL; its tests need a real one, and CI's
# machine has none running. The cluster lives in its own directory, listens on
# 127.0.0.1 only (on a port of its own, not 5432, so it never collides with a
# packaged cluster), trusts loopback connections and is tuned for speed over
# durability: everything in it is disposable.
#
# Environment:
#   SCANNER_TEST_PG_PORT  port (default 55432); not SCANNER_PG_PORT, which is
#                         the compose stack's scanner-pg port
#   SCANNER_PG_DIR        cluster directory (default /tmp/analytics-scanner-pg-PORT)
#   SCANNER_PG_BIN        PostgreSQL bin dir (default /usr/lib/postgresql/15/bin)
#   SCANNER_PG_DB         database to create (default scanner_test)
#   SCANNER_PG_TIMEOUT    seconds to wait for readiness (default 60)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
port=${SCANNER_TEST_PG_PORT:-55432}
base_dir=${SCANNER_PG_DIR:-${TMPDIR:-/tmp}/analytics-scanner-pg-$port}
pg_bin=${SCANNER_PG_BIN:-/usr/lib/postgresql/15/bin}
db=${SCANNER_PG_DB:-scanner_test}
timeout_s=${SCANNER_PG_TIMEOUT:-60}
os_user=postgres
data_dir=$base_dir/data
sock_dir=$base_dir/sock
logfile=$base_dir/postgres.log
url="postgres://postgres@127.0.0.1:$port/$db?sslmode=disable"

# Everything but the URL goes to stderr, so that `$(postgres.sh start)` is the URL.
log() { printf '[postgres] %s\n' "$*" >&2; }

# initdb and postgres refuse to run as root; run them as the postgres OS user,
# from a directory it can read (the caller's cwd may be /root).
as_pg() {
	(cd "$base_dir" && runuser -u "$os_user" -- "$@")
}

ready() {
	# -U postgres: the probe's startup packet would otherwise name the OS user
	# (root), which the server logs as a FATAL "role does not exist".
	"$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -t 2 >/dev/null 2>&1
}

ours_running() {
	[[ -f $data_dir/postmaster.pid ]] && as_pg "$pg_bin/pg_ctl" -D "$data_dir" status >/dev/null 2>&1
}

fail_with_log() {
	log "$1"
	if [[ -f $logfile ]]; then
		log "last lines of $logfile:"
		tail -n 40 "$logfile" >&2
	fi
	exit 1
}

ensure_installed() {
	if [[ ! -x $pg_bin/initdb ]]; then
		"$here/ensure-packages.sh" postgresql
	fi
	if [[ ! -x $pg_bin/initdb ]]; then
		log "no initdb in $pg_bin after installing postgresql; set SCANNER_PG_BIN"
		exit 1
	fi
	if ! id -u "$os_user" >/dev/null 2>&1; then
		# The Debian package creates this user; a hand-made install may not have.
		useradd --system --home-dir /var/lib/postgresql --shell /bin/bash "$os_user"
	fi
}

start() {
	ensure_installed
	if [[ -d $base_dir ]] && ours_running && ready; then
		log "cluster in $base_dir is running already"
	else
		if [[ -d $base_dir ]]; then
			# Left by an earlier run that did not stop cleanly (a killed
			# postmaster can linger as a zombie that `pg_ctl status` still
			# counts as running): nothing in it is worth keeping.
			log "removing the stale cluster in $base_dir"
			stop_cluster
		fi
		if ready; then
			log "something else already listens on 127.0.0.1:$port; set SCANNER_TEST_PG_PORT"
			exit 1
		fi
		mkdir -p "$base_dir" "$sock_dir"
		chown -R "$os_user:" "$base_dir"
		chmod 0700 "$base_dir"

		log "initdb in $data_dir"
		# trust on loopback only: the server listens nowhere else.
		if ! as_pg "$pg_bin/initdb" -D "$data_dir" -U postgres \
			--auth-local=trust --auth-host=trust \
			--encoding=UTF8 --locale=C >"$base_dir/initdb.log" 2>&1; then
			tail -n 40 "$base_dir/initdb.log" >&2
			log "initdb failed"
			exit 1
		fi

		log "starting on 127.0.0.1:$port"
		# The socket goes in the cluster dir, not /var/run/postgresql, which may
		# not exist (or belong to a packaged cluster). fsync and friends are off:
		# a crash loses only test data.
		if ! as_pg "$pg_bin/pg_ctl" -D "$data_dir" -l "$logfile" -w -t "$timeout_s" \
			-o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$sock_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
			start >/dev/null; then
			fail_with_log "pg_ctl start failed"
		fi
	fi

	local i
	for ((i = 0; i < timeout_s; i++)); do
		if ready; then
			break
		fi
		sleep 1
	done
	if ! ready; then
		fail_with_log "PostgreSQL did not become ready within ${timeout_s}s"
	fi

	local exists
	exists=$("$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -XAtq \
		-c "SELECT 1 FROM pg_database WHERE datname = '$db'")
	if [[ $exists != 1 ]]; then
		"$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
		log "created database $db"
	fi
	log "ready: $url"
	printf '%s\n' "$url"
}

# Stops the cluster if it runs and deletes its directory.
stop_cluster() {
	if ours_running; then
		log "stopping the cluster in $base_dir"
		# fast: roll back open transactions and disconnect clients rather than
		# wait for a test that leaked a connection.
		if ! as_pg "$pg_bin/pg_ctl" -D "$data_dir" -m fast -w -t 30 stop >/dev/null; then
			# The first line of postmaster.pid is the postmaster's pid; a server
			# left running over a deleted data dir would hold the port forever.
			log "pg_ctl stop failed; killing the postmaster"
			kill -KILL "$(head -n 1 "$data_dir/postmaster.pid")" 2>/dev/null || true
		fi
	fi
	rm -rf "$base_dir"
}

stop() {
	if [[ ! -d $base_dir ]]; then
		log "no cluster in $base_dir"
		return 0
	fi
	stop_cluster
	log "removed $base_dir"
}

case ${1:-} in
start) start ;;
stop) stop ;;
url) printf '%s\n' "$url" ;;
*)
	echo "usage: $0 start|stop|url" >&2
	exit 2
	;;
esac
