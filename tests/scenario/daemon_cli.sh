#!/usr/bin/env bash
# The daemon's command line, config check, signals and journal prefixes.
source "$(dirname "$0")/../lib.sh"

out=$("$HOURGLASS" --version); rc=$?
expect_eq "--version exits 0" "$rc" 0
expect_match "--version prints the version" "$out" '^hourglass [0-9]+\.[0-9]+\.[0-9]+$'
"$HOURGLASS" -h > "$T/help" 2>&1
expect_eq "-h exits 0" "$?" 0
check "-h shows -c and -t" grep -q -- '-t, --test' "$T/help"
"$HOURGLASS" --bogus > /dev/null 2>&1
expect_eq "an unknown option exits 1" "$?" 1

# -t on the demo file: exit 0, the effective config with defaults on stdout.
# It is checked in a copy of its layout, conf/demo.ini beside .run-tls/
# with the certificate `make run` makes (tools/run_tls.sh), so that the
# tree's own .run-tls/ is neither needed nor made.
mkdir "$T/conf"
cp "$TOP/conf/demo.ini" "$T/conf/"
"$TOP/tools/run_tls.sh" "$T/.run-tls" > /dev/null
DEMO=$T/conf/demo.ini
"$HOURGLASS" -t -c "$DEMO" > "$T/dump" 2> "$T/dump.err"
expect_eq "-t on conf/demo.ini exits 0" "$?" 0
check "-t prints [timeouts] with defaults filled in" grep -q '^client_header *= *10s' "$T/dump"
check "-t prints the routes" grep -q '^\[route /\]' "$T/dump"
check "-t prints the TLS listener" grep -qx 'listen = 127.0.0.1:8443 tls' "$T/dump"
check "-t prints its certificate, from the file's directory" grep -qxF \
	"tls_certificate = $T/conf/../.run-tls/cert.pem $T/conf/../.run-tls/key.pem" "$T/dump"
expect_eq "-t says the file is valid, and nothing else" "$(cat "$T/dump.err")" \
	"hourglass: $DEMO: configuration is valid"
# -t -q: the exit status alone when there is nothing to say.
"$HOURGLASS" -t -q -c "$DEMO" > "$T/q.out" 2>&1
expect_eq "-t -q on conf/demo.ini exits 0" "$?" 0
expect_eq "-t -q on a good file prints nothing" "$(wc -c < "$T/q.out")" 0
"$HOURGLASS" -q -c "$DEMO" > "$T/q.out" 2>&1
expect_eq "-q without -t is a usage error" "$?" 1
check "  and it says so" grep -q -- '-q goes with -t' "$T/q.out"
# The dump is itself a valid configuration.
"$HOURGLASS" -t -c "$T/dump" > "$T/dump2" 2>/dev/null
expect_eq "the dump loads again" "$?" 0
check "the dump is stable" cmp -s "$T/dump" "$T/dump2"

# A bad file: exit 1, every error printed with file and line, nothing bound.
cat > "$T/bad.ini" <<EOT
[server]
listen = 127.0.0.1:0
workers = many
[timeouts]
connect = 2x
[bogus]
EOT
"$HOURGLASS" -c "$T/bad.ini" > "$T/bad.out" 2>&1 &
bad=$!; _pids+=("$bad")
wait "$bad"; rc=$?
expect_eq "a bad config exits 1" "$rc" 1
check "it names workers on line 3" grep -q 'bad.ini:3: \[server\] workers = "many"' "$T/bad.out"
check "it names connect on line 5" grep -q 'bad.ini:5: \[timeouts\] connect = "2x": not a duration' "$T/bad.out"
check "it names the unknown section on line 6" grep -q 'bad.ini:6: \[bogus\]' "$T/bad.out"
"$HOURGLASS" -t -c "$T/bad.ini" > /dev/null 2>&1
expect_eq "-t on a bad config exits 1" "$?" 1
"$HOURGLASS" -t -c "$T/missing.ini" > "$T/missing.out" 2>&1
expect_eq "-t on a missing file exits 1" "$?" 1
check "a missing file is named" grep -q 'missing.ini' "$T/missing.out"

# -t opens the log files the config names, as the daemon will, and fails
# with the file and line of the key when it cannot (here even as root: the
# path lies under a regular file).  The daemon would fail the same way.
touch "$T/notadir"
cat > "$T/nolog.ini" <<EOT
[server]
listen = 127.0.0.1:0
access_log = $T/notadir/access.log
[upstream o]
server = 127.0.0.1:9
[route /]
upstream = o
EOT
"$HOURGLASS" -t -q -c "$T/nolog.ini" > "$T/nolog.out" 2> "$T/nolog.err"
expect_eq "-t -q with an access log that cannot be opened exits 1" "$?" 1
expect_eq "  it names the file, line and key, and why" "$(head -n 1 "$T/nolog.err")" \
	"$T/nolog.ini:3: [server] access_log = \"$T/notadir/access.log\": cannot open it for writing: Not a directory"
expect_eq "  nothing on stdout" "$(wc -c < "$T/nolog.out")" 0
"$HOURGLASS" -c "$T/nolog.ini" > /dev/null 2> "$T/nolog.d.err"
expect_eq "  the daemon does not start on it either (exit 1)" "$?" 1
check "  and says why" grep -q 'access log .*notadir/access.log: Not a directory' "$T/nolog.d.err"
sed -i "s|^access_log = .*|access_log = $T/access-t.log|" "$T/nolog.ini"
echo kept > "$T/access-t.log"
"$HOURGLASS" -t -q -c "$T/nolog.ini" > "$T/nolog.out" 2>&1
expect_eq "-t -q with a writable access log exits 0" "$?" 0
expect_eq "  and prints nothing" "$(wc -c < "$T/nolog.out")" 0
expect_eq "  the log is not truncated" "$(cat "$T/access-t.log")" kept
rm -f "$T/access-t.log"
"$HOURGLASS" -t -q -c "$T/nolog.ini" > /dev/null 2>&1
check "  a missing log is created, as the daemon would" test -f "$T/access-t.log"

# Warnings: exit 0, each with the file and line, with or without -q.
cat > "$T/warn.ini" <<EOT
[server]
listen = 127.0.0.1:0
[limits]
max_header = 40
[timeouts]
request = 1s
connect = 5s
client_idle = 500ms
upstream_idle = 500ms
upstream_header = 500ms
[upstream o]
server = 127.0.0.1:9
EOT
"$HOURGLASS" -t -q -c "$T/warn.ini" > "$T/warn.out" 2> "$T/warn.err"
expect_eq "-t -q with warnings exits 0" "$?" 0
expect_eq "  nothing on stdout" "$(wc -c < "$T/warn.out")" 0
expect_eq "  three warnings" "$(grep -c ': warning: ' "$T/warn.err")" 3
check "  no route: every request would get 503" \
	grep -qx "$T/warn.ini: warning: no \[route PREFIX\] section: every request would get 503 (e.g. \[route /\] with upstream = NAME)" "$T/warn.err"
check "  connect = 5s under request = 1s, on line 7" \
	grep -q "^$T/warn.ini:7: warning: \[timeouts\] connect = 5s can never fire: it is not shorter than request = 1s" "$T/warn.err"
check "  max_header = 40, on line 4" \
	grep -q "^$T/warn.ini:4: warning: \[limits\] max_header = 40 is smaller than a request line" "$T/warn.err"
"$HOURGLASS" -t -c "$T/warn.ini" > "$T/warn.out" 2> "$T/warn.err2"
expect_eq "-t with warnings exits 0" "$?" 0
check "  the same warnings, then the verdict" \
	test "$(grep -v 'configuration is valid' "$T/warn.err2")" = "$(cat "$T/warn.err")"
check "  and the dump" grep -q '^connect = 5s$' "$T/warn.out"

# Route overrides that cannot apply are errors that say why.
cat > "$T/route.ini" <<EOT
[upstream o]
server = http://127.0.0.1:9000
[route /api]
upstream = o
keepalive = 1s
drain = 1s
EOT
"$HOURGLASS" -t -c "$T/route.ini" > /dev/null 2> "$T/route.err"
expect_eq "-t with drain in a route exits 1" "$?" 1
expect_eq "  the errors, each on its line, and no 'no server' error" "$(grep -v 'configuration is invalid' "$T/route.err")" \
"$T/route.ini:2: [upstream o] server = \"http://127.0.0.1:9000\": hourglass takes HOST:PORT, not a URL (e.g. 127.0.0.1:9000 weight=2)
$T/route.ini:6: [route /api] drain = \"1s\": drain is process-wide; set it in [timeouts]"

# A running daemon: reload good and bad files, reopen logs, stop on SIGTERM.
cat > "$T/good.ini" <<EOT
[server]
listen = 127.0.0.1:0
access_log = $T/access.log
[upstream origin]
server = 127.0.0.1:9
[route /]
upstream = origin
EOT
cp "$T/good.ini" "$T/live.ini"
JOURNAL_STREAM=8:1234 "$HOURGLASS" -c "$T/live.ini" > "$T/d.out" 2> "$T/d.err" &
hg=$!; _pids+=("$hg")
for _ in $(seq 100); do grep -q started "$T/d.err" 2>/dev/null && break; sleep 0.05; done
check "the daemon starts" grep -q 'started' "$T/d.err"
check "under the journal, lines carry <6> priorities" grep -q '^<6>hourglass .* started' "$T/d.err"

cp "$T/bad.ini" "$T/live.ini"
kill -HUP "$hg"
for _ in $(seq 100); do grep -q 'reload refused' "$T/d.err" && break; sleep 0.05; done
check "a bad reload is refused" grep -q '^<3>reload refused' "$T/d.err"
check "a bad reload logs each error" grep -q '^<3>.*live.ini:5: \[timeouts\] connect' "$T/d.err"
check "the daemon survives a bad reload" kill -0 "$hg"

cp "$T/good.ini" "$T/live.ini"
kill -HUP "$hg"
for _ in $(seq 100); do grep -q 'reloaded' "$T/d.err" && break; sleep 0.05; done
check "a good reload is taken" grep -q 'configuration generation 1' "$T/d.err"

# A reload with a warning is taken, and the daemon logs the warning.
{ cat "$T/good.ini"; printf '[timeouts]\nrequest = 10s\nconnect = 15s\n'; } > "$T/live.ini"
kill -HUP "$hg"
for _ in $(seq 100); do grep -q 'generation 2' "$T/d.err" && break; sleep 0.05; done
check "a reload with a warning is taken" grep -q 'configuration generation 2' "$T/d.err"
check "  and logs it at warning level (<4>), with its line" \
	grep -q "^<4>$T/live.ini:10: warning: \[timeouts\] connect = 15s can never fire" "$T/d.err"

mv "$T/access.log" "$T/access.log.1" 2>/dev/null
kill -USR1 "$hg"
for _ in $(seq 100); do grep -q 'reopened' "$T/d.err" && break; sleep 0.05; done
check "SIGUSR1 reopens the access log" grep -q 'access log reopened' "$T/d.err"
check "the reopened access log exists again" test -e "$T/access.log"

kill -TERM "$hg"; wait "$hg"; rc=$?
expect_eq "SIGTERM exits 0" "$rc" 0
check "it says it stopped" grep -q 'stopped' "$T/d.err"

# The systemd unit verifies, where systemd-analyze exists.
if command -v systemd-analyze > /dev/null 2>&1; then
	sed -e "s|@BINDIR@|$TOP|g" -e "s|@SYSCONFDIR@|$T/etc|g" \
	    "$TOP/systemd/hourglass.service" > "$T/hourglass.service"
	systemd-analyze verify "$T/hourglass.service" > "$T/verify.out" 2>&1
	rc=$?
	expect_eq "systemd-analyze verify hourglass.service" "$rc" 0
	[ $rc -eq 0 ] || cat "$T/verify.out"
else
	fail "systemd-analyze is not installed (make check installs systemd): the unit was not verified"
fi
finish
