#!/usr/bin/env bash
# The Debian packages, as an operator would get them from `make deb`:
# - tools/deb.sh builds hourglass and hourglass-origin with
#   dpkg-buildpackage -us -uc -b, in a copy of the tree (here into $T), and
#   leaves the tree's own binary alone; lintian finds no error and no
#   warning in them;
# - hourglass holds /usr/sbin/hourglass, /etc/hourglass/hourglass.ini and
#   the logrotate snippet as conffiles, the service and the socket, the man
#   pages; its postinst enables and starts the service but not the socket;
#   it depends on the libraries the daemon links; hourglass-origin holds
#   /usr/bin/hourglass-origin and its page;
# - unpacked with dpkg -x into a scratch root, the daemon is the packaged
#   version, reads /etc/hourglass/hourglass.ini by default and passes -t on
#   the installed file (its access log pointed into the scratch root), and
#   with the packaged origin it serves a request on loopback.
# The build and lintian take 85 s on the shared 2-core machine at a load of
# 3.5, 105 s at 8 (30 s of CPU time); they are given 165 s.
source "$(dirname "$0")/../proxy_lib.sh"

for c in dpkg-buildpackage dh lintian; do
	command -v "$c" > /dev/null 2>&1 ||
	    { fail "$c is not installed (make check installs it)"; finish; }
done
ver=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
sum_tree() { sha256sum "$TOP/hourglass" "$TOP/.build-flags" 2>/dev/null | awk '{ printf "%.12s ", $1 }'; }
before=$(sum_tree)

note "tools/deb.sh \$T/deb (make deb), version $ver"
t0=$(date +%s)
timeout 165 "$TOP/tools/deb.sh" "$T/deb" > "$T/deb.out" 2>&1
rc=$?
t1=$(date +%s)
expect_eq "tools/deb.sh exits 0" "$rc" 0
note "the packages took $((t1 - t0)) s, lintian included"
if [ $rc -ne 0 ]; then
	[ $rc -eq 124 ] && fail "the build did not end within 165 s"
	tail -n 30 "$T/deb.out"
	finish
fi
expect_eq "the tree's binary and flags are as they were" "$(sum_tree)" "$before"
D=$T/deb/hourglass_${ver}_$arch.deb
O=$T/deb/hourglass-origin_${ver}_$arch.deb
check "hourglass_${ver}_$arch.deb is built" test -s "$D"
check "hourglass-origin_${ver}_$arch.deb is built" test -s "$O"
check "deb.sh tells how to install it" \
	grep -qxF "Install: sudo apt install $D" "$T/deb.out"

note "lintian"
check "lintian ran on the .changes" test -s "$T/deb/lintian.log" -o -e "$T/deb/lintian.log"
grep -E '^[EW]: ' "$T/deb/lintian.log" > "$T/lintian.ew"
if [ -s "$T/lintian.ew" ]; then
	fail "lintian reports errors or warnings"; sed 's/^/  /' "$T/lintian.ew"
else
	ok "lintian: no error, no warning"
fi
check "  and deb.sh says so" grep -qx 'lintian: no error, no warning' "$T/deb.out"

note "what the packages hold"
dpkg-deb -c "$D" | awk '{ print $6 }' | sed 's|^\./||' > "$T/files"
dpkg-deb -c "$O" | awk '{ print $6 }' | sed 's|^\./||' > "$T/ofiles"
for f in usr/sbin/hourglass etc/hourglass/hourglass.ini etc/logrotate.d/hourglass \
    usr/share/man/man8/hourglass.8.gz usr/share/man/man5/hourglass.ini.5.gz \
    usr/share/doc/hourglass/copyright usr/share/doc/hourglass/changelog.gz; do
	check "hourglass: $f" grep -qxF "$f" "$T/files"
done
for u in hourglass.service hourglass.socket; do
	check "hourglass: the unit $u" grep -Eqx "(usr/)?lib/systemd/system/$u" "$T/files"
done
check "hourglass: no hourglass.ini.example (dpkg keeps the original)" \
	bash -c "! grep -q 'hourglass.ini.example' '$T/files'"
check "hourglass: not the origin" bash -c "! grep -q 'hourglass-origin' '$T/files'"
for f in usr/bin/hourglass-origin usr/share/man/man1/hourglass-origin.1.gz \
    usr/share/doc/hourglass-origin/copyright; do
	check "hourglass-origin: $f" grep -qxF "$f" "$T/ofiles"
done
dpkg-deb -I "$D" conffiles > "$T/conffiles" 2>&1
expect_eq "the conffiles" "$(sort "$T/conffiles" | tr '\n' ' ')" \
	"/etc/hourglass/hourglass.ini /etc/logrotate.d/hourglass "
deps=$(dpkg-deb -f "$D" Depends)
for l in libc6 libevent-core libinih libssl libsystemd; do
	expect_match "hourglass depends on $l" "$deps" "(^|, )$l"
done
dpkg-deb -e "$D" "$T/ctl"
check "postinst enables hourglass.service" \
	grep -q "deb-systemd-helper enable 'hourglass.service'" "$T/ctl/postinst"
check "  and starts it" grep -q "deb-systemd-invoke \$_dh_action 'hourglass.service'" "$T/ctl/postinst"
check "  but enables hourglass.socket only if it was before" \
	grep -q "deb-systemd-helper debian-installed 'hourglass.socket'" "$T/ctl/postinst"
check "  and never starts it" bash -c "! grep -q \"deb-systemd-invoke.*hourglass.socket\" '$T/ctl/postinst'"

note "dpkg -x into a scratch root"
R=$T/root
dpkg -x "$D" "$R" && dpkg -x "$O" "$R"
expect_eq "dpkg -x of both" "$?" 0
B=$R/usr/sbin/hourglass
expect_eq "the installed daemon is version $ver" "$("$B" -V 2>&1)" "hourglass $ver"
expect_eq "it reads /etc/hourglass/hourglass.ini by default" \
	"$("$B" -h | sed -n 's/.*configuration file (default \(.*\))$/\1/p')" \
	/etc/hourglass/hourglass.ini
check "the installed file is conf/hourglass.ini" cmp -s "$R/etc/hourglass/hourglass.ini" "$TOP/conf/hourglass.ini"
# -t opens the access log: point it into the scratch root.
mkdir -p "$R/var/log/hourglass"
sed "s|^access_log = /var/log/hourglass/|access_log = $R/var/log/hourglass/|" \
    "$R/etc/hourglass/hourglass.ini" > "$T/installed.ini"
check "  (only access_log changed)" test "$(diff "$R/etc/hourglass/hourglass.ini" "$T/installed.ini" | grep -c '^>')" = 1
"$B" -t -q -c "$T/installed.ini" > "$T/t.out" 2>&1
expect_eq "the installed daemon passes -t -q on the installed file" "$?" 0
expect_eq "  without a word" "$(cat "$T/t.out")" ""
U=$(ls "$R"/lib/systemd/system/hourglass.service "$R"/usr/lib/systemd/system/hourglass.service 2>/dev/null | head -n 1)
check "the unit starts /usr/sbin/hourglass on the installed file" \
	grep -Eq '^ExecStart=/usr/sbin/hourglass( .*)? -c /etc/hourglass/hourglass.ini' "$U"
check "  with no @...@ left in it" bash -c "! grep -q '@[A-Z]*@' '$U'"
check "hourglass.8.gz is a gzipped mdoc page" bash -c "zcat '$R/usr/share/man/man8/hourglass.8.gz' | grep -qx '.Dt HOURGLASS 8'"

note "the installed daemon and origin, on loopback"
ORIGIN=$R/usr/bin/hourglass-origin
HOURGLASS=$B
start_origin || finish
printf '[server]\nlisten = 127.0.0.1:0\naccess_log = %s\n[upstream o]\nserver = 127.0.0.1:%s\n[route /]\nupstream = o\n' \
    "$T/access.log" "$ORIGIN_PORT" > "$T/run.ini"
start_hourglass "$T/run.ini" || finish
hg_curl "http://127.0.0.1:$HG_PORT/"
expect_eq "GET / through the installed daemon" "$CODE" 200
expect_eq "  the origin's 100 bytes" "$(wc -c < "$T/body")" 100
hg_curl -H 'X-Request-Timeout: 300ms' "http://127.0.0.1:$HG_PORT/delay/3000"
expect_eq "GET /delay/3000 with X-Request-Timeout: 300ms" "$CODE" 504
check "  with its Proxy-Status" grep -qiF 'Proxy-Status: hourglass; error=http_response_timeout; details="timeout:request"' "$T/head"
stop_pid "$HG_PID"
check "  and its access-log line" grep -q 'outcome=timeout:request' "$T/access.log"

finish
