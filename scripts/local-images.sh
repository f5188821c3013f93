#!/usr/bin/env bash
# Makes the local stand-ins that docker-compose.yml needs on a machine that
# cannot pull from a registry, and gives them the names the compose file uses.
#
#   scripts/local-images.sh            # FORCE=1 remakes the stand-ins
#
# It makes local/golang:1.26 (the Dockerfile's build stage, from the host's Go)
# and local/postgres:15-standin (the postgres profile, from the host's
# PostgreSQL 15) and local/registry:2-standin (the registry profile, from
# Debian's docker-registry), then tags them golang:1.26, postgres:15 and
# registry:2 where no image of
# those names exists yet, so that plain `docker-compose up --build` and
# `docker-compose --profile postgres up` work with no variable set. An image
# already under one of those names (a real one, pulled) is never replaced.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[local-images] %s\n' "$*" >&2; }

"$here/go-builder-image.sh" local/golang:1.26
"$here/postgres-image.sh" local/postgres:15-standin
"$here/registry-image.sh" local/registry:2-standin

alias_image() {
	local standin=$1 name=$2
	if docker image inspect "$name" >/dev/null 2>&1; then
		log "$name exists already; left as it is (GO_IMAGE / POSTGRES_IMAGE choose the stand-in)"
	else
		docker tag "$standin" "$name"
		log "tagged $standin as $name"
	fi
}
alias_image local/golang:1.26 golang:1.26
alias_image local/postgres:15-standin postgres:15
alias_image local/registry:2-standin registry:2
log "ready: docker-compose up --build    (or: docker-compose --profile postgres up --build)"
