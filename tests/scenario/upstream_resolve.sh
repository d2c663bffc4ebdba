#!/usr/bin/env bash
# Upstream names are resolved asynchronously (evdns, which reads
# /etc/hosts): server = localhost:PORT serves.  A name that never resolves
# gives 502 error:connect at once, says so in the error log, and does not
# hold up other traffic: requests on another route keep getting 200 fast
# while it fails.  To keep every packet on loopback, the unresolvable name
# has a 64-byte label, which DNS cannot encode: the resolver fails it
# locally without sending a query.  A name whose address changes is
# followed within resolve_interval (a DNS server of the test's own, on
# loopback, seen by the daemon alone through a mount namespace: this part
# needs root, as make check runs in CI).  About 6 s.
source "$(dirname "$0")/../upstream_lib.sh"

grep -qE '^[[:space:]]*127\.0\.0\.1[[:space:]].*\blocalhost\b' /etc/hosts ||
	{ fail "/etc/hosts has no 127.0.0.1 localhost line"; finish; }

up_origin G || finish
BAD=$(printf 'x%.0s' $(seq 64)).invalid

START_MS=$(now_ms)
ug_up "$T/hg.ini" \
	'[timeouts]' 'request = 5s' 'retries = 1' '' \
	"$(ups byname max_fails=0 resolve_interval=200ms -- "localhost:$G_PORT")" \
	"$(ups ip max_fails=0 -- "127.0.0.1:$G_PORT")" \
	"$(ups bad max_fails=0 -- "$BAD:80")" \
	"$(ups again max_fails=0 resolve_interval=200ms -- "$BAD:81")" \
	'[route /echo/name]' 'upstream = byname' '' \
	'[route /echo/ip]' 'upstream = ip' '' \
	'[route /echo/bad]' 'upstream = bad' \
	|| finish
U=http://127.0.0.1:$HG_PORT

note "server = localhost:PORT"
hg_curl "$U/echo/name"
expect_eq "localhost: 200" "$CODE" 200
log_take "localhost" 1
expect_log "localhost" status=200 outcome=ok upstream="localhost:$G_PORT" tries=1
expect_eq "localhost: the origin got it" "$(oreqs G /echo/name)" 1
errlog_expect "localhost: resolved once (re-resolving the same address is quiet)" 1 \
	"upstream byname: localhost:$G_PORT resolved"
sleep 0.5	# a couple of resolve_interval rounds
hg_curl "$U/echo/name"
expect_eq "localhost, after re-resolution: 200" "$CODE" 200
log_take "localhost again" 1
errlog_expect "localhost: still resolved once" 1 "upstream byname: localhost:$G_PORT resolved"

note "a name that cannot resolve"
errlog_expect "the error log says the name cannot be resolved" 1 \
	"upstream bad: cannot resolve $BAD:80: .*error:connect"
hg_curl "$U/echo/bad"
expect_eq "unresolvable: 502" "$CODE" 502
expect_range "unresolvable: answered at once (ms)" "$MS" 0 300
log_take "unresolvable" 1
expect_log "unresolvable" status=502 outcome=error:connect

# Names are asked for again every resolve_interval, whatever the last
# answer was: each failure of "again" (200 ms) is logged.  Counted over the
# time since the daemon started, which the lines above took at least 1 s of.
note "names are resolved again every resolve_interval"
n=$(errlog_count "upstream again: cannot resolve $BAD:81")
up_ms=$(( $(now_ms) - START_MS ))
expect_range "again: resolutions in $up_ms ms (one every 200 ms)" "$n" \
	$((up_ms / 200 / 2)) $((up_ms / 200 + 2))

note "it does not hold up other traffic"
slow=0 bad=0 good=0
for i in $(seq 15); do
	hg_curl "$U/echo/bad?$i"
	[ "$CODE" = 502 ] && bad=$((bad + 1))
	hg_curl "$U/echo/ip?$i"
	[ "$CODE" = 200 ] && good=$((good + 1))
	[ "$MS" -gt "$slow" ] && slow=$MS
	hg_curl "$U/echo/name?$i"
	[ "$CODE" = 200 ] && good=$((good + 1))
	[ "$MS" -gt "$slow" ] && slow=$MS
done
expect_eq "interleaved: the unresolvable route kept failing" "$bad" 15
expect_eq "interleaved: the other routes kept answering 200" "$good" 30
expect_range "interleaved: slowest good request (ms)" "$slow" 0 200
log_take "interleaved" 45
expect_eq "interleaved: 15 error:connect lines" \
	"$(printf '%s\n' "$LOG_NEW" | grep -c ' status=502 outcome=error:connect ')" 15

hg_alive "end" && fd_settle "end"

# A name whose address changes is followed: it is asked for again every
# resolve_interval, and requests go to its new address.  This daemon runs
# in a mount namespace of its own (unshare -m, as root), whose
# /etc/resolv.conf names a DNS server of this test on loopback
# (tests/tools/dns_stub.py): it answers svc.hourglass.test with the
# address in a file, 127.0.0.1 and then 127.0.0.2, where a second origin
# listens on the same port.
note "a name whose address changes"
stop_pid "$HG_PID"
unshare -m true 2>/dev/null ||
	{ fail "unshare -m does not work here (it needs root): the re-resolution check cannot run"; finish; }
up_origin G2 --listen "127.0.0.2:$G_PORT" || finish
echo 127.0.0.1 > "$T/dns.answer"
"$(command -v python3)" "$TOP/tests/tools/dns_stub.py" --port-file "$T/dns.port" \
    --answer-file "$T/dns.answer" --log "$T/dns.log" > "$T/dns.err" 2>&1 &
_pids+=("$!")
wait_file "$T/dns.port" || { fail "dns_stub did not start"; cat "$T/dns.err"; finish; }
printf 'nameserver 127.0.0.1:%s\n' "$(cat "$T/dns.port")" > "$T/resolv.conf"
# Run in the daemon's own mount namespace: the bind mount is not seen
# outside it.
printf '%s\n' '#!/bin/sh' \
    "mount --bind '$T/resolv.conf' /etc/resolv.conf || exit 97" \
    'exec "$@"' > "$T/dnsns.sh"
chmod +x "$T/dnsns.sh"
NAME=svc.hourglass.test:$G_PORT
HOURGLASS_WRAP="unshare -m $T/dnsns.sh" ug_up "$T/moving.ini" \
	"$(ups moving max_fails=0 keepalive=0 resolve_interval=200ms -- "$NAME")" \
	'[route /echo/moving]' 'upstream = moving' \
	|| finish
U=http://127.0.0.1:$HG_PORT
# resolved_count: how many times the error log says the name resolved to
# an address it did not have.
resolved_count() { errlog_count "upstream moving: $NAME resolved"; }
for _ in $(seq 60); do [ "$(resolved_count)" -ge 1 ] && break; sleep 0.05; done
errlog_expect "moving: resolved by the test's DNS server" 1 "upstream moving: $NAME resolved"
hg_curl "$U/echo/moving?1"
expect_eq "moving: 200" "$CODE" 200
expect_eq "moving: served at 127.0.0.1" "$(oreqs G /echo/moving)" 1
log_take "moving" 1
echo 127.0.0.2 > "$T/dns.answer.new" && mv "$T/dns.answer.new" "$T/dns.answer"
for _ in $(seq 60); do [ "$(resolved_count)" -ge 2 ] && break; sleep 0.05; done
errlog_expect "moved: the new address was taken (resolve_interval 200 ms, waited at most 3 s)" 2 \
	"upstream moving: $NAME resolved"
hg_curl "$U/echo/moving?2"
expect_eq "moved: 200" "$CODE" 200
expect_eq "moved: served at 127.0.0.2" "$(oreqs G2 /echo/moving)" 1
expect_eq "moved: not at 127.0.0.1" "$(oreqs G /echo/moving)" 1
log_take "moved" 1
hg_alive "moved" && fd_settle "moved"
finish
