#!/usr/bin/env bash
# Proxy deadlines on the upstream side: connect, upstream_header,
# upstream_idle and request, alone and nested.  Each case asserts the status
# (or how the response was cut), the timing window (+-150 ms of the
# deadline), the logged status and outcome, one access-log line, and that no
# descriptor is left behind.
source "$(dirname "$0")/../proxy_lib.sh"

origin_up || finish
# One daemon; each case has its own route, whose timeouts override
# [timeouts].  The [timeouts] values are long so that only the route's
# deadline under test can fire.
hg_up "$T/hg.ini" \
	'connect = 5s' 'upstream_header = 5s' 'upstream_idle = 5s' 'request = 10s' \
	'' '[route /bh/connect]' 'upstream = bh' 'connect = 500ms' 'request = 5s' \
	'' '[route /bh/request]' 'upstream = bh' 'connect = 5s' 'request = 1s' \
	'' '[route /hang]' 'upstream = o' 'upstream_header = 600ms' \
	'' '[route /drip]' 'upstream = o' 'upstream_idle = 500ms' \
	'' '[route /trickle-head]' 'upstream = o' 'request = 800ms' 'upstream_header = 5s' \
	|| finish

# The daemon works at all: a plain request is relayed whole.
hg_curl "http://127.0.0.1:$HG_PORT/"
expect_eq "GET / through the proxy" "$CODE" 200
log_expect "GET /" 200 ok
fd_settle "GET /"

# timeout_case DESC PATH STATUS DEADLINE_MS OUTCOME
timeout_case() {
	local d=$1 path=$2 status=$3 want=$4 outcome=$5 tot
	note "$d"
	hg_curl "http://127.0.0.1:$HG_PORT$path"
	expect_eq "$d: curl exit" "$RC" 0
	expect_eq "$d: status" "$CODE" "$status"
	expect_near "$d: time at the client" "$MS" "$want"
	log_expect "$d" "$status" "$outcome"
	tot=$(lf total_ms "$LOG1"); tot=${tot%%.*}
	expect_near "$d: logged total_ms" "${tot:-0}" "$want"
	fd_settle "$d"
}

# A blackholed connect: the connect scope (500 ms) fires, inside request 5 s.
timeout_case "blackholed connect, connect 500ms < request 5s" \
	/bh/connect 504 500 timeout:connect
# Nested: connect 5 s, but only 1 s left on request: request fires at 1 s.
timeout_case "blackholed connect, connect 5s > request 1s" \
	/bh/request 504 1000 timeout:request
# The origin never answers: upstream_header (600 ms) fires.
timeout_case "/hang, upstream_header 600ms" \
	/hang 504 600 timeout:upstream_header
# The head comes one byte per 100 ms (~7 s): request (800 ms) fires first.
timeout_case "/trickle-head/100, request 800ms" \
	/trickle-head/100 504 800 timeout:request

# upstream_idle is idle time, not a fixed budget: 4 bytes 400 ms apart with
# upstream_idle = 500ms take 1.6 s and arrive whole.
d="/drip/4/400 under upstream_idle 500ms"
note "$d"
hg_curl "http://127.0.0.1:$HG_PORT/drip/4/400"
expect_eq "$d: curl exit" "$RC" 0
expect_eq "$d: status" "$CODE" 200
expect_eq "$d: whole body" "$(cat "$T/body")" "0123"
expect_near "$d: time" "$MS" 1600
log_expect "$d" 200 ok
fd_settle "$d"

# A byte every 1000 ms with upstream_idle = 500ms: the head (200,
# Content-Length: 10) is out, so the response is cut at 500 ms: curl sees
# the connection close with data outstanding (exit 18).
d="/drip/10/1000 under upstream_idle 500ms"
note "$d"
hg_curl "http://127.0.0.1:$HG_PORT/drip/10/1000"
expect_eq "$d: curl exit 18 (transfer closed with outstanding read data)" "$RC" 18
expect_eq "$d: status already sent" "$CODE" 200
check "$d: Content-Length 10 was sent" grep -qi '^content-length: 10' "$T/head"
n=$(wc -c < "$T/body")
expect_range "$d: short body" "$n" 0 9
expect_near "$d: time" "$MS" 500
log_expect "$d" 200 timeout:upstream_idle
tot=$(lf total_ms "$LOG1"); tot=${tot%%.*}
expect_near "$d: logged total_ms" "${tot:-0}" 500
fd_settle "$d"

# The origin saw each timed-out upstream connection closed by the proxy.
for p in /hang /trickle-head/100 /drip/10/1000; do
	c=$(oevent close "$p"); r=$(oevent request "$p")
	if [ -n "$c" ] && [ -n "$r" ]; then
		ok "origin saw the proxy close $p ($((c - r)) ms after the request)"
	else
		fail "origin did not see the proxy close its connection for $p"
	fi
done

finish
