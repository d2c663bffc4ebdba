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

# -t on the shipped file: exit 0, the effective config with defaults on stdout.
"$HOURGLASS" -t -c "$TOP/conf/hourglass.ini" > "$T/dump" 2> "$T/dump.err"
expect_eq "-t on conf/hourglass.ini exits 0" "$?" 0
check "-t prints [timeouts] with defaults filled in" grep -q '^client_header *= *10s' "$T/dump"
check "-t prints the routes" grep -q '^\[route /\]' "$T/dump"
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
