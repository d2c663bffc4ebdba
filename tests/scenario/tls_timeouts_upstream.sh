#!/usr/bin/env bash
# The upstream-side deadlines over upstream TLS (tls = yes to the Python
# TLS origin tests/tools/tls_origin.py), as tests/scenario/proxy_timeouts.sh
# checks them over plain TCP: the status (or how the response was cut), the
# timing window (never early, at most 120 ms late), the logged status and
# outcome and total_ms, one access-log line, no descriptor left behind.
# - connect: the TLS blackhole accepts TCP and never answers the
#   ClientHello; the handshake is part of connect, so connect (500 ms)
#   fires, or request (1 s) when it is shorter;
# - try (700 ms) and upstream_header (600 ms) on /hang, request (800 ms);
# - upstream_idle (500 ms) on /drip: a slow drip within it arrives whole,
#   a slower one is cut (curl exit 18);
# - every connection the origin took ends closed.
source "$(dirname "$0")/../tls_lib.sh"

tls_pki || finish
origin_up || finish
tls_origin_up TO localhost --blackhole-port-file "$T/tbh.port" || finish
TBH_PORT=$(cat "$T/tbh.port")

# The [timeouts] values are long so that only the route's deadline under
# test can fire.
tls_up "$T/hg.ini" localhost \
	'connect = 5s' 'upstream_header = 5s' 'upstream_idle = 5s' 'request = 10s' \
	'' '[upstream t]' "server = 127.0.0.1:$TO_PORT" 'tls = yes' "tls_ca = $CA" \
	'keepalive_idle = 300ms' 'max_fails = 0' \
	'' '[upstream tbh]' "server = 127.0.0.1:$TBH_PORT" 'tls = yes' "tls_ca = $CA" \
	'max_fails = 0' \
	'' '[route /t/]' 'upstream = t' \
	'' '[route /bh/connect]' 'upstream = tbh' 'connect = 500ms' 'request = 5s' \
	'' '[route /bh/request]' 'upstream = tbh' 'connect = 5s' 'request = 1s' \
	'' '[route /uh/]' 'upstream = t' 'upstream_header = 600ms' \
	'' '[route /try/]' 'upstream = t' 'try = 700ms' \
	'' '[route /req/]' 'upstream = t' 'request = 800ms' \
	'' '[route /drip]' 'upstream = t' 'upstream_idle = 500ms' \
	|| finish
U=http://127.0.0.1:$PLAIN_PORT

tcurl "$U/t/"
expect_eq "GET / over upstream TLS" "$CODE" 200
log_expect "GET /" 200 ok
fd_settle "GET /"

# timeout_case DESC PATH STATUS DEADLINE_MS OUTCOME [after_connect]: the
# deadline is seen from the request's start, or with after_connect from
# the end of the upstream connect and handshake (the logged connect_ms:
# the Python origin's handshake takes a few ms, more on a loaded machine).
timeout_case() {
	local d=$1 path=$2 status=$3 want=$4 outcome=$5 tot c=0
	note "$d"
	tcurl "$U$path"
	expect_eq "$d: curl exit" "$RC" 0
	expect_eq "$d: status" "$CODE" "$status"
	log_expect "$d" "$status" "$outcome"
	if [ "${6:-}" = after_connect ]; then
		c=$(lf connect_ms "$LOG1"); c=${c%%.*}
		note "  the connect and handshake took ${c} ms"
	fi
	expect_near "$d: time at the client" $((MS - c)) "$want"
	tot=$(lf total_ms "$LOG1"); tot=${tot%%.*}
	expect_near "$d: logged total_ms" $(( ${tot:-0} - c )) "$want"
	fd_settle "$d"
}

timeout_case "TLS blackhole, connect 500ms < request 5s" \
	/bh/connect 504 500 timeout:connect
expect_eq "  no connection was ever ready (connect_ms -)" "$(lf connect_ms "$LOG1")" "-"
timeout_case "TLS blackhole, connect 5s > request 1s" \
	/bh/request 504 1000 timeout:request
timeout_case "/hang, upstream_header 600ms" /uh/hang 504 600 timeout:upstream_header after_connect
check "  the handshake had been done (connect_ms is a number)" \
	bash -c "[[ '$(lf connect_ms "$LOG1")' =~ ^[0-9.]+\$ ]]"
timeout_case "/hang, try 700ms" /try/hang 504 700 timeout:try
timeout_case "/hang, request 800ms" /req/hang 504 800 timeout:request

d="/drip/4/300 under upstream_idle 500ms"
note "$d"
tcurl "$U/drip/4/300"
expect_eq "$d: curl exit" "$RC" 0
expect_eq "$d: status" "$CODE" 200
expect_eq "$d: whole body" "$(cat "$T/body")" "0123"
expect_near "$d: time after the head" $((MS - MS_TTFB)) 1200
log_expect "$d" 200 ok
fd_settle "$d"

d="/drip/10/1000 under upstream_idle 500ms"
note "$d"
tcurl "$U/drip/10/1000"
expect_eq "$d: curl exit 18 (transfer closed with outstanding read data)" "$RC" 18
expect_eq "$d: status already sent" "$CODE" 200
check "$d: Content-Length 10 was sent" grep -qi '^content-length: 10' "$T/head"
expect_range "$d: short body" "$(wc -c < "$T/body")" 0 9
expect_near "$d: time after the head" $((MS - MS_TTFB)) 500
log_expect "$d" 200 timeout:upstream_idle
fd_settle "$d"

expect_eq "the origin took every request above" "$(oev TO '^request ')" 6
# The drip notices the close at its next byte, a second later.
hs=$(oev TO '^handshake ')
n=60; while [ $n -gt 0 ] && [ "$(oev TO '^close$')" -lt "$hs" ]; do sleep 0.05; n=$((n - 1)); done
expect_eq "  and every connection it took ended closed" "$(oev TO '^close$')" "$hs"
finish
