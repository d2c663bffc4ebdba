#!/bin/sh
# make deb: the Debian packages (debian/), built with
# `dpkg-buildpackage -us -uc -b` in a copy of the tree, so that the tree's
# own objects (built with other flags, maybe a sanitizer) are neither
# packaged nor replaced.  The .deb files, .buildinfo and .changes land in
# OUT (default build/deb), and lintian's verdict on them is printed when
# lintian is installed.
#   tools/deb.sh [OUT]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/deb}
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
ver=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
src=$out/hourglass-$ver

rm -rf "$out"
mkdir -p "$src"
# The sources: what git tracks (as it is in the work tree) and new files
# it does not ignore; outside a git checkout, the tree less its build.
cd "$top"
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
	    xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
	    tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude=./build --exclude=./tests/out -cf - . | tar -xf - -C "$src"
fi

# A make that runs this passes its own variables down; not to this build.
cd "$src"
t0=$(date +%s)
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE -u LTO \
    dpkg-buildpackage -us -uc -b -Jauto > "$out/build.log" 2>&1 || {
	tail -n 40 "$out/build.log" >&2
	echo "hourglass: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
}
t1=$(date +%s)
cd "$out"
rm -rf "$src"
echo "hourglass: built in $((t1 - t0)) s, in $out:"
ls -1 ./*.deb | sed 's/^/  /'
if command -v lintian > /dev/null 2>&1; then
	if lintian --fail-on error,warning ./*.changes > lintian.log 2>&1; then
		echo "lintian: no error, no warning"
	else
		echo "lintian: errors or warnings (lintian.log):"
		sed 's/^/  /' lintian.log
	fi
fi
echo "Install: sudo apt install $out/hourglass_${ver}_$(dpkg --print-architecture).deb"
