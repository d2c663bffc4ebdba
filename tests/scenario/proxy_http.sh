#!/usr/bin/env bash
# HTTP/1.1 relaying: pipelining, HEAD/204/304 framing and connection reuse,
# bodies around 2 KiB, chunked and 10 MB bodies both ways, 100-continue,
# hop-by-hop removal and the X-Forwarded-* and Via headers.  Every request
# is logged exactly once.
source "$(dirname "$0")/../proxy_lib.sh"

origin_up || finish
hg_up "$T/hg.ini" 'request = 30s' 'upstream_header = 10s' || finish
U="http://127.0.0.1:$HG_PORT"

hg_curl "$U/"
expect_eq "GET / through the proxy" "$CODE" 200
log_expect "GET /" 200 ok
fd_settle "GET /"

# split_records FILE: REC[] = the parts of FILE between blank lines
# (CRLF CRLF), for responses without binary bodies.
split_records() {
	local rest sep=$'\r\n\r\n'
	rest=$(cat "$1")
	REC=()
	while [[ $rest == *"$sep"* ]]; do
		REC+=("${rest%%"$sep"*}")
		rest=${rest#*"$sep"}
	done
	REC+=("$rest")
}

# ---- pipelining: three requests in one write, answered in order, the
# first one slow (300 ms) so that a proxy answering out of order shows.
d="pipelining"
note "$d"
raw_open
printf '%s' $'GET /delay/300 HTTP/1.1\r\nHost: p.test\r\n\r\n'$'GET /bytes/3 HTTP/1.1\r\nHost: p.test\r\n\r\n'$'GET /status/404 HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n' >&3
raw_wait_eof "$T/out" 5
raw_close
expect_eq "$d: the daemon closed after Connection: close" "$EOF_RC" 0
expect_eq "$d: statuses in order" "$(grep -ao 'HTTP/1\.1 [0-9][0-9][0-9] ' "$T/out" | cut -d' ' -f2 | tr '\n' ' ')" "200 200 404 "
split_records "$T/out"
expect_match "$d: first body is the delayed one" "${REC[1]:-}" '^delayed 300 ms'
expect_match "$d: second body is /bytes/3" "${REC[2]:-}" '^012HTTP/1\.1 404 '
log_take "$d" 3
expect_eq "$d: logged targets in order" "$(printf '%s\n' "$LOG_NEW" | sed -n 's/.* target=\([^ ]*\).*/\1/p' | tr '\n' ' ')" "/delay/300 /bytes/3 /status/404 "
expect_eq "$d: logged statuses" "$(printf '%s\n' "$LOG_NEW" | sed -n 's/.* status=\([^ ]*\).*/\1/p' | tr '\n' ' ')" "200 200 404 "
expect_eq "$d: all ok" "$(printf '%s\n' "$LOG_NEW" | grep -c ' outcome=ok')" 3
fd_settle "$d"

# ---- HEAD, 204 and 304 carry no body; the connection stays usable.
d="HEAD/204/304 framing"
note "$d"
raw_open
printf '%s' $'HEAD /bytes/100 HTTP/1.1\r\nHost: h.test\r\n\r\n'$'GET /status/204 HTTP/1.1\r\nHost: h.test\r\n\r\n'$'GET /status/304 HTTP/1.1\r\nHost: h.test\r\n\r\n'$'GET /bytes/5 HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n' >&3
raw_wait_eof "$T/out" 5
raw_close
split_records "$T/out"
expect_eq "$d: four heads and one body" "${#REC[@]}" 5
expect_match "$d: HEAD gets 200" "${REC[0]:-}" '^HTTP/1\.1 200 '
expect_match "$d: HEAD keeps Content-Length: 100" "${REC[0]:-}" $'\r\n[Cc]ontent-[Ll]ength: 100(\r|$)'
expect_match "$d: then 204, no body" "${REC[1]:-}" '^HTTP/1\.1 204 '
expect_match "$d: then 304, no body" "${REC[2]:-}" '^HTTP/1\.1 304 '
expect_match "$d: then 200" "${REC[3]:-}" '^HTTP/1\.1 200 '
expect_eq "$d: and its 5-byte body last" "${REC[4]:-}" "01234"
log_take "$d" 4
expect_eq "$d: logged statuses" "$(printf '%s\n' "$LOG_NEW" | sed -n 's/.* status=\([^ ]*\).*/\1/p' | tr '\n' ' ')" "200 204 304 200 "
expect_eq "$d: all ok" "$(printf '%s\n' "$LOG_NEW" | grep -c ' outcome=ok')" 4
fd_settle "$d"

# The same through curl, which reuses one connection (num_connects 0).
d="HEAD/204/304 with curl"
note "$d"
w='%{http_code}:%{num_connects} '
got=$(curl -s -m 10 -I -o /dev/null -w "$w" "$U/bytes/100" \
	--next -s -m 10 -o /dev/null -w "$w" "$U/status/204" \
	--next -s -m 10 -o /dev/null -w "$w" "$U/status/304" \
	--next -s -m 10 -o "$T/body" -w "$w" "$U/bytes/5")
expect_eq "$d: statuses, one connection" "$got" "200:1 204:0 304:0 200:0 "
expect_eq "$d: last body" "$(cat "$T/body")" "01234"
curl -s -m 10 -I "$U/bytes/100" > "$T/head"
check "$d: HEAD /bytes/100 has Content-Length: 100" grep -qi '^content-length: 100' "$T/head"
log_take "$d" 5
fd_settle "$d"

# ---- chunked both ways.
d="chunked request body"
note "$d"
head -c 300000 /dev/urandom > "$T/up.bin"
hg_curl -H 'Transfer-Encoding: chunked' --data-binary @"$T/up.bin" "$U/echo"
expect_eq "$d: status" "$CODE" 200
n=$(wc -c < "$T/body")
check "$d: the echoed body is what was sent" cmp -s <(tail -c 300000 "$T/body") "$T/up.bin"
head -c $((n - 300000)) "$T/body" > "$T/echohead"
check "$d: forwarded as chunked" grep -qai '^transfer-encoding: chunked' "$T/echohead"
check "$d: echoed head ends at a blank line" test "$(tail -c 4 "$T/echohead" | od -An -c | tr -d ' ')" = '\r\n\r\n'
log_expect "$d" 200 ok
fd_settle "$d"

d="chunked response body"
note "$d"
hg_curl "$U/chunked/100000"
expect_eq "$d: status" "$CODE" 200
check "$d: relayed chunked" grep -qi '^transfer-encoding: chunked' "$T/head"
check "$d: body is the origin's 100000 bytes" cmp -s "$T/body" <(pattern 100000)
log_expect "$d" 200 ok
fd_settle "$d"

# ---- bodies on both sides of the 2 KiB that ride in the head's write:
# a request body of up to 2 KiB is copied behind its head, a longer one
# goes beside it.  A response head is copied over the origin's, in front
# of the body, unless it is longer: an HTTP/1.0 keep-alive client gets an
# extra Connection header, so its replies take the request's path.
d="bodies around 2 KiB"
for n in 1 2047 2048 2049 16384; do
	note "$d: $n bytes"
	hg_curl "$U/bytes/$n"
	expect_eq "$d: GET /bytes/$n status" "$CODE" 200
	check "$d: GET /bytes/$n is the origin's body" cmp -s "$T/body" <(pattern $n)
	expect_match "$d: GET /bytes/$n head" "$(tr -d '\r' < "$T/head")" "^HTTP/1\.1 200 OK
Content-Type: text/plain
Content-Length: $n\$"
	log_expect "$d: GET /bytes/$n" 200 ok
	hg_curl --http1.0 -H 'Connection: keep-alive' "$U/bytes/$n"
	expect_eq "$d: HTTP/1.0 GET /bytes/$n status" "$CODE" 200
	check "$d: HTTP/1.0 GET /bytes/$n is the origin's body" cmp -s "$T/body" <(pattern $n)
	check "$d: HTTP/1.0 GET /bytes/$n keeps the connection" grep -qx $'Connection: keep-alive\r' "$T/head"
	log_expect "$d: HTTP/1.0 GET /bytes/$n" 200 ok
	head -c $n /dev/urandom > "$T/up.bin"
	hg_curl --data-binary @"$T/up.bin" "$U/echo"
	expect_eq "$d: POST of $n bytes status" "$CODE" 200
	check "$d: POST of $n bytes echoed whole" cmp -s <(tail -c $n "$T/body") "$T/up.bin"
	log_expect "$d: POST of $n bytes" 200 ok
done
fd_settle "$d"

# ---- 10 MB both ways, checked by checksum.
BIG=10485760
d="10 MB upload"
note "$d"
head -c $BIG /dev/urandom > "$T/big.bin"
hg_curl -m 30 --data-binary @"$T/big.bin" "$U/echo"
expect_eq "$d: status" "$CODE" 200
expect_eq "$d: echoed body sha256" "$(tail -c $BIG "$T/body" | sha256sum | cut -d' ' -f1)" \
	"$(sha256sum < "$T/big.bin" | cut -d' ' -f1)"
head -c $(( $(wc -c < "$T/body") - BIG )) "$T/body" > "$T/echohead"
check "$d: forwarded with Content-Length: $BIG" grep -qai "^content-length: $BIG" "$T/echohead"
log_expect "$d" 200 ok
bi=$(lf bytes_in "$LOG1")
expect_range "$d: logged bytes_in" "${bi:-0}" $BIG $((BIG + 4096))
fd_settle "$d"

d="10 MB download"
note "$d"
hg_curl -m 30 "$U/bytes/$BIG"
expect_eq "$d: status" "$CODE" 200
curl -s -m 30 -o "$T/direct" "http://127.0.0.1:$ORIGIN_PORT/bytes/$BIG"
expect_eq "$d: size" "$(wc -c < "$T/body")" $BIG
expect_eq "$d: sha256 equals the origin's direct answer" \
	"$(sha256sum < "$T/body" | cut -d' ' -f1)" "$(sha256sum < "$T/direct" | cut -d' ' -f1)"
log_expect "$d" 200 ok
bo=$(lf bytes_out "$LOG1")
expect_range "$d: logged bytes_out" "${bo:-0}" $BIG $((BIG + 4096))
fd_settle "$d"

# ---- 100-continue: curl waits up to --expect100-timeout (2 s) for the
# 100; the proxy (or the origin through it) must send it at once.
d="100-continue"
note "$d"
head -c 2000000 /dev/urandom > "$T/mid.bin"
hg_curl --expect100-timeout 2 -H 'Expect: 100-continue' --data-binary @"$T/mid.bin" "$U/echo"
expect_eq "$d: status" "$CODE" 200
expect_range "$d: no wait for the 100 (ms)" "$MS" 0 899
check "$d: body echoed whole" cmp -s <(tail -c 2000000 "$T/body") "$T/mid.bin"
log_expect "$d" 200 ok
fd_settle "$d"

# ---- hop-by-hop fields removed; X-Forwarded-*, Via added.
d="hop-by-hop removal"
note "$d"
hg_curl -H 'Host: example.test:8080' -H 'Connection: X-Foo' -H 'X-Foo: 1' \
	-H 'Keep-Alive: timeout=5' -H 'TE: trailers' -H 'Upgrade: websocket' \
	-H 'Proxy-Connection: keep-alive' -H 'X-Keep: yes' "$U/echo"
expect_eq "$d: status" "$CODE" 200
tr -d '\r' < "$T/body" > "$T/fwd"
expect_eq "$d: request line forwarded" "$(head -n 1 "$T/fwd")" "GET /echo HTTP/1.1"
for h in Connection X-Foo Keep-Alive TE Upgrade Proxy-Connection; do
	if grep -qi "^$h:" "$T/fwd"; then fail "$d: $h was forwarded: $(grep -i "^$h:" "$T/fwd")"
	else ok "$d: $h removed"; fi
done
check "$d: an end-to-end field is kept" grep -qx 'X-Keep: yes' "$T/fwd"
check "$d: Host kept" grep -qix 'host: example.test:8080' "$T/fwd"
expect_eq "$d: X-Forwarded-For" "$(grep -i '^x-forwarded-for:' "$T/fwd" | cut -d' ' -f2-)" "127.0.0.1"
expect_eq "$d: X-Forwarded-Proto" "$(grep -i '^x-forwarded-proto:' "$T/fwd" | cut -d' ' -f2-)" "http"
expect_eq "$d: X-Forwarded-Host" "$(grep -i '^x-forwarded-host:' "$T/fwd" | cut -d' ' -f2-)" "example.test:8080"
expect_match "$d: Via" "$(grep -i '^via:' "$T/fwd")" '1\.1 hourglass'
log_expect "$d" 200 ok

d="X-Forwarded-For and Via appended"
note "$d"
hg_curl -H 'X-Forwarded-For: 10.1.2.3' -H 'Via: 1.0 other' "$U/echo"
tr -d '\r' < "$T/body" > "$T/fwd"
expect_eq "$d: one X-Forwarded-For" "$(grep -ci '^x-forwarded-for:' "$T/fwd")" 1
expect_eq "$d: X-Forwarded-For" "$(grep -i '^x-forwarded-for:' "$T/fwd" | cut -d' ' -f2-)" "10.1.2.3, 127.0.0.1"
expect_match "$d: Via" "$(grep -i '^via:' "$T/fwd" | tr '\n' ' ')" '^[Vv]ia: 1\.0 other, 1\.1 hourglass'
log_expect "$d" 200 ok

d="HTTP/1.0 client"
note "$d"
hg_curl --http1.0 "$U/echo"
expect_eq "$d: status" "$CODE" 200
expect_eq "$d: forwarded as HTTP/1.1" "$(head -n 1 "$T/body" | tr -d '\r')" "GET /echo HTTP/1.1"
log_expect "$d" 200 ok

# An HTTP/1.0 client cannot read chunked: the body comes decoded, delimited
# by the close.
d="HTTP/1.0 client, chunked response"
note "$d"
hg_curl --http1.0 "$U/chunked/100000"
expect_eq "$d: status" "$CODE" 200
check "$d: no Transfer-Encoding" bash -c "! grep -qi '^transfer-encoding' '$T/head'"
check "$d: Connection: close" grep -qi '^connection: close' "$T/head"
check "$d: the body is the origin's 100000 bytes" cmp -s "$T/body" <(pattern 100000)
log_expect "$d" 200 ok
fd_settle "headers"

finish
