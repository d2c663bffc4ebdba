#!/usr/bin/env bash
# Cancellation cleans up at once, as the origin sees it.  When a deadline
# fires, the client goes away, or the drain runs out, the request's
# upstream socket is closed there and then, never handed to the pool: the
# origin sees its connection closed within a few tens of milliseconds of
# the cancel, not at the pool's idle timeout (10 s here, so a pooled
# connection would be seen closing far outside every window below).  Idle
# pooled connections close as the drain begins.
# Also what the client sees on the way out: a chunked response cut by a
# deadline has no last chunk, interim 1xx responses are not relayed, an
# HTTP/1.0 client never gets Transfer-Encoding, and a refused request's
# connection is closed even when the client did not ask for it.  ~8 s.
source "$(dirname "$0")/../harden_lib.sh"

origin_up || finish

# cfg FILE [LINE...]: hg_config with the pools' idle timeout at 10 s.
cfg() {
	local f=$1
	hg_config "$@"
	sed -i 's/^keepalive_idle = .*/keepalive_idle = 10s/' "$f"
}

# origin_close_ms PATH: the origin's (close - request) for PATH in its own
# clock, waiting up to 1.5 s for the close; empty when it never came.
origin_close_ms() {
	local r c
	for _ in $(seq 30); do
		c=$(oevent close "$1")
		[ -n "$c" ] && break
		sleep 0.05
	done
	r=$(oevent request "$1")
	[ -n "$r" ] && [ -n "$c" ] && echo $((c - r))
}

# expect_closed_at DESC PATH LO HI: the origin saw PATH's connection
# closed LO..HI ms after it read the request.
expect_closed_at() {
	local ms
	ms=$(origin_close_ms "$2")
	if [ -z "$ms" ]; then
		fail "$1: the origin never saw its connection closed"
		tail -n 5 "$OEVENTS" | sed 's/^/  origin: /'
	else
		expect_range "$1: origin saw the close (ms after its request)" \
		    "$ms" "$3" "$4"
	fi
}

# ends_chunked FILE: whether a response ends with a chunked body's last
# chunk and empty trailers.
ends_chunked() { [ "$(tail -c 5 "$1" | od -An -c | tr -d ' ')" = '0\r\n\r\n' ]; }

cfg "$T/a.ini" 'request = 600ms' 'upstream_header = 300ms' \
    'upstream_idle = 300ms'
start_hourglass "$T/a.ini" || finish
sleep 0.2
FD0=$(fd_count "$HG_PID")

d="upstream_header fires before the head"
note "$d"
hg_curl "http://127.0.0.1:$HG_PORT/hang?uh"
expect_eq "$d: 504" "$CODE" 504
log_expect "$d" 504 timeout:upstream_header
expect_closed_at "$d" "/hang?uh" 280 420

# A chunked response under way, one chunk every 100 ms, cut by the request
# scope at 600 ms: the client has the head and some chunks, never the last
# chunk, and the connection closes.
d="request fires in a chunked body"
note "$d"
raw_exchange "$T/cut" 'GET /dripc/100/100?rq HTTP/1.1\r\nHost: h\r\n\r\n' 3
expect_match "$d: the head went out" "$RESP_LINE" '^HTTP/1\.1 200 '
expect_eq "$d: the connection was closed" "$EOF_RC" 0
check "$d: it was chunked" grep -qi '^transfer-encoding: chunked' "$T/cut"
n=$(grep -c $'^1\r$' "$T/cut")
expect_range "$d: chunks relayed before the cut" "$n" 3 7
if ends_chunked "$T/cut"; then
	fail "$d: the client got a last chunk: the cut looks complete"
else
	ok "$d: no last chunk: the cut is visible"
fi
log_expect "$d" 200 timeout:request
expect_closed_at "$d" "/dripc/100/100?rq" 580 720

d="upstream_idle fires in a chunked body"
note "$d"
raw_exchange "$T/idle" 'GET /dripc/10/1000?ui HTTP/1.1\r\nHost: h\r\n\r\n' 3
expect_match "$d: the head went out" "$RESP_LINE" '^HTTP/1\.1 200 '
expect_eq "$d: the connection was closed" "$EOF_RC" 0
if ends_chunked "$T/idle"; then
	fail "$d: the client got a last chunk"
else
	ok "$d: no last chunk"
fi
log_expect "$d" 200 timeout:upstream_idle
expect_closed_at "$d" "/dripc/10/1000?ui" 280 420

# The client closes 200 ms after it read the response head, while the
# origin drips one byte a second: the upstream socket must close with the
# client's, not at the next byte (a pooled socket is dropped only when it
# turns readable) nor at the pool's timeout.
d="client goes away mid-body"
note "$d"
raw_open
printf 'GET /dripc/100/1000?gone HTTP/1.1\r\nHost: h\r\n\r\n' >&3
ts=$(now_ms)
IFS= read -r -t 2 line <&3
expect_match "$d: the head came" "$line" '^HTTP/1\.1 200 '
sleep 0.2
tc=$(now_ms)
raw_close
ms=$(origin_close_ms "/dripc/100/1000?gone")
if [ -z "$ms" ]; then
	fail "$d: the origin never saw the close"
else
	# (origin close - origin request) - (client close - client send)
	expect_range "$d: origin saw the close within 60 ms of the client's" \
	    $((ms - (tc - ts))) -30 60
fi
log_expect "$d" 499 abort:client
fd_settle "$d"

note "on the way out"
d="interim responses"
raw_exchange "$T/int" 'GET /interim HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n' 3
expect_match "$d: the first line is the final response" "$RESP_LINE" '^HTTP/1\.1 200 '
expect_eq "$d: no 1xx relayed" "$(grep -c '^HTTP/1\.1 1' "$T/int")" 0
check "$d: nor their fields" bash -c "! grep -qi '^link:' '$T/int'"
log_expect "$d" 200 ok

d="HTTP/1.0 client, chunked response"
raw_exchange "$T/h10" 'GET /chunked/300 HTTP/1.0\r\n\r\n' 3
expect_match "$d: 200" "$RESP_LINE" '^HTTP/1\.1 200 '
check "$d: no Transfer-Encoding" bash -c "! grep -qi '^transfer-encoding' '$T/h10'"
expect_eq "$d: the body, de-chunked, to the close" \
    "$(sed '1,/^\r$/d' "$T/h10")" "$(pattern 300)"
expect_eq "$d: the connection was closed" "$EOF_RC" 0
log_expect "$d" 200 ok

# Answers that refuse a request close the connection, though the client
# asked for none of that (HTTP/1.1, no Connection: close): the bytes after
# a refused head cannot be trusted to start a request.  The log's bytes_in
# counts what was read: at least MIN (up to the byte that was refused; the
# shell may write in pieces) and at most what was sent, or the head alone
# when the refusal came before reading the body (IN_HEAD=1).
# refused DESC STATUS OUTCOME REQUEST MIN
refused() {
	local d=$1 status=$2 outcome=$3 sent
	raw_exchange "$T/ref" "$4" 3
	expect_match "$d: $status" "$RESP_LINE" "^HTTP/1\\.1 $status "
	expect_eq "$d: the connection was closed" "$EOF_RC" 0
	check "$d: it said so" grep -qi '^connection: close' "$T/ref"
	log_expect "$d" "$status" "$outcome"
	printf -v sent "$4"
	if [ "${IN_HEAD:-0}" = 1 ]; then
		sent=${sent%%$'\r\n\r\n'*}$'\r\n\r\n'
		expect_eq "$d: logged bytes_in" "$(lf bytes_in "$LOG1")" "${#sent}"
	else
		expect_range "$d: logged bytes_in" "$(lf bytes_in "$LOG1")" \
		    "$5" "${#sent}"
	fi
}
refused "bad field" 400 reject:bad_request \
    'GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n' 30
refused "bad chunk" 400 reject:bad_request \
    'POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\r;x\r\nhello\r\n0\r\n\r\n' 63
refused "Transfer-Encoding gzip" 501 reject:not_implemented \
    'POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nxx' 57
IN_HEAD=1 refused "body too large" 413 reject:body_too_large \
    'POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000000\r\n\r\n'
fd_settle "on the way out"
hg_stop_ok "first daemon"

# The drain runs out while a request waits for its head, and the client
# keeps its side open after the 503: hourglass lingers on that connection
# (up to 1 s), so the process is still there, and the upstream socket must
# already be closed, at the drain deadline, not when the process exits.
# Beside it: a response cut by the drain after its head (its body one byte
# every 2 s, framed by Content-Length: a socket the pool would take), whose
# upstream socket closes at the same deadline; and an idle pooled upstream
# connection, closed as the drain begins, half a second before the others.
note "drain = 500ms cancels a request"
cfg "$T/b.ini" 'drain = 500ms' 'upstream_header = 10s'
start_hourglass "$T/b.ini" || finish
d="drain cancels a request"

# origin_wait_request PATH: wait up to 5 s until the origin has read PATH.
origin_wait_request() {
	for _ in $(seq 100); do
		[ -n "$(oevent request "$1")" ] && return 0
		sleep 0.05
	done
	fail "$1 did not reach the origin"
	return 1
}

# origin_conn_close PATH: the origin's monotonic ms at which the connection
# that carried PATH closed (an idle connection's close names no path),
# waiting up to 1.5 s for it; empty when it never came.
origin_conn_close() {
	local id c
	id=$(awk -v p="$1" '$1 == "request" && $3 == p { id = $4 } END { print id }' "$OEVENTS")
	[ -n "$id" ] || return 0
	for _ in $(seq 30); do
		c=$(awk -v id="$id" '$1 == "close" && $4 == id { t = $2 } END { if (t != "") print t }' "$OEVENTS")
		[ -n "$c" ] && break
		sleep 0.05
	done
	echo "$c"
}

raw_open
printf 'GET /hang?drain HTTP/1.1\r\nHost: h\r\n\r\n' >&3
ts=$(now_ms)
origin_wait_request "/hang?drain"
curl -s -m 5 -o "$T/dcut.body" "http://127.0.0.1:$HG_PORT/drip/10/2000?dcut" &
dcut_pid=$!
_pids+=("$dcut_pid")
origin_wait_request "/drip/10/2000?dcut"
# The two requests above hold their upstream connections: this one opens
# a third, which goes back to the pool.
hg_curl "http://127.0.0.1:$HG_PORT/?pooled"
expect_eq "$d: a request before the drain: 200" "$CODE" 200
sleep 0.2
t0=$(now_ms)
kill -TERM "$HG_PID"
IFS= read -r -t 3 line <&3
t503=$(now_ms)
expect_match "$d: 503" "$line" '^HTTP/1\.1 503 '
expect_range "$d: at the drain deadline (ms after SIGTERM)" $((t503 - t0)) 480 700
ms=$(origin_close_ms "/hang?drain")
if [ -z "$ms" ]; then
	fail "$d: the origin never saw the close"
else
	expect_range "$d: origin saw the close within 60 ms of the 503" \
	    $((ms - (t503 - ts))) -30 60
fi
# In the origin's own clock, before the lingering client lets the process
# go: the cut response's upstream closed with the 503's, the idle pooled
# one about 500 ms (the drain) before them.
c_hang=$(oevent close "/hang?drain")
c_cut=$(origin_conn_close "/drip/10/2000?dcut")
c_idle=$(origin_conn_close "/?pooled")
if [ -z "$c_hang" ] || [ -z "$c_cut" ]; then
	fail "$d: the origin did not see the cut response's upstream close while the daemon lingered"
else
	expect_range "$d: the cut response's upstream closed with the 503's (ms apart)" \
	    $((c_cut - c_hang)) -60 60
fi
if [ -z "$c_hang" ] || [ -z "$c_idle" ]; then
	fail "$d: the origin did not see the idle pooled connection close while the daemon lingered"
else
	expect_range "$d: the idle pooled connection closed as the drain began (ms before the 503's upstream)" \
	    $((c_hang - c_idle)) 400 1000
fi
wait "$dcut_pid"
expect_eq "$d: the response cut after its head (curl exit)" "$?" 18
raw_close
hg_stop_rc
expect_eq "$d: exit status" "$HG_RC" 0
check "$d: logged" grep -q 'status=503 outcome=timeout:drain' "$ACCESS"
check "$d: the cut response logged" grep -q 'status=200 outcome=timeout:drain' "$ACCESS"

finish
