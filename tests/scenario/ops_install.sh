#!/usr/bin/env bash
# make install and make run, as an operator sees them:
# - the config path compiled into the daemon follows SYSCONFDIR, also when
#   `make install SYSCONFDIR=/etc` comes after a plain build;
# - the installed hourglass.ini is the production-safe reference (loopback
#   listener, design defaults, a placeholder upstream), not the demo, and
#   passes -t without a warning; the unit checks it with -t -q;
# - the demo config of `make run` shows a real timeout: 504 at
#   upstream_header after 3 s, its :8443 TLS listener answers curl
#   --cacert with the certificate tools/run_tls.sh made, and tools/run.sh
#   says where it listens;
# - the man pages and the test origin are installed too, the pages naming
#   the configuration directory of the install; SBINDIR moves the daemon
#   (the Debian package's /usr/sbin) and the unit follows it.
# The build runs in a copy of the tree under $T, so that the tree's own
# binary is never rebuilt under the other tests.
source "$(dirname "$0")/../ops_lib.sh"

SRC=$T/src
mkdir -p "$SRC/tests"
cp -a "$TOP/Makefile" "$TOP/lib" "$TOP/daemon" "$TOP/conf" "$TOP/systemd" \
    "$TOP/tools" "$TOP/man" "$SRC/"
cp -a "$TOP/tests/origin" "$SRC/tests/"
# The objects and stamps come along, so that only what the install
# directories change is built again (all of it if the flags differ).
cp -a "$TOP/.build-flags" "$TOP/hourglass" "$SRC/" 2>/dev/null
[ -e "$TOP/.build-paths" ] && cp -a "$TOP/.build-paths" "$SRC/"
# A make that runs this test passes its own variables down; not these.
MAKEFLAGS=$(sed -E 's/(^| )(PREFIX|BINDIR|SBINDIR|SYSCONFDIR|UNITDIR|MANDIR|DESTDIR)=[^ ]*//g' \
    <<< "${MAKEFLAGS:-}")
export MAKEFLAGS
unset PREFIX BINDIR SBINDIR SYSCONFDIR UNITDIR MANDIR DESTDIR

# help_config BINARY: the default config path its -h names.
help_config() { "$1" -h | sed -n 's/.*configuration file (default \(.*\))$/\1/p'; }

note "build with the default directories"
make -C "$SRC" -j2 all > "$T/build.log" 2>&1
rc=$?
expect_eq "make all in a copy of the tree" "$rc" 0
[ $rc -eq 0 ] || tail -n 20 "$T/build.log"
expect_eq "a default build reads /usr/local/etc/hourglass/hourglass.ini" \
	"$(help_config "$SRC/hourglass")" /usr/local/etc/hourglass/hourglass.ini

note "make install DESTDIR=\$T/root PREFIX=/usr SYSCONFDIR=/etc, after it"
make -C "$SRC" install DESTDIR="$T/root" PREFIX=/usr SYSCONFDIR=/etc \
    > "$T/install.log" 2>&1
rc=$?
expect_eq "make install exits 0" "$rc" 0
[ $rc -eq 0 ] || tail -n 20 "$T/install.log"
check "  it built daemon/main.o again" grep -q -- '-c -o daemon/main.o daemon/main.c' "$T/install.log"
check "  and not the library" bash -c "! grep -q -- '-o lib/config.o' '$T/install.log'"
B=$T/root/usr/bin/hourglass
check "the binary is installed in /usr/bin" test -x "$B"
expect_eq "the installed binary reads /etc/hourglass/hourglass.ini" \
	"$(help_config "$B")" /etc/hourglass/hourglass.ini
make -C "$SRC" install DESTDIR="$T/root" PREFIX=/usr SYSCONFDIR=/etc \
    > "$T/install2.log" 2>&1
check "a second install with the same directories builds nothing" \
	bash -c "! grep -q -- '-c -o ' '$T/install2.log'"

note "the installed configuration"
E=$T/root/etc/hourglass
check "hourglass.ini is installed" test -f "$E/hourglass.ini"
check "  and is conf/hourglass.ini" cmp -s "$E/hourglass.ini" "$TOP/conf/hourglass.ini"
check "  with the example beside it" cmp -s "$E/hourglass.ini.example" "$TOP/conf/hourglass.ini"
check "it is not the demo: no upstream on :9000" bash -c "! grep -q ':9000' '$E/hourglass.ini'"
check "  and no upstream_header = 3s" bash -c "! grep -Eq '^[[:space:]]*upstream_header[[:space:]]*=[[:space:]]*3s' '$E/hourglass.ini'"
check "  its placeholder upstream says CHANGE ME" \
	grep -Eq '^server = 127\.0\.0\.1:8081 +# CHANGE ME' "$E/hourglass.ini"
check "  the access log goes to the unit's LogsDirectory" \
	grep -qx 'access_log = /var/log/hourglass/access.log' "$E/hourglass.ini"
# -t opens the access log: point it into $T, the rest stays as installed.
sed "s|^access_log = .*|access_log = $T/access-installed.log|" "$E/hourglass.ini" > "$T/installed.ini"
"$B" -t -q -c "$T/installed.ini" > "$T/t.out" 2>&1
expect_eq "the installed file passes -t -q" "$?" 0
expect_eq "  without a word (no warning)" "$(cat "$T/t.out")" ""
"$B" -t -c "$T/installed.ini" > "$T/t.dump" 2> /dev/null
expect_eq "  it listens on loopback only" "$(sed -n 's/^listen = //p' "$T/t.dump" | tr '\n' ' ')" \
	"127.0.0.1:8080 [::1]:8080 "
check "  upstream_header is the design's 30s" grep -qx 'upstream_header = 30s' "$T/t.dump"
check "  request is the design's 60s" grep -qx 'request = 1m' "$T/t.dump"
echo "; edited" >> "$E/hourglass.ini"
make -C "$SRC" install DESTDIR="$T/root" PREFIX=/usr SYSCONFDIR=/etc > /dev/null 2>&1
check "a later install keeps an edited hourglass.ini" grep -qx '; edited' "$E/hourglass.ini"

U=$T/root/usr/lib/systemd/system/hourglass.service
check "the unit checks quietly before the start" \
	grep -qx 'ExecStartPre=/usr/bin/hourglass -t -q -c /etc/hourglass/hourglass.ini' "$U"
check "the unit starts the installed binary on the installed file" \
	grep -qx 'ExecStart=/usr/bin/hourglass -c /etc/hourglass/hourglass.ini' "$U"

note "the man pages and the test origin"
M=$T/root/usr/share/man
for p in man8/hourglass.8 man5/hourglass.ini.5 man1/hourglass-origin.1; do
	check "$p is installed" test -s "$M/$p"
done
check "  hourglass.8 names /etc/hourglass/hourglass.ini" \
	grep -qxF '.It Pa /etc/hourglass/hourglass.ini' "$M/man8/hourglass.8"
check "the test origin is installed as /usr/bin/hourglass-origin" \
	test -x "$T/root/usr/bin/hourglass-origin"
"$T/root/usr/bin/hourglass-origin" -h > /dev/null 2>&1
expect_eq "  and runs (-h)" "$?" 0

# Before the default directories, so that the daemon is not built again.
note "make install SBINDIR=/usr/sbin, as the Debian package does"
make -C "$SRC" install DESTDIR="$T/root3" PREFIX=/usr SBINDIR=/usr/sbin SYSCONFDIR=/etc \
    > "$T/install4.log" 2>&1
expect_eq "make install SBINDIR=/usr/sbin exits 0" "$?" 0
check "  and builds nothing again" bash -c "! grep -q -- '-c -o ' '$T/install4.log'"
check "the daemon is in /usr/sbin" test -x "$T/root3/usr/sbin/hourglass"
check "  and not in /usr/bin" test ! -e "$T/root3/usr/bin/hourglass"
check "the test origin stays in /usr/bin" test -x "$T/root3/usr/bin/hourglass-origin"
check "the unit starts /usr/sbin/hourglass" grep -qx \
	'ExecStart=/usr/sbin/hourglass -c /etc/hourglass/hourglass.ini' \
	"$T/root3/usr/lib/systemd/system/hourglass.service"

note "make install with the default directories again"
make -C "$SRC" install DESTDIR="$T/root2" > "$T/install3.log" 2>&1
expect_eq "make install (defaults) exits 0" "$?" 0
expect_eq "its binary reads /usr/local/etc/hourglass/hourglass.ini" \
	"$(help_config "$T/root2/usr/local/bin/hourglass")" /usr/local/etc/hourglass/hourglass.ini
M2=$T/root2/usr/local/share/man
check "its man pages are in /usr/local/share/man" test -s "$M2/man5/hourglass.ini.5"
check "  and name /usr/local/etc/hourglass/hourglass.ini" \
	grep -qxF '.It Pa /usr/local/etc/hourglass/hourglass.ini' "$M2/man8/hourglass.8"
check "  and /usr/local/etc/logrotate.d/hourglass" \
	grep -qxF '.It Pa /usr/local/etc/logrotate.d/hourglass' "$M2/man8/hourglass.8"
check "  and no /etc/hourglass any more" bash -c "! grep -q '[^l]/etc/hourglass' '$M2/man8/hourglass.8' '$M2/man5/hourglass.ini.5'"

note "the demo config of make run: a real upstream_header timeout"
start_origin || finish
v6=
grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null && v6=yes
# A copy with port 0 listeners, in conf/ beside the .run-tls/ certificate
# its relative tls_certificate names, as in the tree.
mkdir -p "$T/conf"
"$SRC/tools/run_tls.sh" "$T/.run-tls" > /dev/null
sed -e "s/^server = 127.0.0.1:9000$/server = 127.0.0.1:$ORIGIN_PORT/" \
    -e 's/^listen = 127.0.0.1:8080$/listen = 127.0.0.1:0/' \
    -e "s/^listen = \[::1\]:8080$/${v6:+listen = [::1]:0}/" \
    -e 's/^listen = 127.0.0.1:8443 tls$/listen = 127.0.0.1:0 tls/' \
    -e "s/^listen = \[::1\]:8443 tls$/${v6:+listen = [::1]:0 tls}/" \
    "$TOP/conf/demo.ini" > "$T/conf/demo.ini"
check "the demo points at the origin on :9000, which make run starts" \
	grep -qx 'server = 127.0.0.1:9000' "$TOP/conf/demo.ini"
check "the demo listens on :8443 with TLS" grep -qx 'listen = 127.0.0.1:8443 tls' "$TOP/conf/demo.ini"
check "  with the certificate of make run" \
	grep -qx 'tls_certificate = ../.run-tls/cert.pem ../.run-tls/key.pem' "$TOP/conf/demo.ini"
start_hourglass "$T/conf/demo.ini" || finish
hg_curl "http://127.0.0.1:$HG_PORT/"
expect_eq "GET / through the demo config" "$CODE" 200
hg_curl "http://127.0.0.1:$HG_PORT/delay/5000"
expect_eq "GET /delay/5000: 504" "$CODE" 504
expect_range "  after 3 s (upstream_header = 3s)" "$MS" 2990 3500
wait_grep "$HG_ERR" 'outcome=timeout:upstream_header'
check "  logged target=/delay/5000 ... outcome=timeout:upstream_header" \
	grep -Eq ' target=/delay/5000 .*outcome=timeout:upstream_header' "$HG_ERR"
# Its TLS listener (the second 127.0.0.1 port it listens on), with the
# certificate run_tls.sh made, as the README's curl --cacert line.
PT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$HG_ERR" |
    awk '!seen[$0]++' | sed -n 2p)
hg_curl --cacert "$T/.run-tls/cert.pem" --resolve "localhost:${PT:-0}:127.0.0.1" \
    "https://localhost:${PT:-0}/"
expect_eq "curl --cacert .run-tls/cert.pem https://localhost:PORT/ (the :8443 tls listener)" \
	"$CODE $RC" "200 0"
wait_grep "$HG_ERR" 'tls=TLSv1\.3'
check "  logged over TLS 1.3" grep -Eq ' target=/ .*status=200 .*tls=TLSv1\.3' "$HG_ERR"
if [ -n "$v6" ]; then
	P6=$(sed -n 's/.*listening on \[::1\]:\([0-9][0-9]*\)$/\1/p' "$HG_ERR" | head -n 1)
	hg_curl -g "http://[::1]:$P6/"
	expect_eq "the demo also listens on [::1]" "$CODE" 200
else
	note "no ::1 here: the demo's IPv6 listener not tested"
fi
stop_pid "$HG_PID"

note "tools/run.sh says where it listens, from the file it runs"
# Run it in the copy, on the demo file with port 0 listeners (its origin
# takes 127.0.0.1:9000 if free, and is stopped with it); it makes the
# certificate in the copy's .run-tls/ on its first run.
cp "$T/conf/demo.ini" "$SRC/conf/run-test.ini"
sed -i "s/^server = .*/server = 127.0.0.1:9000/" "$SRC/conf/run-test.ini"
rm -rf "$SRC/.run-tls"
HOURGLASS_CONFIG=conf/run-test.ini "$SRC/tools/run.sh" > "$T/run.out" 2> "$T/run.err" &
run=$!; _pids+=("$run")
wait_grep "$T/run.err" 'listening on'
want="127.0.0.1:0${v6:+ and [::1]:0} and 127.0.0.1:0 tls${v6:+ and [::1]:0 tls}"
check "the banner names the listeners: $want" grep -qF "hourglass on $want with conf/run-test.ini." "$T/run.out"
check "the banner names the upstream_header in force" grep -qF '(upstream_header = 3s)' "$T/run.out"
check "the banner shows curl over TLS" \
	grep -qF 'curl --cacert .run-tls/cert.pem https://localhost:8443/' "$T/run.out"
check "run.sh made the certificate on first run" grep -qF \
	'made a self-signed certificate for localhost: .run-tls/cert.pem' "$T/run.out"
check "  for localhost, 127.0.0.1 and ::1" bash -c "openssl x509 -in '$SRC/.run-tls/cert.pem' \
	-noout -ext subjectAltName | grep -qF 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1'"
check "  for 10 years" openssl x509 -in "$SRC/.run-tls/cert.pem" -noout -checkend $((3649 * 86400))
check "  with a key only its owner may read" \
	test "$(stat -c %a "$SRC/.run-tls/key.pem")" = 600
# Stop its hourglass (a child of run.sh, by PID): run.sh then stops the origin.
for c in $(cat "/proc/$run/task/$run/children" 2>/dev/null); do
	[ "$(readlink "/proc/$c/exe")" = "$(readlink -f "$SRC/hourglass")" ] && kill -TERM "$c"
done
n=100; while [ $n -gt 0 ] && kill -0 "$run" 2>/dev/null; do sleep 0.05; n=$((n - 1)); done
check "run.sh ends when its hourglass stops" bash -c "! kill -0 $run 2>/dev/null"

finish
