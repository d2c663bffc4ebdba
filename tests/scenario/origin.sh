#!/usr/bin/env bash
# tests/scenario/origin.sh: the test origin answers every endpoint as
# documented in tests/origin/origin_routes.c, keeps connections alive,
# answers pipelined requests in order, frees what clients leave behind,
# and exits 0 on SIGTERM.  About 12 s.
source "$(dirname "$0")/../lib.sh"

LINE=0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-

# pattern N: the first N bytes of any /bytes or /chunked body.
pattern() { yes "$LINE" | head -c "$1"; }

# elapsed T0: milliseconds since T0 (from now_ms).
elapsed() { echo $(( $(now_ms) - $1 )); }

# secs_lt FLOAT LIMIT: true if FLOAT < LIMIT.
secs_lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# raw FILE TEXT: send TEXT in one write on a fresh connection; FILE gets
# everything the origin sends until it closes (at most 3 s).
raw() {
	local f=$1
	exec 3<>"/dev/tcp/127.0.0.1/$P"
	printf '%b' "$2" >&3
	timeout 3 cat <&3 > "$f"
	_raw_rc=$?
	exec 3<&-
}

# hwm PID: peak resident memory in kB.
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }

# wait_fds PID N: wait up to 3 s for PID to hold N descriptors; print the count.
wait_fds() {
	local n
	for _ in $(seq 60); do
		n=$(fd_count "$1")
		[ "$n" -eq "$2" ] && break
		sleep 0.05
	done
	echo "$n"
}

start_origin --log "$T/events.log" || finish
P=$ORIGIN_PORT
PID=$ORIGIN_PID
U=http://127.0.0.1:$P
FD0=$(fd_count "$PID")
check "prints its address" grep -q "^origin: listening on 127.0.0.1:$P\$" "$T/origin.log"
limits=$(awk '/^Max open files/ { print ($4 == $5) }' "/proc/$PID/limits")
expect_eq "soft descriptor limit raised to the hard one" "$limits" 1

note "/"
got=$(curl -s -o "$T/root" -w '%{http_code} %{size_download} %{content_type}' "$U/")
expect_eq "/ status, length, type" "$got" "200 100 text/plain"
expect_eq "/ body starts" "$(head -c 16 "$T/root")" "hourglass origin"
expect_eq "/ body ends in a newline" "$(tail -c 1 "$T/root" | od -An -tx1 | tr -d ' ')" 0a

note "/bytes/N"
for n in 0 1 100000; do
	got=$(curl -s -o "$T/bytes" -w '%{http_code} %{size_download}' "$U/bytes/$n")
	expect_eq "/bytes/$n status and length" "$got" "200 $n"
	check "/bytes/$n is the pattern" cmp -s "$T/bytes" <(pattern "$n")
done
got=$(curl -s -o /dev/null -w '%{http_code}' "$U/bytes/12x")
expect_eq "/bytes/12x is a bad argument" "$got" 400

note "/chunked/N"
check "/chunked/10 is framed as four chunks" cmp -s <(curl -s --raw "$U/chunked/10") \
	<(printf '3\r\n012\r\n3\r\n345\r\n3\r\n678\r\n1\r\n9\r\n0\r\n\r\n')
got=$(curl -s --raw "$U/chunked/100000" | wc -c)
expect_eq "/chunked/100000 raw length (6 x 4000 + 6a0 + 0)" "$got" 100060
curl -s -D "$T/chunked.h" -o "$T/chunked" "$U/chunked/100000"
check "/chunked/100000 decodes to the pattern" cmp -s "$T/chunked" <(pattern 100000)
check "/chunked says chunked" grep -qi '^transfer-encoding: chunked' "$T/chunked.h"
check "/chunked has no Content-Length" bash -c "! grep -qi '^content-length' '$T/chunked.h'"

note "long bodies stream without buffering"
h0=$(hwm "$PID")
got=$(curl -s -m 30 -o /dev/null -w '%{http_code} %{size_download}' "$U/bytes/1073741824")
expect_eq "/bytes/1GiB arrives whole" "$got" "200 1073741824"
got=$(curl -s -m 30 -o /dev/null -w '%{http_code} %{size_download}' "$U/chunked/268435456")
expect_eq "/chunked/256MiB arrives whole" "$got" "200 268435456"
# ASan keeps freed memory in a quarantine of up to 256 MiB; either way a
# buffered body would show as 1 GiB.
limit=32768
grep -q __asan_init "$ORIGIN" && limit=327680
expect_range "peak memory growth in kB" $(( $(hwm "$PID") - h0 )) 0 "$limit"

note "timed endpoints"
t0=$(now_ms)
got=$(curl -s -w ' %{http_code}' "$U/delay/300")
expect_eq "/delay/300 answers" "$got" "delayed 300 ms
 200"
expect_range "/delay/300 ms" "$(elapsed "$t0")" 300 600

t0=$(now_ms)
got=$(curl -s -o "$T/drip" -w '%{http_code} %{size_download} %{time_starttransfer}' "$U/drip/5/100")
expect_range "/drip/5/100 ms" "$(elapsed "$t0")" 400 800
expect_eq "/drip/5/100 status and length" "${got% *}" "200 5"
check "/drip head leaves at once" secs_lt "${got##* }" 0.2
check "/drip body is the pattern" cmp -s "$T/drip" <(pattern 5)

t0=$(now_ms)
got=$(curl -s -o "$T/trickle" -w '%{http_code} %{size_header} %{time_starttransfer}' "$U/trickle-head/10")
ms=$(elapsed "$t0")
read -r code hsize first <<< "$got"
expect_eq "/trickle-head status" "$code" 200
expect_range "/trickle-head/10 ms for a $hsize-byte head" "$ms" $(( (hsize - 1) * 10 )) $(( (hsize - 1) * 10 + 500 ))
check "/trickle-head first byte at once" secs_lt "$first" 0.2
expect_eq "/trickle-head body" "$(cat "$T/trickle")" trickled

note "endpoints that do not answer"
t0=$(now_ms)
curl -s -m 1 "$U/hang" > /dev/null; rc=$?
expect_eq "/hang times out on the client" "$rc" 28
expect_range "/hang client gave up after ms" "$(elapsed "$t0")" 950 1600
curl -s "$U/close" > /dev/null; rc=$?
expect_eq "/close is an empty reply" "$rc" 52
curl -s "$U/reset" > /dev/null; rc=$?
expect_eq "/reset is a connection reset" "$rc" 56

note "the event log"
sleep 0.1
hang_conn=$(awk '$1 == "request" && $3 == "/hang" { print $4 }' "$T/events.log")
req_ms=$(awk -v c="$hang_conn" '$1 == "request" && $4 == c { print $2 }' "$T/events.log")
close_ms=$(awk -v c="$hang_conn" '$1 == "close" && $3 == "/hang" && $4 == c { print $2 }' "$T/events.log")
if [ -n "$req_ms" ] && [ -n "$close_ms" ]; then
	expect_range "origin saw the /hang client close after ms" $((close_ms - req_ms)) 950 1600
else
	fail "no request and close lines for /hang in the event log"
fi
check "log has accept lines" grep -q '^accept [0-9]* - conn=' "$T/events.log"
check "log has done lines" grep -q '^done [0-9]* /bytes/100000 conn=' "$T/events.log"

note "/status/N and 404"
got=$(curl -s -w ' %{http_code}' "$U/status/503")
expect_eq "/status/503" "$got" "503 Service Unavailable
 503"
for s in 204 304; do
	got=$(curl -s -D "$T/st.h" -o "$T/st" -w '%{http_code} %{size_download}' "$U/status/$s")
	expect_eq "/status/$s has no body" "$got" "$s 0"
	check "/status/$s has no Content-Length" bash -c "! grep -qi '^content-length' '$T/st.h'"
done
expect_eq "/status/150 is refused" "$(curl -s -o /dev/null -w '%{http_code}' "$U/status/150")" 400
expect_eq "/status/600 is refused" "$(curl -s -o /dev/null -w '%{http_code}' "$U/status/600")" 400
expect_eq "unknown path" "$(curl -s -o /dev/null -w '%{http_code}' "$U/nope")" 404
expect_eq "POST is answered too" "$(curl -s -o /dev/null -w '%{http_code}' -d x "$U/status/201")" 201

note "/echo"
head -c 1048576 /dev/urandom > "$T/b1"
got=$(curl -s -H 'X-Origin-Test: hello' --data-binary @"$T/b1" -o "$T/echo1" -w '%{http_code}' "$U/echo")
expect_eq "/echo status" "$got" 200
size=$(stat -c %s "$T/echo1")
head -c $((size - 1048576)) "$T/echo1" > "$T/echo1.head"
expect_eq "/echo body checksum" "$(tail -c 1048576 "$T/echo1" | sha256sum)" "$(sha256sum < "$T/b1")"
expect_eq "/echo head starts with the request line" "$(head -c 21 "$T/echo1.head")" "$(printf 'POST /echo HTTP/1.1\r\n')"
check "/echo head has the custom header" grep -q $'^X-Origin-Test: hello\r$' "$T/echo1.head"
expect_eq "/echo head ends with CRLF CRLF" "$(tail -c 4 "$T/echo1.head" | od -An -tx1 | tr -d ' ')" 0d0a0d0a
head -c 10485760 /dev/urandom > "$T/b10"
curl -s -H 'Transfer-Encoding: chunked' --data-binary @"$T/b10" -o "$T/echo10" "$U/echo/x?y=1"
expect_eq "/echo de-chunks a 10 MiB body" "$(tail -c 10485760 "$T/echo10" | sha256sum)" "$(sha256sum < "$T/b10")"
check "/echo shows the chunked request head" grep -qi $'^transfer-encoding: chunked\r$' "$T/echo10"
got=$(curl -s -H 'Expect: 100-continue' --data-binary abc -w ' %{time_total}' "$U/echo")
check "Expect: 100-continue is answered at once" secs_lt "${got##* }" 0.5
expect_eq "/echo after 100 Continue" "$(printf '%s' "${got% *}" | tail -c 3)" abc

note "keep-alive and HEAD"
got=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' "$U/" "$U/bytes/10")
expect_eq "HTTP/1.1 reuses the connection" "$got" "1 0 "
got=$(curl -s -0 -H 'Connection: keep-alive' -D "$T/ka.h" -o /dev/null -o /dev/null -w '%{num_connects} ' "$U/" "$U/")
expect_eq "HTTP/1.0 keep-alive reuses the connection" "$got" "1 0 "
check "HTTP/1.0 keep-alive is confirmed" grep -qi $'^connection: keep-alive\r$' "$T/ka.h"
curl -s -0 -D "$T/c10.h" -o /dev/null "$U/"
check "HTTP/1.0 without keep-alive gets Connection: close" grep -qi $'^connection: close\r$' "$T/c10.h"
curl -s -H 'Connection: close' -D "$T/c11.h" -o /dev/null "$U/"
check "Connection: close is honoured" grep -qi $'^connection: close\r$' "$T/c11.h"
got=$(curl -s -I -w '%{http_code} %{size_download}' "$U/bytes/1000" | tr -d '\r' | grep -i -e '^content-length' -e '^[0-9]')
expect_eq "HEAD /bytes/1000" "$(echo $got)" "Content-Length: 1000 200 0"

note "pipelining"
raw "$T/pipe" 'GET /delay/200 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /bytes/1000 HTTP/1.1\r\nHost: x\r\n\r\nGET /bytes/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
expect_eq "pipelined connection closed by the origin" "$_raw_rc" 0
check "three pipelined responses, in order, HEAD without body" cmp -s "$T/pipe" <(printf '%s' \
	$'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\ndelayed 200 ms\n' \
	$'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n' \
	$'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\n012')

note "malformed requests"
raw "$T/bad" 'GARBAGE\r\n\r\n'
expect_eq "malformed request gets 400" "$(head -n 1 "$T/bad" | tr -d '\r')" "HTTP/1.1 400 Bad Request"
expect_eq "and the origin closes" "$_raw_rc" 0
raw "$T/bad2" 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'
expect_eq "ambiguous framing gets 400" "$(head -n 1 "$T/bad2" | tr -d '\r')" "HTTP/1.1 400 Bad Request"

if command -v wrk > /dev/null; then
	note "many connections"
	wrk -t1 -c1000 -d1s "$U/" > "$T/wrk" 2>&1
	check "wrk with 1000 connections: no socket errors" bash -c "! grep -q 'Socket errors' '$T/wrk'"
	check "wrk with 1000 connections: all 2xx" bash -c "! grep -q 'Non-2xx' '$T/wrk'"
	n=$(awk '/requests in/ { print $1 }' "$T/wrk")
	expect_range "wrk requests" "${n:-0}" 1000 100000000
fi

note "descriptors and shutdown"
expect_eq "descriptors back to the start value" "$(wait_fds "$PID" "$FD0")" "$FD0"
kill -TERM "$PID"
wait "$PID"; rc=$?
expect_eq "exit status on SIGTERM" "$rc" 0

note "blackhole"
v6=()
grep -q '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null && v6=(--listen '[::1]:0')
start_origin --blackhole 0 --blackhole-port-file "$T/bh.port" "${v6[@]}" || finish
BH=$(cat "$T/bh.port")
t0=$(now_ms)
curl -s --connect-timeout 1 "http://127.0.0.1:$BH/" > /dev/null; rc=$?
ms=$(elapsed "$t0")
expect_eq "connect to the blackhole times out (not refused)" "$rc" 28
expect_range "blackhole connect timeout ms" "$ms" 900 1600
expect_eq "the regular listener still answers" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ORIGIN_PORT/")" 200
if [ ${#v6[@]} -gt 0 ]; then
	P6=$(sed -n 's/^origin: listening on \[::1\]:\([0-9]*\)$/\1/p' "$T/origin.log")
	expect_eq "IPv6 listener answers" "$(curl -s -g -o /dev/null -w '%{http_code}' "http://[::1]:$P6/")" 200
else
	note "no ::1 here: IPv6 listener not tested"
fi
kill -INT "$ORIGIN_PID"
wait "$ORIGIN_PID"; rc=$?
expect_eq "exit status on SIGINT" "$rc" 0

finish
