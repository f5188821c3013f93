#!/usr/bin/env bash
# Builds the project's image (default tag analytics-scanner:dev).
#
#   scripts/build-image.sh [TAG]
#
# With GO_IMAGE unset the build stage uses the local stand-in for the Go image
# (made first if missing), because no registry can be reached here. Set
# GO_IMAGE=golang:1.26 (or any Go image) where one can be pulled.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
tag=${1:-analytics-scanner:dev}

log() { printf '[build-image] %s\n' "$*" >&2; }

if [[ -z ${GO_IMAGE:-} ]]; then
	GO_IMAGE=local/golang:1.26
	"$here/go-builder-image.sh" "$GO_IMAGE"
fi

# Recorded in the image's git-sha label, which the scanner itself registers
# when the image is scanned.
git_sha=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
build_args=(--build-arg "GO_IMAGE=$GO_IMAGE" --build-arg "GIT_SHA=$git_sha")
# Pass these through only when set, so the Dockerfile's defaults stay the
# single place that names them.
for arg in GIT_URL EMAIL_IDS; do
	if [[ -n ${!arg:-} ]]; then
		build_args+=(--build-arg "$arg=${!arg}")
	fi
done

log "building $tag from $repo (builder $GO_IMAGE, git-sha $git_sha)"
# The classic builder: BuildKit is not part of Debian's docker.io 20.10, and
# the classic one is what builds `FROM` a local image without a registry.
DOCKER_BUILDKIT=0 docker build "${build_args[@]}" -t "$tag" "$repo"

size=$(docker image inspect --format '{{.Size}}' "$tag")
log "built $tag: $(numfmt --to=iec "$size") ($size bytes)"
