#!/usr/bin/env bash
# Robustness: the daemon keeps serving when its surroundings fail.
#
# 1. access_log = /dev/full: every write fails; requests still get 200 and
#    the error log reports the failure once (at most once a minute; with
#    HARDEN_SLOW=1 the test also waits 61 s for the second report).
# 2. The access log's directory is deleted while running: requests still
#    get 200 and their lines still go to the open (deleted) file; SIGUSR1
#    then fails to reopen, says so clearly and keeps the old descriptor;
#    once the directory is back, SIGUSR1 reopens at the path.
# 3. Out of descriptors (prlimit --nofile=40:40, 60 client connections):
#    the error log says accepts are paused, the daemon survives, a request
#    on an accepted connection is still served (the descriptor reserve),
#    and once the clients close, new connections are served again.
# 4. SIGPIPE is ignored: clients that go away in the middle of a 10 MB
#    response (reset, close, half-close) leave the daemon running, and each
#    is logged abort:client.
source "$(dirname "$0")/../harden_lib.sh"

origin_up || finish
command -v perl > /dev/null || { fail "perl is needed for the raw clients"; finish; }

# ok_requests DESC K: K requests to / each get 200.
ok_requests() {
	local d=$1 k=$2 i good=0
	for i in $(seq "$k"); do
		hg_curl "http://127.0.0.1:$HG_PORT/"
		[ "$CODE" = 200 ] && good=$((good + 1))
	done
	expect_eq "$d: 200 answers" "$good" "$k"
}

# --- 1. a full disk -----------------------------------------------------
note "access log on /dev/full"
ACCESS=/dev/full
hg_up "$T/full.ini" || finish
for round in 1 2 3 4 5; do
	ok_requests "/dev/full, round $round" 10
	sleep 0.2	# several flushes (every 50 ms), each failing
done
hg_alive "/dev/full" && ok "/dev/full: the daemon keeps serving"
reports=$(count_matching "$HG_ERR" 'access log /dev/full: write failed')
expect_eq "/dev/full: the failure is reported once" "$reports" 1
expect_eq "/dev/full: the report names the error" \
	"$(count_matching "$HG_ERR" 'write failed: No space left on device')" 1
note "$(grep 'write failed' "$HG_ERR" | head -n 1)"
if [ "${HARDEN_SLOW:-0}" = 1 ]; then
	note "HARDEN_SLOW=1: waiting 61 s for the next report"
	sleep 61
	ok_requests "/dev/full, a minute later" 5
	sleep 0.3
	expect_eq "/dev/full: a second report after a minute" \
		"$(count_matching "$HG_ERR" 'access log /dev/full: write failed')" 2
fi
hg_stop_ok "/dev/full"

# --- 2. the log directory is deleted ------------------------------------
note "access log directory deleted while running"
mkdir -p "$T/logs"
ACCESS=$T/logs/access.log
LOG_SEEN=0
hg_up "$T/dir.ini" || finish
ok_requests "before the delete" 3
wait_lines "$ACCESS" 3
logfd=$(for f in /proc/"$HG_PID"/fd/*; do
	[ "$(readlink "$f")" = "$ACCESS" ] && basename "$f"; done | head -n 1)
[ -n "$logfd" ] || fail "the daemon has no descriptor on $ACCESS"
rm -rf "$T/logs"
ok_requests "after the delete" 3
sleep 0.3
expect_eq "after the delete: lines still go to the open file" \
	"$(wc -l < "/proc/$HG_PID/fd/$logfd" 2>/dev/null)" 6
err0=$(wc -l < "$HG_ERR")
kill -USR1 "$HG_PID"
sleep 0.5
hg_alive "SIGUSR1 without the directory" && ok "SIGUSR1 without the directory: the daemon survives"
reopen_err=$(tail -n +$((err0 + 1)) "$HG_ERR" | grep -i 'reopen' | grep -i 'fail')
expect_match "SIGUSR1: the reopen failure is reported, naming the path and the cause" \
	"$reopen_err" "access log $T/logs/access.log: No such file or directory"
expect_match "SIGUSR1: it says the old file is kept" "$reopen_err" 'keeping'
claim=$(tail -n +$((err0 + 1)) "$HG_ERR" | grep -i 'access log reopened')
if [ -z "$claim" ]; then
	ok "SIGUSR1: the error log does not also claim the reopen succeeded"
else
	fail "SIGUSR1: the error log claims success next to the failure: '$claim'"
fi
ok_requests "after the failed reopen" 3
sleep 0.3
expect_eq "after the failed reopen: the old descriptor still takes the lines" \
	"$(wc -l < "/proc/$HG_PID/fd/$logfd" 2>/dev/null)" 9
mkdir -p "$T/logs"
kill -USR1 "$HG_PID"
sleep 0.5
ok_requests "after the directory came back" 2
wait_lines "$ACCESS" 2
expect_eq "SIGUSR1 with the directory back: the new file takes the lines" \
	"$(wc -l < "$ACCESS" 2>/dev/null)" 2
hg_alive "log directory" && ok "log directory: the daemon survived"
hg_stop_ok "log directory"

# --- 3. out of descriptors ----------------------------------------------
note "out of descriptors: prlimit --nofile=40:40, 60 clients"
ACCESS=$T/fd.log
LOG_SEEN=0
hg_wrap_prlimit 40
hg_up "$T/fd.ini" 'client_header = 20s' || finish
hg_unwrap
expect_eq "the daemon runs with 40 descriptors at most" \
	"$(awk '/^Max open files/ { print $4 }' "/proc/$HG_PID/limits")" 40
ok_requests "under the limit" 2
log_take "under the limit" 2
sleep 0.5	# the pooled upstream connection idles out (300 ms)
conns=()
for i in $(seq 60); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$HG_PORT" || { fail "client connection $i"; break; }
	conns+=("$fd")
done
sleep 0.5
paused=$(count_matching "$HG_ERR" 'pausing accepts')
check "60 connections: the error log says accepts are paused ($paused lines)" [ "$paused" -ge 1 ]
note "$(grep -m 1 'pausing accepts' "$HG_ERR")"
hg_alive "60 connections" && ok "60 connections: the daemon survives, with $(fd_count "$HG_PID") descriptors"
# The first connection was accepted; a request on it needs an upstream
# descriptor, which the reserve provides.
first=${conns[0]}
printf 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n' >&"$first"
timeout 3 cat <&"$first" > "$T/first.resp"
expect_match "a request on an accepted connection is served while accepts are paused" \
	"$(status_line "$T/first.resp")" '^HTTP/1\.1 200 '
log_expect "request while paused" 200 ok
sleep 2
paused=$(count_matching "$HG_ERR" 'pausing accepts')
check "the pause is not a busy loop: $paused pause lines in ~3 s" [ "$paused" -le 8 ]
for fd in "${conns[@]}"; do exec {fd}>&- 2>/dev/null; done
sleep 1.5	# the pause (1 s) ends; the closed connections are accepted and dropped
served=0
for i in $(seq 10); do
	hg_curl -m 2 "http://127.0.0.1:$HG_PORT/"
	[ "$CODE" = 200 ] && { served=1; break; }
	sleep 0.3
done
expect_eq "after the clients closed, new connections are served" "$served" 1
log_take "after the clients closed" 1
ok_requests "and keep being served" 5
log_take "served again" 5
fd_settle "out of descriptors"
hg_stop_ok "out of descriptors"

# --- 4. SIGPIPE ---------------------------------------------------------
note "clients that go away during a 10 MB response"
ACCESS=$T/pipe.log
LOG_SEEN=0
hg_up "$T/pipe.ini" || finish
if sig_ignored "$HG_PID" 13; then ok "SIGPIPE is ignored (SigIgn)"; else fail "SIGPIPE is not ignored"; fi
BIG=$((10 * 1024 * 1024))

# abort_client DESC MODE: a perl client gets the head and 200 kB of
# /bytes/10 MB, then: reset (SO_LINGER 0), close (unread data: RST
# too), or half (shutdown its write side, then read on for a while, then
# close).
abort_client() {
	local d=$1
	perl -MIO::Socket::INET -MSocket -e '
		my ($port, $mode, $big) = @ARGV;
		my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1",
		    PeerPort => $port) or die "connect: $!";
		syswrite($s, "GET /bytes/$big HTTP/1.1\r\nHost: h\r\n\r\n");
		my ($got, $buf) = (0, "");
		while ($got < 200000) {
			my $n = sysread($s, $buf, 65536);
			last unless $n;
			$got += $n;
		}
		if ($mode eq "reset") {
			setsockopt($s, SOL_SOCKET, SO_LINGER, pack("ii", 1, 0));
		} elsif ($mode eq "half") {
			shutdown($s, 1);
			select(undef, undef, undef, 0.2);
			sysread($s, $buf, 65536) for 1 .. 4;
		}
		close($s);
		print "$got\n";' "$HG_PORT" "$2" "$BIG" > "$T/abort.out" 2>&1
	check "$d: the client read part of the body ($(cat "$T/abort.out") bytes)" \
		[ "$(cat "$T/abort.out")" -ge 200000 -a "$(cat "$T/abort.out")" -lt "$BIG" ]
	log_expect "$d" 499 abort:client
	hg_alive "$d" && ok "$d: the daemon survives"
}
for i in 1 2 3; do
	abort_client "reset $i" reset
	abort_client "close with unread data $i" close
	abort_client "half-close $i" half
done
d="curl | head -c 100000"
curl -s -m 10 "http://127.0.0.1:$HG_PORT/bytes/$BIG" 2>/dev/null | head -c 100000 > "$T/head.out"
expect_eq "$d: the client got its 100000 bytes" "$(wc -c < "$T/head.out")" 100000
log_expect "$d" 499 abort:client
hg_curl "http://127.0.0.1:$HG_PORT/bytes/$BIG"
expect_eq "a whole 10 MB response afterwards" "$(wc -c < "$T/body")" "$BIG"
log_expect "whole 10 MB" 200 ok
fd_settle "SIGPIPE"
hg_stop_ok "SIGPIPE"

finish
