#!/bin/sh
# Installs the Debian packages Atoll builds and tests with, only those that
# are missing. Runs as root (CI, fresh machines) or through sudo.
set -eu
PKGS="gcc make pkg-config libuv1-dev libjansson-dev node-llhttp libsqlite3-dev
libcurl4-openssl-dev libarchive-dev libzookeeper-mt-dev libcmocka-dev curl
python3 iproute2 procps bc zookeeper"
[ "${1:-}" = "--dev" ] && PKGS="$PKGS clang"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null; then
	$SUDO apt-get update -q >/dev/null
	$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
