#!/usr/bin/env bash
# deps.sh - install (idempotently) every Debian package needed to build and
# test ovld. Does nothing when all are present; runs `apt-get update` only
# when something is missing and the package lists are absent or stale.
# Installing etcd-server must not leave a system etcd on port 2379 (the
# tests start their own), so service starts are denied while installing
# and a started service is stopped again.
set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config clang libclang-rt-14-dev
	libraft-dev libuv1-dev liblmdb-dev libnl-3-dev libnl-route-3-dev
	libmsgpack-dev libh2o-dev libssl-dev libjansson-dev libcmocka-dev libcrypt-dev
	openssl
	etcd-server etcd-client
	docker.io containerd runc busybox-static tini iptables
	podman containernetworking-plugins
	iproute2 iputils-ping curl python3 valgrind ca-certificates
	wrk strace
)

missing_packages() {
	local p
	for p in "${PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed"; then
			echo "$p"
		fi
	done
}

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		echo "deps.sh: need root to run: $*" >&2
		return 1
	fi
}

lists_stale() {
	# No lists at all, or none refreshed in the last day.
	local lists=/var/lib/apt/lists
	[ -z "$(find "$lists" -maxdepth 1 -name '*_Packages*' -print -quit \
		2>/dev/null)" ] ||
		[ -z "$(find "$lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 \
			-print -quit 2>/dev/null)" ]
}

# Debian's postinst scripts start services through invoke-rc.d, which asks
# policy-rc.d first; exit code 101 means "do not start". Only ours is
# removed afterwards.
deny_service_starts() {
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d &&
			chmod 755 /usr/sbin/policy-rc.d'
		POLICY_ADDED=1
	fi
}

allow_service_starts() {
	if [ "${POLICY_ADDED:-0}" = 1 ]; then
		as_root rm -f /usr/sbin/policy-rc.d
	fi
}

stop_system_etcd() {
	# The packaged service (init script or systemd unit), never an etcd a
	# user or a test started by hand.
	if command -v systemctl >/dev/null &&
		systemctl is-active --quiet etcd 2>/dev/null; then
		as_root systemctl stop etcd || true
		as_root systemctl disable etcd >/dev/null 2>&1 || true
	fi
	if [ -x /etc/init.d/etcd ] &&
		/etc/init.d/etcd status >/dev/null 2>&1; then
		as_root /etc/init.d/etcd stop || true
	fi
}

main() {
	local missing
	missing=$(missing_packages)
	if [ -z "$missing" ]; then
		echo "deps.sh: all ${#PACKAGES[@]} packages present"
		return 0
	fi
	echo "deps.sh: installing: ${missing//$'\n'/ }"
	export DEBIAN_FRONTEND=noninteractive
	if lists_stale; then
		as_root apt-get update -q
	fi
	deny_service_starts
	trap allow_service_starts EXIT
	# shellcheck disable=SC2086 # one word per package
	if ! as_root apt-get install -y -q --no-install-recommends $missing; then
		# The lists may be recent but already out of date.
		as_root apt-get update -q
		as_root apt-get install -y -q --no-install-recommends $missing
	fi
	allow_service_starts
	trap - EXIT
	stop_system_etcd
	missing=$(missing_packages)
	if [ -n "$missing" ]; then
		echo "deps.sh: still missing: ${missing//$'\n'/ }" >&2
		return 1
	fi
}

main "$@"
