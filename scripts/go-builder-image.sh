#!/usr/bin/env bash
# Builds a local stand-in for the official Go image (default tag local/golang:1.26).
#
#   scripts/go-builder-image.sh [TAG]     # FORCE=1 rebuilds an existing tag
#
# Why: the Dockerfile's build stage is `FROM ${GO_IMAGE}` (golang:1.26 by
# default), but there is no registry to pull from here (local-docker.md). This
# image is made from what the machine has: the host's Go toolchain at
# /usr/local/go, its CA bundle (for the module proxy) and a static busybox as
# /bin/sh, laid out and configured like the official image (GOPATH=/go,
# GOTOOLCHAIN=local, WORKDIR /go), so the Dockerfile builds unchanged with
# `--build-arg GO_IMAGE=local/golang:1.26`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tag=${1:-local/golang:1.26}

log() { printf '[go-builder-image] %s\n' "$*" >&2; }

if [[ ${FORCE:-0} != 1 ]] && docker image inspect "$tag" >/dev/null 2>&1; then
	log "$tag exists already (FORCE=1 rebuilds it)"
	exit 0
fi

"$here/ensure-packages.sh" busybox-static ca-certificates

if ! command -v go >/dev/null 2>&1; then
	log "no go on PATH: the stand-in is made from the host's Go toolchain"
	exit 1
fi
goroot=$(go env GOROOT)
go_version=$(go env GOVERSION) # e.g. go1.26.8
busybox=/bin/busybox
ca_bundle=/etc/ssl/certs/ca-certificates.crt
if [[ ! -s $ca_bundle ]]; then
	log "no CA bundle at $ca_bundle"
	exit 1
fi
if [[ $tag == *:* && $go_version != go${tag##*:}* ]]; then
	# Not fatal: go.mod's `go` line is what the build really needs.
	log "warning: host Go is $go_version but the tag says ${tag##*:}"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/go-builder-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

# Small files of the image, laid out in a staging tree. The toolchain itself
# (~270 MB) is streamed into the tar from where it is, not copied here.
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc/ssl/certs,root,go/bin,go/src,go/pkg}
install -d -m 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
# One link per applet at its usual path (sh, env, mkdir, cp, tar, wget, ...),
# what `busybox --install -s` would make inside the image.
while read -r applet; do
	[[ $applet == bin/busybox ]] && continue
	[[ -e $root/$applet || -L $root/$applet ]] && continue
	ln -s /bin/busybox "$root/$applet"
done < <("$busybox" --list-full)
cp "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
# Enough of a user database for tools that look up uid 0 and for `USER nobody`.
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
# Go's resolver reads this to decide between /etc/hosts and DNS.
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"

# The build inside the image reaches the module proxy the way the host does.
goproxy=$(go env GOPROXY)
goflags=$(go env GOFLAGS)
gosumdb=$(go env GOSUMDB)

changes=(
	--change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
	--change 'ENV GOPATH=/go'
	--change 'ENV HOME=/root'
	--change "ENV GOLANG_VERSION=${go_version#go}"
	# Like the official image: use this toolchain, never fetch another one.
	--change 'ENV GOTOOLCHAIN=local'
	--change "ENV GOPROXY=$goproxy"
	--change "ENV GOSUMDB=$gosumdb"
	--change 'WORKDIR /go'
	--change 'CMD ["/bin/sh"]'
)
if [[ -n $goflags ]]; then
	changes+=(--change "ENV GOFLAGS=\"$goflags\"")
fi

log "building $tag from $goroot ($go_version) and $busybox"
# Two tar streams cannot simply be concatenated, so build one archive file:
# the staging tree, then the toolchain appended under usr/local/go whatever
# GOROOT is called on the host. The toolchain's test/ tree is only for
# testing Go itself.
tarball=$work/image.tar
tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$tarball" .
tar -C "$(dirname "$goroot")" --numeric-owner --owner=0 --group=0 \
	--anchored --exclude="$(basename "$goroot")/test" \
	--transform "flags=rh;s,^$(basename "$goroot"),./usr/local/go," \
	-rf "$tarball" "$(basename "$goroot")"
docker import "${changes[@]}" \
	--message "local stand-in for golang:${go_version#go}" \
	"$tarball" "$tag" >/dev/null

# Prove the image is usable before anyone builds on it; a broken tag would only
# fail later, inside a long docker build.
if ! out=$(docker run --rm "$tag" sh -c 'go version && go env GOROOT GOPATH GOPROXY && test -s /etc/ssl/certs/ca-certificates.crt' 2>&1); then
	printf '%s\n' "$out" >&2
	docker image rm "$tag" >/dev/null 2>&1 || true
	log "$tag does not work; removed it"
	exit 1
fi
printf '%s\n' "$out" | sed 's/^/[go-builder-image]   /' >&2
log "built $tag ($(docker image inspect --format '{{.Size}}' "$tag" | numfmt --to=iec))"
