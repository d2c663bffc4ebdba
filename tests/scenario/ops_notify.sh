#!/usr/bin/env bash
# systemd notify, as systemd would see it: a datagram socket in NOTIFY_SOCKET
# receives READY=1 once the daemon serves, STATUS= with live counts every
# 2 s, RELOADING=1 (with MONOTONIC_USEC=) then READY=1 around each reload,
# good or refused, STOPPING=1 on SIGTERM, and WATCHDOG=1 at half of
# WATCHDOG_USEC.  workers = 2.
source "$(dirname "$0")/../ops_lib.sh"

origin_up || finish
notify_up || finish
# /hang answers nothing: upstream_header 300ms makes a timeout to count.
ops_config "$T/hg.ini" 'upstream_header = 5s' \
	'' '[route /hang]' 'upstream = o' 'upstream_header = 300ms'
cp "$T/hg.ini" "$T/good.ini"

# Start by hand: the point is what comes before and after READY=1.
HG_ERR=$T/hg.err
NOTIFY_SOCKET=$NOTIFY_SOCK WATCHDOG_USEC=400000 \
    "$HOURGLASS" -c "$T/hg.ini" > /dev/null 2> "$HG_ERR" &
HG_PID=$!
_pids+=("$HG_PID")
n=500
until grep -q 'READY=1' "$NLOG" || [ $n -le 0 ] || ! kill -0 "$HG_PID" 2>/dev/null; do
	sleep 0.01; n=$((n - 1))
done
lcount=$(grep -c "listening on" "$HG_ERR")
HG_PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\)$/\1/p' "$HG_ERR" | head -n 1)
if ! grep -q 'READY=1' "$NLOG" || [ -z "$HG_PORT" ]; then
	fail "no READY=1 within 5 s, or no port logged"
	sed 's/^/  hourglass: /' "$HG_ERR"; sed 's/^/  notify: /' "$NLOG"
	finish
fi
# The first thing the daemon does after READY=1 is serve.
hg_curl "http://127.0.0.1:$HG_PORT/"
expect_eq "a request right after READY=1" "$CODE" 200
ok "READY=1 arrived"
expect_eq "READY=1 is the first lifecycle message" "$(notify_seq)" "READY=1"
expect_eq "listeners logged when READY=1 came (one per worker)" "$lcount" "$HG_WORKERS"
STATUS_RE='^STATUS=[0-9]+ connections, [0-9]+ requests in flight, [0-9]+ timeouts in the last minute, configuration generation [0-9]+$'
wait_grep "$NLOG" ' STATUS=' 100
st=$(sed -n 's/^[0-9]* \(STATUS=.*\)/\1/p' "$NLOG" | head -n 1)
expect_match "the first STATUS= has the counts" "$st" "$STATUS_RE"
expect_match "the first STATUS= says generation 0" "$st" 'generation 0$'

# Live counts: a request in flight (/drip/30/100: 3 s, so a 2-s STATUS tick
# falls inside it) and one timeout (/hang: 504 at 300 ms).
note "counts: one request in flight, one timeout"
bg_curl drip "http://127.0.0.1:$HG_PORT/drip/30/100"
hg_curl "http://127.0.0.1:$HG_PORT/hang"
expect_eq "/hang times out" "$CODE" 504
if wait_grep "$NLOG" ' STATUS=[1-9][0-9]* connections, 1 requests in flight, 1 timeouts in the last minute' 70; then
	ok "a STATUS= shows the connection, the request in flight and the timeout"
else
	fail "no STATUS= with 1 request in flight and 1 timeout"
	grep 'STATUS=' "$NLOG" | sed 's/^/  notify: /'
fi
bg_result drip
expect_eq "the request in flight ends whole" "$BG_RC/$BG_BYTES" "0/30"

# A good reload: RELOADING=1 with MONOTONIC_USEC=, then READY=1; later
# STATUS= lines say generation 1.
note "good reload"
printf '\n[route /new]\nupstream = o\n' >> "$T/hg.ini"
hg_curl "http://127.0.0.1:$HG_PORT/?mono1"
hg_reload "good reload" "reloaded"
wait_count "$NLOG" 'READY=1' 2 40
expect_eq "good reload: RELOADING=1 then READY=1" "$(notify_seq)" \
	"READY=1 RELOADING=1 READY=1"
if wait_grep "$NLOG" ' STATUS=.*configuration generation 1$' 60; then
	ok "a STATUS= after the reload says generation 1"
else
	fail "no STATUS= with generation 1 within 3 s"
fi

# A refused reload still ends with READY=1 (systemd would otherwise wait).
note "bad reload"
printf '[server]\nworkers = many\n' > "$T/hg.ini"
hg_curl "http://127.0.0.1:$HG_PORT/?mono2"
hg_reload "bad reload" "reload refused"
wait_count "$NLOG" 'READY=1' 3 40
expect_eq "bad reload: RELOADING=1 then READY=1" "$(notify_seq)" \
	"READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1"
hg_curl "http://127.0.0.1:$HG_PORT/"
expect_eq "still serving after the refused reload" "$CODE" 200
# Once every client is gone, the next STATUS= counts nothing in flight (the
# counters come back down), the timeout still within the minute, and the
# generation still 1 after the refused reload.
seen=$(wc -l < "$NLOG")
n=60
while [ $n -gt 0 ] && ! tail -n +$((seen + 1)) "$NLOG" | grep -q ' STATUS='; do
	sleep 0.05; n=$((n - 1))
done
st=$(tail -n +$((seen + 1)) "$NLOG" | sed -n 's/^[0-9]* \(STATUS=.*\)/\1/p' | head -n 1)
expect_eq "the next STATUS= once idle" "$st" \
	"STATUS=0 connections, 0 requests in flight, 1 timeouts in the last minute, configuration generation 1"

# MONOTONIC_USEC= rides in the RELOADING=1 datagram and is CLOCK_MONOTONIC
# in microseconds: compare it with the origin's CLOCK_MONOTONIC ms of the
# request made just before each reload (mono1, mono2).
m=$(grep -o 'RELOADING=1|MONOTONIC_USEC=[0-9]*' "$NLOG" | sed 's/.*=//')
if [ "$(printf '%s\n' "$m" | grep -c .)" -eq 2 ]; then
	ok "each RELOADING=1 carries MONOTONIC_USEC="
	for i in 1 2; do
		mu=$(printf '%s\n' "$m" | sed -n "${i}p")
		o=$(oevent request "/?mono$i")
		expect_range "reload $i: MONOTONIC_USEC/1000 minus the origin's monotonic ms just before" \
			$((mu / 1000 - ${o:-0})) 0 2000
	done
else
	fail "RELOADING=1 datagrams without MONOTONIC_USEC=: $(grep RELOADING "$NLOG")"
fi

# SIGTERM: STOPPING=1, last; exit 0.
note "SIGTERM"
hg_stop_wait
expect_eq "SIGTERM: exit status" "$HG_RC" 0
expect_eq "the whole life: READY, reloads, STOPPING" "$(notify_seq)" \
	"READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 STOPPING=1"

# The watchdog (WATCHDOG_USEC=400000, no WATCHDOG_PID): WATCHDOG=1 about
# every 200 ms from start to stop, reloads included; never 400 ms without
# one, or systemd would have killed the daemon.
awk '/ WATCHDOG=1$/ { print $1 }' "$NLOG" > "$T/wd"
first=$(awk '/ READY=1/ { print $1; exit }' "$NLOG")
stop=$(awk '/ STOPPING=1/ { print $1; exit }' "$NLOG")
cnt=$(wc -l < "$T/wd")
life=$((${stop:-0} - ${first:-0}))
note "$cnt WATCHDOG=1 over $life ms"
expect_range "WATCHDOG=1 count over the daemon's life" "$cnt" \
	$((life / 200 * 2 / 3)) $((life / 200 + 3))
gaps=$( (echo "$first"; cat "$T/wd"; echo "$stop") |
	awk 'NR > 1 { print $1 - p } { p = $1 }' | sort -n)
maxgap=$(printf '%s\n' "$gaps" | tail -n 1)
median=$(printf '%s\n' "$gaps" | awk '{ g[NR] = $1 } END { print g[int((NR + 1) / 2)] }')
# systemd acts at 400 ms: a longer gap is a failure, whatever the load.
expect_range "longest time without WATCHDOG=1 (ms)" "${maxgap:-9999}" 0 399
expect_range "median WATCHDOG=1 interval (ms)" "${median:-0}" 150 260

# WATCHDOG_PID names this very process (systemd sets it to MAINPID): pings.
# WATCHDOG_PID names another process: the watchdog is not ours, no pings.
for who in self other; do
	: > "$NLOG"
	if [ $who = self ]; then
		NOTIFY_SOCKET=$NOTIFY_SOCK WATCHDOG_USEC=400000 sh -c \
		    'export WATCHDOG_PID=$$; exec "$@"' sh "$HOURGLASS" -c "$T/good.ini" \
		    > /dev/null 2> "$T/wd.$who.err" &
	else
		NOTIFY_SOCKET=$NOTIFY_SOCK WATCHDOG_USEC=400000 WATCHDOG_PID=1 \
		    "$HOURGLASS" -c "$T/good.ini" > /dev/null 2> "$T/wd.$who.err" &
	fi
	HG_PID=$!
	_pids+=("$HG_PID")
	wait_grep "$NLOG" 'READY=1' 100 || fail "WATCHDOG_PID=$who: no READY=1"
	sleep 1.2
	hg_stop_wait
	expect_eq "WATCHDOG_PID=$who: exit status" "$HG_RC" 0
	cnt=$(grep -c ' WATCHDOG=1$' "$NLOG")
	if [ $who = self ]; then
		expect_range "WATCHDOG_PID=\$MAINPID: WATCHDOG=1 in ~1.2 s" "$cnt" 4 8
	else
		expect_eq "WATCHDOG_PID of another process: no WATCHDOG=1" "$cnt" 0
	fi
done

finish
