#!/usr/bin/env bash
# Every deadline of design.md's table once with the client over TLS (the
# test origin behind, plain): the status, or how the connection ended
# (with or without a close_notify), the timing window (never early, at
# most 120 ms late), the access-log line (tls=TLSv1.3), no descriptor left.
# - client_header 1s: a partial head gets 408 and a close_notify; a client
#   that did its handshake and sent nothing is closed (close_notify) with no
#   response and no log line, and it is no failed handshake;
# - client_idle 700ms: a body that stops gets 408;
# - keepalive 900ms: an idle connection is closed with a close_notify and
#   no byte, and the keep-alive metric counts it;
# - request, try, connect, upstream_header: 504 at their deadline;
#   upstream_idle: the response is cut;
# - drain 1s after SIGTERM: an idle connection closes at once (close_notify);
#   a request that ends within the drain ends whole; one whose head has not
#   come is answered 503 timeout:drain; one whose body is still coming is
#   cut (no close_notify); the daemon exits 0.
source "$(dirname "$0")/../tls_lib.sh"

tls_pki || finish
origin_up || finish
tls_up "$T/hg.ini" localhost \
	'client_header = 1s' 'client_idle = 700ms' 'keepalive = 900ms' \
	'connect = 5s' 'upstream_header = 5s' 'upstream_idle = 5s' 'request = 10s' \
	'' '[route /status]' 'upstream = bh' 'connect = 500ms' \
	'' '[route /delay]' 'upstream = o' 'request = 800ms' \
	'' '[route /trickle-head]' 'upstream = o' 'try = 700ms' \
	'' '[route /hang]' 'upstream = o' 'upstream_header = 600ms' \
	'' '[route /drip]' 'upstream = o' 'upstream_idle = 500ms' \
	|| finish

# client_run DESC STEP...: a tls_client run; E is its eof line, EKIND how
# the stream ended, EAT when (ms from the connect).
client_run() {
	local d=$1
	shift
	note "$d"
	: > "$T/c.body"
	tls_client "$T/c.ev" --out "$T/c.body" "$@"
	E=$(ev "$T/c.ev" eof)
	EKIND=$(awk '{ print $3 }' <<< "$E")
	EAT=$(awk '{ print $2 }' <<< "$E")
}

d="client_header 1s, a partial head"
client_run "$d" 'send:GET /?ch HTTP/1.1\r\nHost: localhost\r\n' eof:4
check "$d: 408" grep -q '^HTTP/1.1 408 ' "$T/c.body"
expect_eq "$d: then a close_notify" "$EKIND" close_notify
expect_near "$d: at client_header (ms from the connect)" "${EAT:-0}" 1000
log_expect "$d" 408 timeout:client_header
expect_eq "$d: logged tls" "$(lf tls "$LOG1")" TLSv1.3
fd_settle "$d"

d="client_header 1s, a handshake and nothing more"
to0=$(tls_fails timeout); hs0=$(tls_ok)
client_run "$d" eof:4
expect_eq "$d: closed with a close_notify" "$EKIND" close_notify
expect_eq "$d: no byte" "$(ev_field "$E" bytes)" 0
expect_near "$d: at client_header (ms from the connect)" "${EAT:-0}" 1000
log_take "$d: not a request" 0
expect_eq "$d: a handshake done, not failed" "$(tls_ok) $(tls_fails timeout)" "$((hs0 + 1)) $to0"
fd_settle "$d"

d="client_idle 700ms, a body that stops"
client_run "$d" 'send:POST /echo?ci HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n1234' eof:4
check "$d: 408" grep -q '^HTTP/1.1 408 ' "$T/c.body"
expect_near "$d: at client_idle (ms after the last byte)" $(( ${EAT:-0} - $(ev_ms "$T/c.ev" sent) )) 700
log_expect "$d" 408 timeout:client_idle
fd_settle "$d"

d="keepalive 900ms"
ka0=$(metric hourglass_keepalive_closed_total)
client_run "$d" 'send:GET /?ka HTTP/1.1\r\nHost: localhost\r\n\r\n' response eof:4
expect_eq "$d: the response" "$(ev "$T/c.ev" response | cut -d' ' -f3)" 200
expect_eq "$d: then a close_notify" "$EKIND" close_notify
expect_eq "$d: and no byte after the response" "$(ev_field "$E" bytes)" 0
expect_near "$d: at keepalive (ms after the response)" \
	$(( ${EAT:-0} - $(ev_ms "$T/c.ev" response) )) 900
expect_eq "$d: counted" "$(metric hourglass_keepalive_closed_total)" $((ka0 + 1))
log_expect "$d: the one request" 200 ok
fd_settle "$d"

# timeout_case DESC PATH DEADLINE_MS OUTCOME: 504 over TLS at the deadline.
timeout_case() {
	local d=$1 path=$2 want=$3 outcome=$4 tot
	note "$d"
	https_curl "$path"
	expect_eq "$d: status, curl exit" "$CODE $RC" "504 0"
	expect_near "$d: time at the client, after its handshake" $((MS - MS_APP)) "$want"
	log_expect "$d" 504 "$outcome"
	expect_eq "$d: logged tls" "$(lf tls "$LOG1")" TLSv1.3
	tot=$(lf total_ms "$LOG1"); tot=${tot%%.*}
	expect_near "$d: logged total_ms" "${tot:-0}" "$want"
	fd_settle "$d"
}
timeout_case "request 800ms (/delay/3000)" /delay/3000 800 timeout:request
timeout_case "try 700ms (/trickle-head/100)" /trickle-head/100 700 timeout:try
timeout_case "connect 500ms (blackhole)" /status/200 500 timeout:connect
timeout_case "upstream_header 600ms (/hang)" /hang 600 timeout:upstream_header

d="upstream_idle 500ms (/drip/10/1000)"
note "$d"
https_curl /drip/10/1000
expect_eq "$d: the head had gone out" "$CODE" 200
check "$d: curl saw the transfer cut (exit $RC)" test "$RC" -ne 0
expect_range "$d: short body" "$(wc -c < "$T/body")" 0 9
expect_near "$d: time after the head" $((MS - MS_TTFB)) 500
log_expect "$d" 200 timeout:upstream_idle
fd_settle "$d"

note "drain 1s over TLS"
stop_pid "$HG_PID"
tls_up "$T/drain.ini" localhost 'drain = 1s' || finish
C=(--cacert "$CA" --resolve "localhost:$TLS_PORT:127.0.0.1")
UT=https://localhost:$TLS_PORT
# An idle keep-alive connection.
( timeout 20 python3 "$TLS_CLIENT" --port "$TLS_PORT" --ca "$CA" \
    'send:GET /?idle HTTP/1.1\r\nHost: localhost\r\n\r\n' response eof:10 > "$T/idle.ev" 2>&1 ) &
_pids+=("$!")
wait_grep "$T/idle.ev" '^response' || fail "the idle connection got no response"
bg_curl whole "${C[@]}" "$UT/drip/5/100?whole"
bg_curl head "${C[@]}" "$UT/delay/3000?head"
bg_curl cut "${C[@]}" "$UT/drip/30/100?cut"
for t in "/drip/5/100?whole" "/delay/3000?head" "/drip/30/100?cut"; do
	wait_grep "$OEVENTS" "^request [0-9]+ ${t//\?/\\?} " 100 || fail "$t did not reach the origin"
done
T0=$(now_ms)
kill -TERM "$HG_PID"
# When the daemon is gone (a zombie until this shell reaps it).
( while [ -d "/proc/$HG_PID" ] && [ "$(awk '{ print $3 }' "/proc/$HG_PID/stat" 2>/dev/null)" != Z ]; do
	sleep 0.02; done; now_ms > "$T/exit.at" ) &
_pids+=("$!")
wait_grep "$T/idle.ev" '^eof' 60
e=$(ev "$T/idle.ev" eof)
expect_eq "the idle connection: closed with a close_notify, no byte" \
	"$(awk '{ print $3, $4 }' <<< "$e")" "close_notify bytes=0"
bg_result whole
expect_eq "a request that ends within the drain: status, exit, bytes" \
	"$BG_CODE $BG_RC $BG_BYTES" "200 0 5"
log_expect_for "  it" "/drip/5/100?whole" 200 ok
bg_result head
expect_eq "a request without its head yet: 503 (curl exit 0)" "$BG_CODE $BG_RC" "503 0"
expect_range "  answered at (ms after SIGTERM)" $((BG_END - T0)) 950 1300
log_expect_for "  it" "/delay/3000?head" 503 timeout:drain
bg_result cut
expect_eq "a request whose body was coming: its head had gone out" "$BG_CODE" 200
check "  cut (curl exit $BG_RC)" test "$BG_RC" -ne 0
expect_range "  bytes it got" "$BG_BYTES" 1 29
expect_range "  cut at (ms after SIGTERM)" $((BG_END - T0)) 950 1300
log_expect_for "  it" "/drip/30/100?cut" 200 timeout:drain
expect_eq "  logged tls" "$(lf tls "$LOGL")" TLSv1.3
hg_stop_wait 0 2> /dev/null
expect_eq "the daemon exits 0 after the drain" "$HG_RC" 0
wait_file "$T/exit.at" 40
expect_range "  at (ms after SIGTERM)" $(( $(cat "$T/exit.at" 2>/dev/null || echo 0) - T0 )) 950 1300

finish
