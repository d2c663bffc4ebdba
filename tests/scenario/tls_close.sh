#!/usr/bin/env bash
# The TLS close (issue 21): when hourglass ends a connection after a whole
# response it sends a close_notify, and when it cuts a response it does
# not, so that a cut body can never look complete to a client that
# frames by the end of the stream.  Seen from Python's ssl
# (tests/tools/tls_client.py): a close_notify makes recv() return b'';
# an EOF without one raises SSLEOFError ("EOF occurred in violation of
# protocol").
# - a response whole, on a connection hourglass closes (Connection: close;
#   HTTP/1.0; a 400 refusal): close_notify after the last byte;
# - a response cut by upstream_idle during /drip (Content-Length) and
#   /dripc (chunked): no close_notify, at upstream_idle;
# - each logged with its outcome, and no descriptor left behind.
source "$(dirname "$0")/../tls_lib.sh"

tls_pki || finish
origin_up || finish
tls_up "$T/hg.ini" localhost 'upstream_idle = 500ms' || finish

# close_case DESC KIND STATUS OUTCOME REQUEST: send REQUEST over TLS, read
# to the end of the stream, which must end as KIND (close_notify or
# unclean); STATUS and OUTCOME are the access log's.
close_case() {
	local d=$1 kind=$2 status=$3 outcome=$4 req=$5 e
	note "$d"
	: > "$T/close.body"
	tls_client "$T/close.ev" --out "$T/close.body" "send:$req" eof:5
	e=$(ev "$T/close.ev" eof)
	expect_eq "$d: the stream ends with" "$(awk '{ print $3 }' <<< "$e")" "$kind"
	CLOSE_AT=$(( $(awk '{ print $2 }' <<< "$e") - $(ev_ms "$T/close.ev" sent) ))
	log_expect "$d" "$status" "$outcome"
	expect_eq "$d: logged tls" "$(lf tls "$LOG1")" TLSv1.3
}

close_case "GET / with Connection: close" close_notify 200 ok \
	'GET /?close HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
check "  the whole response came first" grep -q '^HTTP/1.1 200 OK' "$T/close.body"
expect_eq "  its 100-byte body whole" "$(sed '1,/^\r$/d' "$T/close.body" | wc -c)" 100
expect_range "  closed at once (ms)" "$CLOSE_AT" 0 500

close_case "GET / in HTTP/1.0" close_notify 200 ok \
	'GET /?http10 HTTP/1.0\r\nHost: localhost\r\n\r\n'
check "  the whole response came first" grep -q '^HTTP/1.1 200 OK' "$T/close.body"

close_case "a request refused with 400 (a bare LF in its head)" close_notify 400 reject:bad_request \
	'GET /?bad HTTP/1.1\r\nHost: localhost\nX: y\r\n\r\n'
check "  the 400 came first" grep -q '^HTTP/1.1 400 ' "$T/close.body"

close_case "/drip/10/1000 cut by upstream_idle 500ms" unclean 200 timeout:upstream_idle \
	'GET /drip/10/1000 HTTP/1.1\r\nHost: localhost\r\n\r\n'
check "  its head had come, Content-Length: 10" grep -qi '^content-length: 10' "$T/close.body"
expect_range "  and a short body" "$(sed '1,/^\r$/d' "$T/close.body" | wc -c)" 0 9
expect_near "  cut at upstream_idle (ms)" "$CLOSE_AT" 500

close_case "/dripc/10/1000 (chunked) cut by upstream_idle 500ms" unclean 200 timeout:upstream_idle \
	'GET /dripc/10/1000 HTTP/1.1\r\nHost: localhost\r\n\r\n'
check "  its head had come, chunked" grep -qi '^transfer-encoding: chunked' "$T/close.body"
check "  and no last chunk" bash -c "! grep -q \$'^0\\r\$' '$T/close.body'"
expect_near "  cut at upstream_idle (ms)" "$CLOSE_AT" 500

fd_settle "the closes"
finish
