#!/bin/sh
# Install the Debian packages hourglass needs to build and test, if any is
# missing.  Silent when everything is present.  Extra packages may be named
# on the command line (make bench adds wrk, nginx and haproxy).
set -eu

pkgs="libevent-dev libinih-dev check node-llhttp libsystemd-dev libssl-dev pkg-config curl openssl $*"

if ! command -v dpkg-query >/dev/null 2>&1; then
	# Not Debian: leave it to pkg-config to say what is missing.
	exit 0
fi

missing=""
for p in $pkgs; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $st in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "hourglass: installing missing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "hourglass: not root and no sudo: install them by hand:" >&2
	echo "  apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "hourglass: installed:$missing"
