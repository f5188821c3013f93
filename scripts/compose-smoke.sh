#!/usr/bin/env bash
# Smoke test of the local stack (docker-compose.yml) against the real daemon.
#
#   scripts/compose-smoke.sh          # by hand, or from .ci/run
#
# It brings the default stack (scanner + analytics emulator) up under a
# project name and host ports of its own, waits until both are healthy, and
# then drives it as a person would, through the published ports:
#   - a scan of an image with the git-url/git-sha/email-ids labels succeeds,
#     and the emulator's GET /received lists that registration;
#   - a scan of an image without them fails, naming every missing label, and
#     is reported to the emulator's scanner-error;
#   - /readyz, /metrics and /openapi.yaml answer;
#   - the scan records survive a restart of the scanner (named volume);
#   - with the "postgres" profile, scanner-pg scans with its queue in
#     PostgreSQL (see SMOKE_POSTGRES);
#   - no container restarted behind our back.
# On any failure it prints the stack's state and logs and exits non-zero.
# Whatever happens, it takes the stack down with its volumes and removes the
# images it built for the test.
#
# Environment:
#   GO_IMAGE       builder image; unset: the local stand-in local/golang:1.26,
#                  made by scripts/go-builder-image.sh when missing
#   SCANNER_IMAGE  tag the stack builds and runs (default analytics-scanner:dev)
#   COMPOSE        compose command (default: `docker compose` when it works,
#                  else `docker-compose`)
#   SMOKE_TIMEOUT  seconds to wait for each service to become healthy (120)
#   SMOKE_POSTGRES 1: test the postgres profile too; 0: skip it; unset: test
#                  it when POSTGRES_IMAGE is set or a stand-in for postgres:15
#                  can be made from the host's PostgreSQL 15 (as root)
#   POSTGRES_IMAGE image of the postgres service; unset: the stand-in
#                  local/postgres:15-standin, made when missing
#   SCANNER_PORT, SCANNER_PG_PORT, ANALYTICS_PORT
#                  host ports (default: free ones picked at random)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

timeout_s=${SMOKE_TIMEOUT:-120}
started=$SECONDS

log() { printf '[compose-smoke] %s\n' "$*"; }
step() { printf '[compose-smoke] --- %s (%ds)\n' "$*" "$((SECONDS - started))"; }
fail() {
	printf '[compose-smoke] FAIL: %s\n' "$*" >&2
	exit 1
}

# --- tools -----------------------------------------------------------------

for tool in curl jq; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		"$here/ensure-packages.sh" "$tool"
	fi
done

if [[ -n ${COMPOSE:-} ]]; then
	read -r -a compose_cmd <<<"$COMPOSE"
elif docker compose version >/dev/null 2>&1; then
	compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
	compose_cmd=(docker-compose)
else
	fail "neither \`docker compose\` nor \`docker-compose\` is installed"
fi

if ! timeout 10 docker version >/dev/null 2>&1; then
	fail "the Docker daemon does not answer (scripts/dockerd.sh start)"
fi

# --- configuration of the stack -------------------------------------------

if [[ -z ${GO_IMAGE:-} ]]; then
	export GO_IMAGE=local/golang:1.26
	"$here/go-builder-image.sh" "$GO_IMAGE"
fi
export SCANNER_IMAGE=${SCANNER_IMAGE:-analytics-scanner:dev}
# The build args scripts/build-image.sh uses, so that in CI, right after it,
# the stack's build is all cache and yields the very same image.
GIT_SHA=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
export GIT_SHA

socket=/var/run/docker.sock
if [[ -z ${DOCKER_GID:-} ]]; then
	DOCKER_GID=$(stat -c %g "$socket")
fi
export DOCKER_GID

# A project of its own: its containers, network and volumes cannot collide
# with a stack someone is running, nor with another run of this script.
export COMPOSE_PROJECT_NAME="scansmoke$$"
# Settings a developer may have in .env or the shell must not change what is
# tested here.
export ANALYTICS_TOKEN="" SCANNER_API_TOKEN="" SCANNER_LOG_LEVEL=info

port_is_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
picked_ports=" "
# pick_port VAR sets VAR, unless it is set already, to a free port that no
# other VAR got.
pick_port() {
	local var=$1 port
	if [[ -z ${!var:-} ]]; then
		for _ in $(seq 50); do
			port=$((20000 + RANDOM % 10000))
			if [[ $picked_ports != *" $port "* ]] && port_is_free "$port"; then
				break
			fi
			port=""
		done
		[[ -n $port ]] || fail "no free port found for $var"
		printf -v "$var" '%s' "$port"
	fi
	picked_ports+="${!var} "
	export "${var?}"
}
pick_port SCANNER_PORT
pick_port SCANNER_PG_PORT
pick_port ANALYTICS_PORT
scanner_url=http://127.0.0.1:$SCANNER_PORT
scanner_pg_url=http://127.0.0.1:$SCANNER_PG_PORT
analytics_url=http://127.0.0.1:$ANALYTICS_PORT

compose() { "${compose_cmd[@]}" "$@"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/compose-smoke.XXXXXX")
test_images=()
stack_up=0

cleanup() {
	local rc=$?
	set +e
	if ((rc != 0)); then
		printf '\n[compose-smoke] FAILED after %ds (exit %d); the stack as it stands:\n' "$((SECONDS - started))" "$rc" >&2
		if [[ -s $work/up.log ]]; then
			printf '\n[compose-smoke] last lines of "compose up --build":\n' >&2
			tail -n 40 "$work/up.log" >&2
		fi
		if ((stack_up)); then
			compose ps >&2
			printf '\n[compose-smoke] compose logs:\n' >&2
			compose logs --no-color --timestamps >&2
		fi
	fi
	if ((stack_up)); then
		step "compose down -v"
		compose down -v --remove-orphans --timeout 10 >"$work/down.log" 2>&1 ||
			cat "$work/down.log" >&2
	fi
	if ((${#test_images[@]})); then
		docker image rm --force "${test_images[@]}" >/dev/null 2>&1
	fi
	rm -rf "$work"
	if ((rc == 0)); then
		log "PASSED in $((SECONDS - started))s"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the postgres profile ------------------------------------------------------

smoke_postgres=${SMOKE_POSTGRES:-}
if [[ -z $smoke_postgres ]]; then
	if [[ -n ${POSTGRES_IMAGE:-} ]] || { ((EUID == 0)) && [[ -x /usr/lib/postgresql/15/bin/postgres ]]; }; then
		smoke_postgres=1
	else
		smoke_postgres=0
	fi
fi
if ((smoke_postgres)) && [[ -z ${POSTGRES_IMAGE:-} ]]; then
	export POSTGRES_IMAGE=local/postgres:15-standin
	"$here/postgres-image.sh" "$POSTGRES_IMAGE"
fi
services=(analytics scanner)
if ((smoke_postgres)); then
	compose_cmd+=(--profile postgres)
	services=(analytics postgres scanner scanner-pg)
fi


log "compose: ${compose_cmd[*]} ($("${compose_cmd[@]}" version --short 2>/dev/null || echo '?'))"
log "project $COMPOSE_PROJECT_NAME, image $SCANNER_IMAGE (builder $GO_IMAGE, git-sha $GIT_SHA)"
log "scanner $scanner_url, analytics $analytics_url, DOCKER_GID=$DOCKER_GID"
if ((smoke_postgres)); then
	log "profile postgres: scanner-pg $scanner_pg_url, postgres image $POSTGRES_IMAGE"
else
	log "profile postgres: skipped (SMOKE_POSTGRES=0, or no POSTGRES_IMAGE and no stand-in)"
fi

# --- up ----------------------------------------------------------------------

step "compose config"
compose config --quiet

step "compose up -d --build"
stack_up=1
if ! compose up -d --build >"$work/up.log" 2>&1; then
	fail "compose up failed"
fi

container_of() {
	local id
	id=$(compose ps -q "$1")
	[[ -n $id ]] || fail "service $1 has no container"
	echo "$id"
}

# explain_health SERVICE CONTAINER prints the last health check's output
# and, for a scan service, its readiness answer, which names the failing
# dependency: the usual one is a Docker socket the non-root user may not open.
explain_health() {
	local service=$1 id=$2 url="" ready
	docker inspect --format '{{range .State.Health.Log}}{{.Output}}{{end}}' "$id" 2>/dev/null | tail -n 3 >&2
	case $service in
	scanner) url=$scanner_url ;;
	scanner-pg) url=$scanner_pg_url ;;
	esac
	if [[ -n $url ]] && ready=$(curl --silent --max-time 10 "$url/readyz"); then
		printf '[compose-smoke] %s /readyz: %s\n' "$service" "$ready" >&2
		if [[ $ready == *docker*"permission denied"* ]]; then
			printf '[compose-smoke] the socket is %s: is DOCKER_GID=%s its group?\n' \
				"$(stat -c '%U:%G (gid %g) mode %a' "$socket")" "$DOCKER_GID" >&2
		fi
	fi
}

# wait_healthy SERVICE polls the health that the compose file's healthcheck
# reports: "healthy" for the scanner means /readyz answered, i.e. the
# database and the Docker socket work for the non-root user.
wait_healthy() {
	local service=$1 id state deadline=$((SECONDS + timeout_s))
	id=$(container_of "$service")
	while :; do
		state=$(docker inspect --format '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}no-healthcheck{{end}}' "$id")
		case $state in
		"running healthy") break ;;
		*unhealthy | exited* | dead* | *no-healthcheck)
			explain_health "$service" "$id"
			fail "$service is $state"
			;;
		esac
		if ((SECONDS >= deadline)); then
			explain_health "$service" "$id"
			fail "$service is still \"$state\" after ${timeout_s}s"
		fi
		sleep 1
	done
	log "$service is healthy"
}

step "waiting for healthy services (at most ${timeout_s}s each)"
for service in "${services[@]}"; do
	wait_healthy "$service"
done

# --- test images -------------------------------------------------------------

# build_image TAG LABEL... builds a FROM-scratch image carrying the labels.
build_image() {
	local tag=$1 dir
	shift
	dir=$(mktemp -d "$work/image.XXXXXX")
	{
		echo "FROM scratch"
		local label
		for label in "$@"; do
			echo "LABEL $label"
		done
	} >"$dir/Dockerfile"
	test_images+=("$tag")
	# The classic builder builds FROM scratch with no registry; it warns
	# that it is deprecated, so its output is shown only if it fails.
	if ! DOCKER_BUILDKIT=0 docker build --tag "$tag" "$dir" >"$dir/build.log" 2>&1; then
		cat "$dir/build.log" >&2
		fail "could not build the test image $tag"
	fi
}

step "building the test images"
git_url="https://github.com/centos-pipeline/compose-smoke-$COMPOSE_PROJECT_NAME"
git_sha=$(head -c 20 /dev/urandom | sha1sum | cut -c1-40)
email_ids="smoke@example.com"
labelled="compose-smoke/labelled:$COMPOSE_PROJECT_NAME"
unlabelled="compose-smoke/unlabelled:$COMPOSE_PROJECT_NAME"
build_image "$labelled" "git-url=\"$git_url\"" "git-sha=\"$git_sha\"" "email-ids=\"$email_ids\""
build_image "$unlabelled" "purpose=compose-smoke"
log "$labelled (git-sha $git_sha), $unlabelled"

# --- requests ----------------------------------------------------------------

# http METHOD URL [CURL ARGS...] sets $status and $body (the file the body is in).
http() {
	local method=$1 url=$2
	shift 2
	body=$work/body.$((++http_calls))
	status=$(curl --silent --show-error --max-time 60 --request "$method" \
		--output "$body" --write-out '%{http_code}' "$@" "$url") ||
		fail "$method $url: curl failed"
}
http_calls=0

# expect JQ_FILTER MESSAGE fails unless the filter holds on the last body.
expect() {
	if ! jq -e "$1" "$body" >/dev/null 2>&1; then
		printf '[compose-smoke] body of the last answer (HTTP %s):\n' "$status" >&2
		head -c 4000 "$body" >&2
		echo >&2
		fail "$2"
	fi
}

step "POST /scan?wait=30s $labelled"
http POST "$scanner_url/scan?wait=30s" -H 'Content-Type: application/json' \
	--data "$(jq -nc --arg image "$labelled" '{image: $image}')"
[[ $status == 200 ]] || expect false "POST /scan answered $status, want 200 (a final scan)"
expect '.status == "succeeded"' "the labelled scan did not succeed"
expect '.result.Successful == true' "the labelled scan's result is not Successful"
expect "(.result[\"Scan Results\"] | .[\"git-url\"] == \"$git_url\" and .[\"git-sha\"] == \"$git_sha\" and .[\"email-ids\"] == \"$email_ids\")" \
	"the result does not carry the image's labels"
expect '.result["Server Response"].status == 200' "the result has no 200 from the analytics server"
labelled_id=$(jq -r .id "$body")
log "scan $labelled_id: $(jq -c '{status, attempts, server: .result["Scan Results"].server_url, summary: .result.Summary}' "$body")"

step "POST /scan?wait=30s $unlabelled"
http POST "$scanner_url/scan?wait=30s" -H 'Content-Type: application/json' \
	--data "$(jq -nc --arg image "$unlabelled" '{image: $image}')"
[[ $status == 200 ]] || expect false "POST /scan answered $status, want 200 (a final scan)"
expect '.status == "failed"' "the scan of an image without labels did not fail"
expect '.result.Successful == false' "the unlabelled scan's result claims success"
expect '[.result.Errors[]] | (any(test("git-url is missing")) and any(test("git-sha is missing")) and any(test("email-ids is missing")))' \
	"the failed scan does not name every missing label"
expect '[.result.Errors[]] | all(test("could not report") | not)' "the failure could not be reported to scanner-error"
unlabelled_id=$(jq -r .id "$body")
log "scan $unlabelled_id: $(jq -c '{status, errors: .result.Errors}' "$body")"

step "GET /received on the emulator"
http GET "$analytics_url/received"
[[ $status == 200 ]] || expect false "GET /received answered $status"
expect "any(.requests[]; .status == 200 and .registration == {\"git-url\": \"$git_url\", \"git-sha\": \"$git_sha\", \"email-ids\": \"$email_ids\"})" \
	"the emulator did not receive the registration"
expect "any(.requests[]; .status == 200 and .error_report[\"image-name\"] == \"$unlabelled\" and (.error_report.error | length) == 3)" \
	"the emulator did not receive the error report of the unlabelled image"
log "received: $(jq -c '[.requests[] | {path, status, registration, error_report}]' "$body")"

step "GET /readyz, /metrics, /openapi.yaml"
http GET "$scanner_url/readyz"
[[ $status == 200 ]] || expect false "GET /readyz answered $status"
expect '.status == "ready" and .checks.docker == "ok" and .checks.store == "ok"' "not ready"
http GET "$scanner_url/metrics"
[[ $status == 200 ]] || fail "GET /metrics answered $status"
grep -q '^scanner_scans_total{outcome="succeeded"} 1$' "$body" || fail "/metrics does not count the succeeded scan"
grep -q '^scanner_scans_total{outcome="failed"} 1$' "$body" || fail "/metrics does not count the failed scan"
http GET "$scanner_url/openapi.yaml"
[[ $status == 200 ]] || fail "GET /openapi.yaml answered $status"
grep -q '^openapi: 3' "$body" || fail "/openapi.yaml is not an OpenAPI document"
log "ready, metrics count 1 succeeded and 1 failed scan, openapi.yaml served"

step "restart scanner: records kept in the volume"
compose restart scanner >/dev/null 2>&1 || fail "compose restart scanner failed"
wait_healthy scanner
http GET "$scanner_url/scan/$labelled_id"
[[ $status == 200 ]] || expect false "GET /scan/$labelled_id after the restart answered $status"
expect '.status == "succeeded" and .result.Successful == true' "the scan record changed over the restart"
log "scan $labelled_id is still there after the restart"

if ((smoke_postgres)); then
	step "POST /scan?wait=30s $labelled through scanner-pg (PostgreSQL)"
	http POST "$scanner_pg_url/scan?wait=30s" -H 'Content-Type: application/json' \
		--data "$(jq -nc --arg image "$labelled" '{image: $image}')"
	[[ $status == 200 ]] || expect false "POST /scan on scanner-pg answered $status, want 200 (a final scan)"
	expect '.status == "succeeded" and .result.Successful == true' "the scan through scanner-pg did not succeed"
	expect '.result["Server Response"].status == 200' "the scan through scanner-pg got no 200 from the analytics server"
	pg_id=$(jq -r .id "$body")
	http GET "$scanner_pg_url/scan/$pg_id"
	[[ $status == 200 ]] || expect false "GET /scan/$pg_id on scanner-pg answered $status"
	http GET "$scanner_url/scan/$pg_id"
	[[ $status == 404 ]] || expect false "scanner (SQLite) knows scanner-pg's scan $pg_id: they share a store"
	http GET "$analytics_url/received"
	expect "[.requests[] | select(.registration[\"git-sha\"]? == \"$git_sha\" and .status == 200)] | length == 2" \
		"the emulator did not receive the second registration, from scanner-pg"
	log "scan $pg_id through scanner-pg: $(jq -c '[.requests[] | select(.registration)] | last | {status, registration}' "$body")"
fi

step "containers: user, restarts"
for service in "${services[@]}"; do
	id=$(container_of "$service")
	restarts=$(docker inspect --format '{{.RestartCount}}' "$id")
	[[ $restarts == 0 ]] || fail "$service restarted $restarts times on its own"
done
scanner_user=$(docker inspect --format '{{.Config.User}} groups {{.HostConfig.GroupAdd}}' "$(container_of scanner)")
log "scanner runs as $scanner_user; no container restarted on its own"

size=$(docker image inspect --format '{{.Size}}' "$SCANNER_IMAGE")
log "image $SCANNER_IMAGE: $(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1000000 }') ($size bytes)"
