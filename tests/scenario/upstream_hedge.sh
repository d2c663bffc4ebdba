#!/usr/bin/env bash
# Hedged requests and the retry budget (README, "Hedged requests" and
# "Retry budget"): a GET without a response head after `hedge` starts a
# second try on another server, never on one the request already waits
# on; the first head wins and each loser's socket (the first try's or a
# hedge's) is closed at once; POST, a body, or a spent budget never hedge;
# a hedge that outlives its primary's failure still wins, and the last try
# to fail ends the request with its own cause; hedge = pNN waits for 100
# samples.
# The retry budget caps retries at max(retry_budget % of requests,
# retry_budget_min a second): 1,000 requests to servers that reset every
# one cost them 1,200 attempts, not 2,000.
# About 12 s.
source "$(dirname "$0")/../upstream_lib.sh"

up_origin S --delay 400 || finish	# slow: every answer after 400 ms
up_origin S2 --delay 400 || finish
up_origin M --delay 175 || finish	# a hedge target that answers in time
up_origin F || finish			# fast
up_origin H --fail hang || finish	# never answers
up_origin H2 --fail hang || finish
up_origin R1 --fail reset || finish	# resets every request
up_origin R2 --fail reset || finish
up_dead D || finish			# refuses connects
SS=127.0.0.1:$S_PORT SS2=127.0.0.1:$S2_PORT SM=127.0.0.1:$M_PORT
SF=127.0.0.1:$F_PORT SH=127.0.0.1:$H_PORT SH2=127.0.0.1:$H2_PORT

# Each group's first server is its first pick; a route per group.
sects=()
# grp NAME ROUTE SERVER... -- [ROUTE KEY=VALUE...]
grp() {
	local name=$1 route=$2 s=() kv
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do s+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	sects+=("$(ups "$name" max_fails=0 -- "${s[@]}")" "[route $route]" "upstream = $name")
	for kv in "$@"; do sects+=("${kv%%=*} = ${kv#*=}"); done
	sects+=("")
}
grp hs /bytes/ "$SS" "$SF" -- hedge=50ms
grp hpost /echo "$SS" "$SF" -- hedge=50ms
grp hbody /echo/b "$SS" "$SF" -- hedge=50ms
sects+=("$(ups hb2 max_fails=0 retry_budget=0 retry_budget_min=0 -- "$SS" "$SF")" \
    "[route /status/]" "upstream = hb2" "hedge = 50ms" "")
grp hmax /chunked/ "$SS" "$SS2" "$SF" -- hedge=50ms hedge_max=2
# D is marked down by its first failure (for 10 s): S is the only server
# left, and a hedge never goes to the server the request waits on.
sects+=("$(ups hsame max_fails=1 fail_timeout=10s -- "127.0.0.1:$D_PORT" "$SS")" \
    "[route /delay/]" "upstream = hsame" "hedge = 50ms" "")
# The hedge starts at 250 ms; the first try fails at 300; the hedge's
# answer comes at 425, before its own upstream_header ends at 550.
grp hdetach /drip/ "$SH" "$SM" -- hedge=250ms upstream_header=300ms
grp hall /trickle-head/ "$SH" "$SH2" -- hedge=100ms upstream_header=300ms
grp hp /tail/ "$SS" "$SF" -- hedge=p40
sects+=("$(ups rb max_fails=0 retry_budget=20 retry_budget_min=1 -- \
    "127.0.0.1:$R1_PORT" "127.0.0.1:$R2_PORT")" "[route /rb/]" "upstream = rb" "")
ug_up "$T/hg.ini" "${sects[@]}" || finish

d="GET hedged after 50 ms"
: > "$T/S.events"
hg_curl "http://127.0.0.1:$HG_PORT/bytes/10"
expect_eq "$d: 200 from the fast server" "$CODE" 200
expect_range "$d: answered soon after the hedge (ms)" "$MS" 45 250
log_take "$d" 1
expect_log "$d" status=200 outcome=ok tries=2 hedged=1 won=2 upstream="$SF"
OEVENTS=$T/S.events
for _ in $(seq 20); do [ -n "$(oevent close /bytes/10)" ] && break; sleep 0.05; done
c=$(oevent close /bytes/10) r=$(oevent request /bytes/10)
[ -n "$c" ] && [ -n "$r" ] && ms=$((c - r)) || ms=
if [ -z "$ms" ]; then
	fail "$d: the slow server never saw its connection closed"
else
	expect_range "$d: the slow server saw the loser closed at once (ms after its request)" "$ms" 0 200
fi
expect_eq "$d: the slow server sent no response" "$(oevent done /bytes/10)" ""
fd_settle "$d"
check "$d: the error log says which try won" grep -q "hedge try 2 on $SF won" "$HG_ERR"

# Each starts on the slow server (the hedge would take the fast one).
for args in "-X POST /echo" "--data-binary x -X GET /echo/b"; do
	d="${args% *}: never hedged"
	hg_curl ${args% *} "http://127.0.0.1:$HG_PORT${args##* }"
	expect_match "$d: answered" "$CODE" '^[24]0[04]$'
	expect_range "$d: waited for the slow server (ms)" "$MS" 390 900
	log_take "$d" 1
	expect_log "$d" tries=1 hedged=0 upstream="$SS"
done

d="retry_budget = 0: no hedge"
hg_curl "http://127.0.0.1:$HG_PORT/status/200"
expect_eq "$d: 200" "$CODE" 200
expect_range "$d: waited for the slow server (ms)" "$MS" 390 900
log_take "$d" 1
expect_log "$d" tries=1 hedged=0 won=1 upstream="$SS"
check "$d: the error log says why" grep -q "no hedge: the retry budget of upstream hb2 is spent" "$HG_ERR"

d="hedge_max = 2"
: > "$T/S2.events"
hg_curl "http://127.0.0.1:$HG_PORT/chunked/10"
expect_eq "$d: 200" "$CODE" 200
expect_range "$d: the second hedge answered (ms)" "$MS" 95 300
log_take "$d" 1
expect_log "$d" tries=3 hedged=1 won=3 upstream="$SF"
# The first hedge (on S2) lost: its socket is closed at once, never pooled
# (a pooled one would stay open until S2 answers, 400 ms after its request).
OEVENTS=$T/S2.events
for _ in $(seq 20); do [ -n "$(oevent close /chunked/10)" ] && break; sleep 0.05; done
c=$(oevent close /chunked/10) r=$(oevent request /chunked/10)
[ -n "$c" ] && [ -n "$r" ] && ms=$((c - r)) || ms=
if [ -z "$ms" ]; then
	fail "$d: the losing hedge's server never saw its connection closed"
else
	expect_range "$d: the losing hedge's server saw it closed at once (ms after its request)" "$ms" 0 200
fi
expect_eq "$d: the losing hedge's server sent no response" "$(oevent done /chunked/10)" ""
fd_settle "$d"

d="no hedge to the server the request waits on"
hg_curl "http://127.0.0.1:$HG_PORT/delay/0?down"
expect_eq "$d: D refused, the retry on S: 200" "$CODE" 200
log_take "$d: D marked down" 1
check "$d: D is marked down" grep -q "upstream hsame: server 127.0.0.1:$D_PORT marked down" "$HG_ERR"
: > "$T/S.events"
hg_curl "http://127.0.0.1:$HG_PORT/delay/0?same"
expect_eq "$d: 200" "$CODE" 200
expect_range "$d: waited for S (ms)" "$MS" 390 900
log_take "$d" 1
expect_log "$d" tries=1 hedged=0 won=1 upstream="$SS"
expect_eq "$d: S got the request once" "$(oreqs S /delay/0)" 1
fd_settle "$d"

d="the first try fails, its hedge still wins"
hg_curl "http://127.0.0.1:$HG_PORT/drip/1/0"
expect_eq "$d: 200" "$CODE" 200
expect_range "$d: answered by the hedge (250 + 175 ms)" "$MS" 410 540
log_take "$d" 1
expect_log "$d" outcome=ok tries=2 hedged=1 won=2 upstream="$SM"
check "$d: the error log has the first try's timeout" \
    grep -q "try 1 on $SH failed: timeout:upstream_header .*1 hedge(s) still racing" "$HG_ERR"

d="every try fails: the last one's cause"
hg_curl "http://127.0.0.1:$HG_PORT/trickle-head/10"
expect_eq "$d: 504" "$CODE" 504
expect_range "$d: at the hedge's own upstream_header (100 + 300 ms)" "$MS" 390 520
log_take "$d" 1
expect_log "$d" outcome=timeout:upstream_header tries=2 hedged=1 won=-
check "$d: Proxy-Status names the cause" grep -qi '^proxy-status: hourglass; error=http_response_timeout; details="timeout:upstream_header"' "$T/head"
fd_settle "$d"

d="hedge = p40"
# Before 100 samples no hedge: 60 requests, half on the slow server.
for b in 1 2; do par_curl 30 warm "http://127.0.0.1:$HG_PORT/tail/0/0"; done
log_take "$d: warm-up" 60
expect_eq "$d: none of the first 60 hedged" \
    "$(printf '%s\n' "$LOG_NEW" | grep -c ' hedged=1 ')" 0
for b in 1 2; do par_curl 30 warm "http://127.0.0.1:$HG_PORT/tail/0/0"; done
log_take "$d: more samples" 60
# 120 samples, half near 0 ms: p40 is the fast server's time.
hg_curl "http://127.0.0.1:$HG_PORT/tail/0/0"
hg_curl "http://127.0.0.1:$HG_PORT/tail/0/0"
log_take "$d: after 100 samples" 2
expect_eq "$d: the request on the slow server hedged at once" \
    "$(printf '%s\n' "$LOG_NEW" | grep -c " upstream=$SF tries=2 hedged=1 won=2 ")" 1
expect_eq "$d: and the other one did not" \
    "$(printf '%s\n' "$LOG_NEW" | grep -c " tries=1 hedged=0 won=1 ")" 1

d="retry budget"
: > "$T/R1.events"; : > "$T/R2.events"
curl -s -m 60 -o /dev/null "http://127.0.0.1:$HG_PORT/rb/[1-1000]"
log_take "$d: 1,000 requests" 1000
n=$(( $(oreqs R1) + $(oreqs R2) ))
expect_range "$d: attempts the servers saw (20% of 1,000 retried)" "$n" 1195 1205
expect_eq "$d: requests with a retry" "$(printf '%s\n' "$LOG_NEW" | grep -c ' tries=2 ')" 200
expect_eq "$d: the others end with their own cause" \
    "$(printf '%s\n' "$LOG_NEW" | grep -c 'status=502 outcome=error:upstream_reset .*tries=1 ')" 800
check "$d: the error log says the budget is spent" \
    grep -q "no retry: the retry budget of upstream rb is spent" "$HG_ERR"
fd_settle "$d"
finish
