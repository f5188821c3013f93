#!/usr/bin/env bash
# Makes a local stand-in for the official registry:2 image (default tag
# local/registry:2-standin).
#
#   scripts/registry-image.sh [TAG]     # FORCE=1 remakes an existing tag
#
# Why: docker-compose.yml's registry profile runs registry:2, which cannot be
# pulled where there is no registry. The stand-in is Debian's docker-registry
# (distribution 2.8, installed with apt when missing) with the libraries it
# loads, laid out as the official image is: /bin/registry, run as
# `registry serve /etc/docker/registry/config.yml`, data in /var/lib/registry.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tag=${1:-local/registry:2-standin}
bin=/usr/bin/docker-registry

log() { printf '[registry-image] %s\n' "$*" >&2; }

if [[ ${FORCE:-0} != 1 ]] && docker image inspect "$tag" >/dev/null 2>&1; then
	log "$tag exists already"
	exit 0
fi
"$here/ensure-packages.sh" docker-registry
root=$(mktemp -d "${TMPDIR:-/tmp}/registry-standin.XXXXXX")/rootfs
mkdir -p "$root"/{bin,etc/docker/registry,tmp,var/lib/registry}
cp "$bin" "$root/bin/registry"
while read -r lib; do
	cp -L --parents "$lib" "$root/"
done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' | sort -u)
# The package's default configuration, for a run without a mounted one.
printf 'version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: /var/lib/registry}}\nhttp: {addr: ":5000"}\n' \
	>"$root/etc/docker/registry/config.yml"
find "$root" -type d -exec chmod 0755 {} +
chmod 1777 "$root/tmp"
tar -C "$root" --numeric-owner -cf "$root.tar" .
docker import \
	--change 'EXPOSE 5000' \
	--change 'VOLUME /var/lib/registry' \
	--change 'ENTRYPOINT ["/bin/registry", "serve"]' \
	--change 'CMD ["/etc/docker/registry/config.yml"]' \
	--message "local stand-in for registry:2" \
	"$root.tar" "$tag" >/dev/null
rm -rf "$(dirname "$root")"
log "made $tag from $bin ($(docker run --rm --entrypoint /bin/registry "$tag" --version))"
