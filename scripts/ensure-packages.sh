#!/usr/bin/env bash
# Installs the named Debian packages that are not installed yet.
#
# CI runs on a fresh machine with none of the project's services installed, while
# developer machines usually have them already; every script that needs a package
# calls this, so each one works on its own in both places and installs only
# what is missing.
#
# usage: scripts/ensure-packages.sh PACKAGE...
set -euo pipefail

log() { printf '[ensure-packages] %s\n' "$*" >&2; }

missing=()
for pkg in "$@"; do
	# dpkg's own status, not `command -v`: busybox-static and the dynamically
	# linked busybox package both provide /bin/busybox, and only one is usable
	# in a scratch-like image.
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	if [[ $status != installed ]]; then
		missing+=("$pkg")
	fi
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

if ((EUID != 0)); then
	log "missing packages ${missing[*]}, and installing them needs root"
	exit 1
fi

# Package post-install scripts would start the services they bring (dockerd with
# its default overlay storage driver, a PostgreSQL "main" cluster on 5432). The
# project starts its own instances with the settings that work here, so keep
# the packaged ones down: policy-rc.d exiting 101 tells invoke-rc.d "not now".
# Only a policy file this script created is removed again.
policy=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
	if ((created_policy)); then
		rm -f "$policy"
	fi
}
trap cleanup EXIT
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	created_policy=1
fi

log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The lock timeout covers another apt run (unattended upgrades, a parallel
# script) holding the dpkg lock for a while.
apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
apt-get "${apt_opts[@]}" update -qq
# Recommends stay on: this is the package set local-docker.md was tried with.
apt-get "${apt_opts[@]}" install -y -qq "${missing[@]}" </dev/null
