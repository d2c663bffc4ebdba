#!/usr/bin/env bash
# Proxy deadlines on the client side (client_header, client_idle,
# keepalive) and a client that goes away (abort:client).  Raw connections
# through bash's /dev/tcp, so that the test controls every byte and sees
# exactly when the daemon closes.
source "$(dirname "$0")/../proxy_lib.sh"

origin_up || finish
hg_up "$T/hg.ini" \
	'client_header = 500ms' 'client_idle = 600ms' 'keepalive = 700ms' \
	'request = 10s' 'upstream_header = 5s' 'upstream_idle = 5s' \
	'' '[route /bytes/]' 'upstream = o' 'keepalive = 300ms' \
	'' '[route /]' 'host = blame.test' 'upstream = o' 'upstream_idle = 300ms' \
	'' '[route /]' 'host = drip.test' 'upstream = o' 'client_idle = 300ms' \
	'upstream_idle = 500ms' \
	|| finish

hg_curl "http://127.0.0.1:$HG_PORT/"
expect_eq "GET / through the proxy" "$CODE" 200
log_expect "GET /" 200 ok
fd_settle "GET /"

# A connection that sends nothing is closed at client_header and is not a
# request: no answer, no log line.
d="silent connection"
note "$d"
t0=$(now_ms)
raw_open
raw_wait_eof "$T/out" 3
raw_close
expect_eq "$d: closed by the daemon" "$EOF_RC" 0
expect_near "$d: closed at client_header" $((EOF_AT - t0)) 500
expect_eq "$d: nothing was sent" "$(wc -c < "$T/out")" 0
log_take "$d" 0
fd_settle "$d"

# Part of a head, then nothing: 408 at client_header, counted from accept.
d="slow request head"
note "$d"
t0=$(now_ms)
raw_open
printf 'GET / HTTP/1.1\r\nHost: slow.test\r\n' >&3
raw_wait_eof "$T/out" 3
raw_close
expect_eq "$d: closed by the daemon" "$EOF_RC" 0
expect_match "$d: 408" "$(status_line "$T/out")" '^HTTP/1\.1 408 '
expect_near "$d: at client_header" $((EOF_AT - t0)) 500
log_expect "$d" 408 timeout:client_header
fd_settle "$d"

# A head begun 250 ms after connecting: client_header still counts from
# accept, so the 408 comes 250 ms after the first byte, not 500.
d="late request head"
note "$d"
t0=$(now_ms)
raw_open
sleep 0.25
printf 'GET / HTTP/1.1\r\n' >&3
raw_wait_eof "$T/out" 3
raw_close
expect_match "$d: 408" "$(status_line "$T/out")" '^HTTP/1\.1 408 '
expect_near "$d: at client_header, counted from accept" $((EOF_AT - t0)) 500
log_expect "$d" 408 timeout:client_header
fd_settle "$d"

# A body that stalls: Content-Length 1000, 10 bytes sent, then nothing.
# client_idle (600 ms from the last byte) fires before any response: 408.
d="stalled upload"
note "$d"
raw_open
printf 'POST /echo HTTP/1.1\r\nHost: up.test\r\nContent-Length: 1000\r\n\r\n0123456789' >&3
t0=$(now_ms)
raw_wait_eof "$T/out" 3
raw_close
expect_eq "$d: closed by the daemon" "$EOF_RC" 0
expect_match "$d: 408" "$(status_line "$T/out")" '^HTTP/1\.1 408 '
expect_near "$d: at client_idle" $((EOF_AT - t0)) 600
log_expect "$d" 408 timeout:client_idle
fd_settle "$d"

# After one request the idle connection is closed at keepalive (700 ms),
# silently: the first response whole, nothing more, one log line.
d="keepalive idle close"
note "$d"
raw_open
t0=$(now_ms)	# before the send: a slow fork of date must not make it late
printf 'GET / HTTP/1.1\r\nHost: ka.test\r\n\r\n' >&3
raw_wait_eof "$T/out" 3
raw_close
expect_eq "$d: closed by the daemon" "$EOF_RC" 0
expect_near "$d: at keepalive" $((EOF_AT - t0)) 700
expect_eq "$d: one response" "$(grep -ac '^HTTP/1' "$T/out")" 1
expect_match "$d: 200" "$(status_line "$T/out")" '^HTTP/1\.1 200 '
expect_eq "$d: the whole body and nothing after it" \
	"$(tail -c 100 "$T/out" | head -c 17)" "hourglass origin "
log_expect "$d" 200 ok
fd_settle "$d"

# A route's keepalive is the wait after a response on that route.
d="a route's keepalive"
note "$d"
raw_open
t0=$(now_ms)	# before the send: a slow fork of date must not make it late
printf 'GET /bytes/5 HTTP/1.1\r\nHost: ka.test\r\n\r\n' >&3
raw_wait_eof "$T/out" 3
raw_close
expect_eq "$d: closed by the daemon" "$EOF_RC" 0
expect_near "$d: at the route's keepalive (300 ms)" $((EOF_AT - t0)) 300
log_expect "$d" 200 ok
fd_settle "$d"

# keepalive is idle time between requests: a second request 100 ms after
# the first moves the close to 700 ms after the second (the first is on
# the 300 ms route, the second on the default one).
d="keepalive restarts per request"
note "$d"
raw_open
printf 'GET /bytes/5 HTTP/1.1\r\nHost: ka.test\r\n\r\n' >&3
sleep 0.1	# well inside the first route's 300 ms, even on a loaded machine
t0=$(now_ms)	# before the send: a slow fork of date must not make it late
raw_send 'GET /?second HTTP/1.1\r\nHost: ka.test\r\n\r\n'
raw_wait_eof "$T/out" 3
raw_close
expect_eq "$d: closed by the daemon" "$EOF_RC" 0
expect_near "$d: 700 ms after the second request" $((EOF_AT - t0)) 700
expect_eq "$d: two responses" "$(grep -ao 'HTTP/1\.1 200 ' "$T/out" | wc -l)" 2
log_take "$d" 2
expect_eq "$d: both ok" "$(printf '%s\n' "$LOG_NEW" | grep -c ' outcome=ok')" 2
fd_settle "$d"

# A client that stops reading a long body: once the socket buffers are
# full nothing moves, and client_idle (600 ms from the last progress) ends
# the request after its head went out: logged 200 timeout:client_idle.
# A response relayed whole in one read never opens client_idle; this one
# must open it once the body goes on.
d="client stops reading the body"
note "$d"
raw_open
printf 'GET /bytes/1073741824 HTTP/1.1\r\nHost: stall.test\r\n\r\n' >&3
t0=$(now_ms)
wait_lines "$ACCESS" $((LOG_SEEN + 1))
t1=$(now_ms)
raw_close
expect_range "$d: logged long before the request deadline" $((t1 - t0)) 450 2000
log_expect "$d" 200 timeout:client_idle
tot=$(lf total_ms "$LOG1"); tot=${tot%%.*}
expect_near "$d: its total time is client_idle" "${tot:-0}" 600
fd_settle "$d"

# Silence is blamed on the side we wait on.  Under blame.test the upstream
# idles out at 300 ms, the client at 600 ms; the upstream is waiting too,
# for our bytes, so neither a stalled upload nor a client that stops
# reading may be logged timeout:upstream_idle.
d="stalled upload, upstream_idle shorter than client_idle"
note "$d"
raw_open
printf 'POST /echo HTTP/1.1\r\nHost: blame.test\r\nContent-Length: 1000\r\n\r\n0123456789' >&3
t0=$(now_ms)
raw_wait_eof "$T/out" 3
raw_close
expect_match "$d: 408" "$(status_line "$T/out")" '^HTTP/1\.1 408 '
expect_near "$d: at client_idle" $((EOF_AT - t0)) 600
log_expect "$d" 408 timeout:client_idle
fd_settle "$d"

# (/chunked/: the route /bytes/ above would win by its longer prefix.)
d="client stops reading, upstream_idle shorter than client_idle"
note "$d"
raw_open
printf 'GET /chunked/1073741824 HTTP/1.1\r\nHost: blame.test\r\n\r\n' >&3
wait_lines "$ACCESS" $((LOG_SEEN + 1))
raw_close
log_expect "$d" 200 timeout:client_idle
tot=$(lf total_ms "$LOG1"); tot=${tot%%.*}
expect_near "$d: its total time is client_idle" "${tot:-0}" 600
fd_settle "$d"

# The other way round: under drip.test the client idles out at 300 ms and
# the upstream at 500 ms.  A byte every 400 ms keeps upstream_idle alive,
# and the client, which reads at once, is never the one that is silent.
d="/drip/4/400, client_idle 300ms < gaps < upstream_idle 500ms"
note "$d"
hg_curl -H 'Host: drip.test' "http://127.0.0.1:$HG_PORT/drip/4/400"
expect_eq "$d: curl exit" "$RC" 0
expect_eq "$d: status" "$CODE" 200
expect_eq "$d: whole body" "$(cat "$T/body")" "0123"
expect_near "$d: time" "$MS" 1600
log_expect "$d" 200 ok
fd_settle "$d"

# abort_case DESC PATH READ_HEAD: the client closes 300 ms after sending;
# the proxy logs abort:client (499) and closes the upstream connection at
# once: the origin sees the close within 60 ms of the client's.  The origin
# drips a byte a second, so a socket handed to the pool instead (which
# drops it when it turns readable) would be seen closing up to 1 s later.
abort_case() {
	local d=$1 path=$2 rh=$3 ts tc r c line
	note "$d"
	raw_open
	printf 'GET %s HTTP/1.1\r\nHost: abort.test\r\n\r\n' "$path" >&3
	ts=$(now_ms)
	if [ "$rh" = 1 ]; then
		IFS= read -r -t 2 line <&3
		expect_match "$d: the response head came" "$line" '^HTTP/1\.1 200 '
	fi
	sleep 0.3
	tc=$(now_ms)
	raw_close
	for _ in $(seq 40); do
		[ -n "$(oevent close "$path")" ] && break
		sleep 0.05
	done
	r=$(oevent request "$path"); c=$(oevent close "$path")
	if [ -z "$r" ] || [ -z "$c" ]; then
		fail "$d: origin saw no request/close for $path"
	else
		# (origin close - origin request) - (client close - client send)
		expect_range "$d: origin saw the close within 60 ms" \
		    $(( (c - r) - (tc - ts) )) -30 60
	fi
	log_expect "$d" 499 abort:client
	fd_settle "$d"
}
abort_case "client abort while waiting for the head" "/hang?abort1" 0
abort_case "client abort mid-response" "/drip/100/1000?abort2" 1

finish
