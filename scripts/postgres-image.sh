#!/usr/bin/env bash
# Makes a local stand-in for the official postgres:15 image (default tag
# local/postgres:15-standin).
#
#   scripts/postgres-image.sh [TAG]     # FORCE=1 remakes an existing tag
#
# Why: docker-compose.yml's postgres profile runs postgres:15, which cannot be
# pulled where there is no registry. The stand-in is the host's PostgreSQL 15
# (installed with apt when missing) with the libraries it loads, a static
# busybox for the entrypoint's shell, and an entrypoint that honours the
# official image's POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB and data
# directory, so that docker-compose.yml runs it unchanged.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tag=${1:-local/postgres:15-standin}
pg=/usr/lib/postgresql/15

log() { printf '[postgres-image] %s\n' "$*" >&2; }

if [[ ${FORCE:-0} != 1 ]] && docker image inspect "$tag" >/dev/null 2>&1; then
	log "$tag exists already"
	exit 0
fi
"$here/ensure-packages.sh" postgresql busybox-static
root=$(mktemp -d "${TMPDIR:-/tmp}/postgres-standin.XXXXXX")/rootfs
mkdir -p "$root"/{bin,etc,tmp,usr/local/bin,var/run/postgresql,var/lib/postgresql/data}
cp /bin/busybox "$root/bin/busybox"
for applet in sh cat echo printf rm; do
	ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\npostgres:x:999:\n' >"$root/etc/group"
# The binaries, their data and the time zones they were built against
# (--with-system-tzdata), then every library the binaries load.
tar -C / -cf - --exclude="${pg#/}/lib/bitcode" "${pg#/}" usr/share/postgresql/15 usr/share/zoneinfo |
	tar -C "$root" -xf -
while read -r lib; do
	cp -L --parents "$lib" "$root/"
done < <(ldd "$pg/bin/postgres" "$pg/bin/initdb" "$pg/bin/pg_isready" |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' | sort -u)
cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
# Stand-in for the official image's entrypoint, for its variables only.
set -e
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}" >/tmp/pwfile
initdb -D "$PGDATA" -U "$user" --pwfile=/tmp/pwfile --auth-local=trust \
	--auth-host=scram-sha-256 --encoding=UTF8 --locale=C >/tmp/initdb.log 2>&1 ||
	{ cat /tmp/initdb.log; exit 1; }
rm -f /tmp/pwfile
echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
if [ "$db" != postgres ]; then
	echo "CREATE DATABASE \"$db\";" | postgres --single -D "$PGDATA" -j postgres >/dev/null
fi
echo "initialised $PGDATA: user $user, database $db"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"
ENTRYPOINT
chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh"
# Directories that tar or cp made implicitly may lack search permission.
find "$root" -type d -exec chmod 0755 {} +
chmod 1777 "$root/tmp"
chmod 0700 "$root/var/lib/postgresql/data"
chown -R 999:999 "$root/var/lib/postgresql" "$root/var/run/postgresql"
tar -C "$root" --numeric-owner -cf "$root.tar" .
docker import \
	--change 'USER 999:999' \
	--change "ENV PATH=$pg/bin:/usr/local/bin:/bin" \
	--change 'ENV PGDATA=/var/lib/postgresql/data' \
	--change 'EXPOSE 5432' \
	--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
	--message "local stand-in for postgres:15" \
	"$root.tar" "$tag" >/dev/null
rm -rf "$(dirname "$root")"
log "made $tag from $pg ($(docker run --rm --entrypoint postgres "$tag" --version))"
