#!/usr/bin/env bash
# tests/scenario/origin.sh: the test origin answers every endpoint as
# documented in tests/origin/origin_routes.c, keeps connections alive,
# answers pipelined requests in order, runs its tunnels (/ws, /upgrade)
# with backpressure, draws its latency tails (/tail, --tail, --delay,
# --seed) as asked, counts in /stats, frees what clients leave behind, and
# exits 0 on SIGTERM.  About 25 s.
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

note "/ws: the WebSocket echo (raw sockets)"
cat > "$T/ws.py" <<'EOF'
import socket, struct, sys, time
from wslib import *
port, log = int(sys.argv[1]), sys.argv[2]

s = connect(port)
st, h, r = handshake(s, "/ws?echo", key=b"dGhlIHNhbXBsZSBub25jZQ==")
expect("/ws answers 101", st, 101)
expect("Sec-WebSocket-Accept of RFC 6455's example key",
       h.get("sec-websocket-accept"), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
expect("101 has Upgrade: websocket", h.get("upgrade"), b"websocket")
expect("101 has Connection: Upgrade", h.get("connection"), b"Upgrade")

# Each length form from the client; the echo is unmasked, in the shortest form.
cases = [
    ("text, 7-bit length", TEXT, b"hello", None, b"\x81\x05"),
    ("text, 5 bytes in the 16-bit form", TEXT, b"hello", 16, b"\x81\x05"),
    ("binary, 200 bytes, 16-bit length", BINARY, bytes(range(200)), None,
     b"\x82\x7e" + struct.pack("!H", 200)),
    ("binary, 200 bytes in the 64-bit form", BINARY, bytes(range(200)), 64,
     b"\x82\x7e" + struct.pack("!H", 200)),
    ("binary, 70000 bytes, 64-bit length", BINARY, os.urandom(70000), None,
     b"\x82\x7f" + struct.pack("!Q", 70000)),
    ("binary, empty", BINARY, b"", None, b"\x82\x00"),
]
for desc, op, p, form, head in cases:
    s.sendall(frame(op, p, length=form))
    expect("echo head of " + desc, r.exact(len(head)), head)
    expect("echo payload of " + desc, r.exact(len(p)), p)

# A fragmented message with a ping between its frames: frame by frame.
s.sendall(frame(TEXT, b"frag-", fin=False) + frame(PING, b"mid") +
          frame(CONT, b"ment", fin=True))
expect("first fragment", r.frame(), (False, TEXT, False, b"frag-"))
expect("ping between fragments gets its pong", r.frame(), (True, PONG, False, b"mid"))
expect("last fragment", r.frame(), (True, CONT, False, b"ment"))

# A frame in pieces, its head split byte by byte.
f = frame(BINARY, b"x" * 300)
for i in range(8):
    s.sendall(f[i:i + 1])
    time.sleep(0.005)
s.sendall(f[8:])
expect("a frame written in pieces", r.frame(), (True, BINARY, False, b"x" * 300))

s.sendall(frame(PONG, b"unasked") + frame(PING, b"") + frame(TEXT, b"after"))
expect("an unasked pong is not answered; an empty ping gets an empty pong",
       r.frame(), (True, PONG, False, b""))
expect("then the text after them", r.frame(), (True, TEXT, False, b"after"))

s.sendall(frame(CLOSE, close_payload(1000, b"bye")))
expect("close 1000 is answered with close 1000", r.frame(),
       (True, CLOSE, False, close_payload(1000)))
expect("then the origin closes (FIN)", r.until_eof(), b"")
s.close()

# The first frame in the same write as the handshake; an empty close.
s = connect(port)
s.sendall(request("/ws?early", key=b"dGhlIHNhbXBsZSBub25jZQ==") +
          frame(TEXT, b"early"))
r = Reader(s)
expect("handshake with a frame behind it", r.head()[0], 101)
expect("the frame behind the handshake", r.frame(), (True, TEXT, False, b"early"))
s.sendall(frame(CLOSE))
expect("an empty close gets an empty close", r.frame(), (True, CLOSE, False, b""))
expect("and the origin's FIN", r.until_eof(), b"")
s.close()

# Protocol errors: a close with 1002, then the FIN.
for desc, f in (("an unmasked frame", frame(TEXT, b"x", mask=False)),
                ("an RSV bit", frame(TEXT, b"x", rsv=4)),
                ("opcode 3", frame(3, b"x")),
                ("a 126-byte ping", frame(PING, b"p" * 126)),
                ("a fragmented ping", frame(PING, b"p", fin=False))):
    s = connect(port)
    st, h, r = handshake(s, "/ws")
    s.sendall(f)
    expect(desc + " gets close 1002", r.frame(), (True, CLOSE, False, close_payload(1002)))
    expect(desc + ": then the FIN", r.until_eof(), b"")
    s.close()

# Refusals, on one keep-alive connection.
s = connect(port)
r = Reader(s)
for desc, req, want in (
        ("no Upgrade, no Connection", request(upgrade=None, connection=None), 426),
        ("Connection without upgrade", request(connection=b"keep-alive"), 426),
        ("Upgrade: h2c", request(upgrade=b"h2c"), 426),
        ("Sec-WebSocket-Version: 8", request(version=b"8"), 426),
        ("no Sec-WebSocket-Version", request(version=None), 426),
        ("no Sec-WebSocket-Key", request(key=None), 400),
        ("a short Sec-WebSocket-Key", request(key=b"c2hvcnQ="), 400),
        ("POST", b"POST" + request(key=new_key())[3:], 400),
        ("a 101 that would follow", request(key=new_key()), 101)):
    s.sendall(req)
    st, h, _ = r.head()
    expect("/ws with " + desc, st, want)
    if st == 426:
        expect("426 names websocket", h.get("upgrade"), b"websocket")
        expect("426 names version 13", h.get("sec-websocket-version"), b"13")
    if st != 101:
        r.exact(int(h["content-length"]))
s.close()
s = connect(port)
s.sendall(request(key=new_key()).replace(b"HTTP/1.1", b"HTTP/1.0"))
expect("/ws in HTTP/1.0", Reader(s).head()[0], 426)
s.close()

ev = [e[0] for e in events(log, "/ws?echo")]
expect("event log of a WebSocket: request, upgrade, done (its FIN)", ev[:3], ["request", "upgrade", "done"])
EOF
py_checks "/ws raw checks" "$T/ws.py" "$P" "$T/events.log"

note "/upgrade: the raw tunnel"
cat > "$T/raw.py" <<'EOF'
import socket, sys, threading, time
from wslib import *
port, log = int(sys.argv[1]), sys.argv[2]

def tunnel(target, upgrade=b"websocket"):
    s = connect(port)
    st, h, r = handshake(s, target, upgrade=upgrade, ws=False)
    expect(target + " answers 101", st, 101)
    return s, r

def quiet(s, secs=0.3):
    """Nothing arrives for secs."""
    s.settimeout(secs)
    try:
        d = s.recv(1)
        return False
    except socket.timeout:
        return True
    finally:
        s.settimeout(5)

def wait_event(target, what, secs=3):
    t = time.time() + secs
    while time.time() < t:
        if what in [e[0] for e in events(log, target)]:
            return True
        time.sleep(0.02)
    return False

s = connect(port)
s.sendall(b"GET /upgrade?raw HTTP/1.1\r\nHost: x\r\nUpgrade: foo/1, bar\r\n"
          b"Connection: keep-alive, Upgrade\r\n\r\n")
r = Reader(s)
expect("/upgrade's 101, with the request's Upgrade value", r.head()[2],
       b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
       b"Upgrade: foo/1, bar\r\n\r\n")
s.sendall(b"hello")
expect("echo", r.exact(5), b"hello")
s.sendall(b"!nope\n")
expect("an unknown command is echoed", r.exact(6), b"!nope\n")
big = os.urandom(1 << 20)
threading.Thread(target=s.sendall, args=(big,)).start()
expect("echo of 1 MiB", r.exact(len(big)), big)
s.sendall(b"last words")
s.shutdown(socket.SHUT_WR)
expect("client FIN: what is owed comes back, then the origin's FIN",
       r.until_eof(), b"last words")
s.close()
check("event log: close (our FIN) before done (its FIN)", wait_event("/upgrade?raw", "done"))
ev = [e[0] for e in events(log, "/upgrade?raw")]
expect("event log of the raw tunnel", ev, ["request", "upgrade", "close", "done"])

# The client's FIN right behind 1 MiB it sent: all of it comes back first.
s, r = tunnel("/upgrade?fin-behind")
s.sendall(big)
s.shutdown(socket.SHUT_WR)
expect("1 MiB then our FIN: echoed whole, then the FIN", r.until_eof(), big)
s.close()

s, r = tunnel("/upgrade?silent")
s.sendall(b"one")
expect("echo before !silent", r.exact(3), b"one")
s.sendall(b"!silent\n")
time.sleep(0.1)
s.sendall(b"two")
check("!silent: no echo", quiet(s))
s.shutdown(socket.SHUT_WR)
expect("!silent, then our FIN: the origin's FIN", r.until_eof(), b"")
s.close()

s, r = tunnel("/upgrade?close")
s.sendall(b"abc")
expect("echo before !close", r.exact(3), b"abc")
s.sendall(b"!close\n")
expect("!close: the origin's FIN", r.until_eof(), b"")
check("!close: logged done", wait_event("/upgrade?close", "done"))
s.close()

s, r = tunnel("/upgrade?reset")
s.sendall(b"!reset\n")
try:
    r.until_eof()
    check("!reset: a reset", False, "got a FIN")
except ConnectionResetError:
    check("!reset: a reset", True)
s.close()

s, r = tunnel("/upgrade?shut")
s.sendall(b"abc")
expect("echo before !shut", r.exact(3), b"abc")
s.sendall(b"!shut\n")
expect("!shut: the origin's FIN", r.until_eof(), b"")
check("!shut: logged done", wait_event("/upgrade?shut", "done"))
for i in range(3):
    s.sendall(b"x" * 100000)	# a closed socket would answer with a reset
    time.sleep(0.05)
ev = [e[0] for e in events(log, "/upgrade?shut")]
check("!shut: the origin still reads after its FIN", "close" not in ev, repr(ev))
s.shutdown(socket.SHUT_WR)
check("!shut: our FIN is seen (close logged)", wait_event("/upgrade?shut", "close"))
try:
    expect("!shut: no reset at the end", s.recv(1), b"")
except ConnectionResetError:
    check("!shut: no reset at the end", False, "reset")
s.close()

s, r = tunnel("/upgrade/close")
expect("/upgrade/close: 101 then the FIN", r.until_eof(), b"")
s.close()

s, r = tunnel("/upgrade/reset")
try:
    r.until_eof()
    check("/upgrade/reset: 101 then a reset", False, "got a FIN")
except ConnectionResetError:
    check("/upgrade/reset: 101 then a reset", True)
s.close()

s, r = tunnel("/upgrade/silent")
s.sendall(b"data")
check("/upgrade/silent: no echo", quiet(s))
s.sendall(b"!close\n")
expect("/upgrade/silent: commands still work (!close)", r.until_eof(), b"")
s.close()

s = connect(port)
s.sendall(request("/upgrade", upgrade=b"x", key=None, version=None) + b"early")
r = Reader(s)
expect("bytes behind the head: 101", r.head()[0], 101)
expect("then their echo", r.exact(5), b"early")
s.close()

s = connect(port)
r = Reader(s)
s.sendall(request("/upgrade", upgrade=None, key=None, version=None))
st, h, _ = r.head()
expect("/upgrade without Upgrade", st, 426)
r.exact(int(h["content-length"]))
s.sendall(request("/upgrade/200", key=None, version=None))
st, h, _ = r.head()
expect("/upgrade/200 declines", st, 200)
expect("/upgrade/200 body", r.exact(int(h["content-length"])), b"not upgraded\n")
s.sendall(b"GET /bytes/3 HTTP/1.1\r\nHost: x\r\n\r\n")
st, h, _ = r.head()
expect("a second request on the same connection", (st, r.exact(3)), (200, b"012"))
s.close()
EOF
py_checks "/upgrade checks" "$T/raw.py" "$P" "$T/events.log"

note "tunnels: backpressure"
cat > "$T/bp.py" <<'EOF'
import hashlib, socket, sys, threading, time
from wslib import *
port, pid, limit = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
TOTAL = 96 << 20
base = os.urandom(1 << 20)

def rss():
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])

def flood(s, block, total):
    """Send block repeatedly, not reading, until total or 1 s without progress."""
    s.setblocking(False)
    sent, last = 0, time.time()
    while sent < total and time.time() - last < 1.0:
        off = sent % len(block)
        try:
            n = s.send(memoryview(block)[off:])
            sent += n
            last = time.time()
        except BlockingIOError:
            time.sleep(0.01)
    s.setblocking(True)
    s.settimeout(10)
    return sent

def rest(s, block, sent, total):
    while sent < total:
        off = sent % len(block)
        sent += s.send(memoryview(block)[off:off + min(len(block) - off, total - sent)])

def drain(r, n):
    h = hashlib.sha256()
    got = len(r.buf)
    h.update(r.buf)
    r.buf = b""
    while got < n:
        d = r.sock.recv(1 << 20)
        if not d:
            break
        h.update(d)
        got += len(d)
    return got, h.hexdigest()

want = hashlib.sha256()
for i in range(TOTAL // len(base)):
    want.update(base)
want = want.hexdigest()

for kind in ("raw", "ws"):
    s = connect(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    if kind == "raw":
        st, h, r = handshake(s, "/upgrade?bp", ws=False)
        block, head = base, b""
    else:
        st, h, r = handshake(s, "/ws?bp")
        m = os.urandom(4)
        block = xor_mask(base, m)
        s.sendall(b"\x82\xff" + TOTAL.to_bytes(8, "big") + m)
        head = b"\x82\x7f" + TOTAL.to_bytes(8, "big")
    r0 = rss()
    sent = flood(s, block, TOTAL)
    check("%s: the echo holds back a sender that does not read (%d MiB of %d sent)"
          % (kind, sent >> 20, TOTAL >> 20), sent < TOTAL)
    grow = rss() - r0
    check("%s: origin memory growth %d kB <= %d while the sender is held back"
          % (kind, grow, limit), grow <= limit)
    threading.Thread(target=rest, args=(s, block, sent, TOTAL), daemon=True).start()
    if head:
        expect("%s: the 96 MiB frame's echo head" % kind, r.exact(len(head)), head)
    expect("%s: once read, all of it comes back" % kind, drain(r, TOTAL), (TOTAL, want))
    s.close()
EOF
limit=32768
grep -q __asan_init "$ORIGIN" && limit=327680
py_checks "backpressure" "$T/bp.py" "$P" "$PID" "$limit"

note "/ws with Debian's python3-websockets"
cat > "$T/wsl.py" <<'EOF'
import asyncio, os, sys
import websockets
from wslib import check, expect
port = int(sys.argv[1])

async def main():
    async with websockets.connect("ws://127.0.0.1:%d/ws" % port, max_size=None) as ws:
        await ws.send("h\u00e9llo")
        expect("websockets: text echo", await ws.recv(), "h\u00e9llo")
        data = os.urandom(100000)
        await ws.send(data)
        check("websockets: 100 kB binary echo", await ws.recv() == data)
        await asyncio.wait_for(await ws.ping(b"p"), 5)
        check("websockets: ping answered", True)
        await ws.close(code=4000, reason="done")
        expect("websockets: the close code comes back", ws.close_code, 4000)

asyncio.run(asyncio.wait_for(main(), 20))
EOF
py_checks "python3-websockets client" "$T/wsl.py" "$P"

note "latency tails: /tail, --tail, --delay, --seed, /stats"
# tail.py PORT MODE: timed requests on keep-alive connections, from
# threads; the time of each is from its write to the end of its body.
# Binomial windows are the mean +- about 4.5 standard deviations.
cat > "$T/tail.py" <<'EOF'
import queue, sys, threading, time
from wslib import *
port, mode = int(sys.argv[1]), sys.argv[2]

def timed(paths, conns):
    """[(path, seconds, status, body)] for each path, conns at a time."""
    q = queue.Queue()
    for p in paths:
        q.put(p)
    out, lock = [], threading.Lock()
    def worker():
        s = connect(port)
        r = Reader(s)
        while True:
            try:
                p = q.get_nowait()
            except queue.Empty:
                break
            t0 = time.monotonic()
            s.sendall(b"GET " + p.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            st, h, _ = r.head()
            body = r.exact(int(h["content-length"]))
            with lock:
                out.append((p, time.monotonic() - t0, st, body))
        s.close()
    ts = [threading.Thread(target=worker) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out

def stats():
    (_, _, _, body), = timed(["/stats"], 1)
    return {k: int(v) for k, v in (kv.split("=") for kv in body.decode().split())}

if mode == "tail":
    st0 = stats()
    rs = timed(["/tail/25/100?%d" % i for i in range(400)], 50)
    expect("400 answers to /tail/25/100, all 200", sorted({x[2] for x in rs}), [200])
    slow = sum(1 for x in rs if x[1] >= 0.100)
    check("/tail/25/100: %d of 400 took >= 100 ms, want 61..139" % slow, 61 <= slow <= 139)
    waited = [x for x in rs if x[3] == b"tail: waited 100 ms\n"]
    fast = [x for x in rs if x[3] == b"tail: at once\n"]
    expect("every /tail body says waited or at once", len(waited) + len(fast), 400)
    check("/tail/25/100: %d said they waited, want 61..139" % len(waited),
          61 <= len(waited) <= 139)
    check("each of them took >= 100 ms (the quickest %.3f s)" % min(x[1] for x in waited),
          min(x[1] for x in waited) >= 0.100)
    rs = timed(["/tail/0/1000?%d" % i for i in range(40)], 20)
    check("/tail/0/1000 never waits: 40 answered at once, the slowest in %.3f s"
          % max(x[1] for x in rs),
          max(x[1] for x in rs) < 1.0 and {x[3] for x in rs} == {b"tail: at once\n"})
    rs = timed(["/tail/100/300?%d" % i for i in range(40)], 20)
    check("/tail/100/300 always waits: 40 took >= 300 ms, the quickest %.3f s"
          % min(x[1] for x in rs),
          min(x[1] for x in rs) >= 0.300 and {x[3] for x in rs} == {b"tail: waited 300 ms\n"})
    args = ["/tail/2.5/1", "/tail/0.0001/1", "/tail/100.0/1", "/tail/1.2345/0",
            "/tail/1.23456/1", "/tail/100.0001/1", "/tail/101/1", "/tail/5",
            "/tail/.5/1", "/tail/5./1", "/tail/5/1/2", "/tail/5/x"]
    got = dict((x[0], x[2]) for x in timed(args, 1))
    expect("/tail's P: 0 to 100 with up to 4 decimals, else 400", [got[a] for a in args],
           [200, 200, 200, 200, 400, 400, 400, 400, 400, 400, 400, 400])
    st = stats()
    expect("/stats counts the requests, not itself", st["requests"] - st0["requests"],
           400 + 40 + 40 + len(args))
    extra = st["waited"] - st0["waited"] - len(waited) - 40
    check("/stats counts those that waited (%d of the argument checks, want 1..4)"
          % extra, 1 <= extra <= 4)
elif mode == "option":
    # --tail 50/200: on every path; the body is the path's.
    rs = timed(["/?%d" % i for i in range(200)] + ["/bytes/10?%d" % i for i in range(40)], 40)
    slow = sum(1 for x in rs if x[1] >= 0.200)
    check("--tail 50/200: %d of 240 requests took >= 200 ms, want 85..155" % slow,
          85 <= slow <= 155)
    expect("--tail 50/200: each body is its path's",
           sorted({(x[0].split("?")[0], x[2], len(x[3])) for x in rs}),
           [("/", 200, 100), ("/bytes/10", 200, 10)])
    t0 = time.monotonic()
    st = stats()
    check("/stats is not held by --tail", time.monotonic() - t0 < 0.2)
    expect("/stats: 240 requests", st["requests"], 240)
    check("/stats: %d waited, as many as took >= 200 ms (%d)" % (st["waited"], slow),
          st["waited"] <= slow <= st["waited"] + 5)
elif mode == "delay":
    rs = timed(["/bytes/10", "/status/503", "/tail/0/1", "/"], 4)
    check("--delay 300: every request took >= 300 ms (the quickest %.3f s)"
          % min(x[1] for x in rs), min(x[1] for x in rs) >= 0.300)
    expect("--delay 300: then it is answered as its path says",
           sorted((x[2], len(x[3])) for x in rs), [(200, 10), (200, 14), (200, 100), (503, 24)])
    # A client that gives up while its request waits: cancelled.
    s = connect(port)
    s.sendall(b"GET /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.1)
    s.close()
    time.sleep(0.4)
    expect("/stats after a client gave up on a waiting request", stats(),
           {"requests": 5, "waited": 5, "cancelled": 1, "accepted": 6})
elif mode == "seed":
    # One draw per request, in order: the pattern of /tail/50/1 is the seed's.
    rs = timed(["/tail/50/1?%d" % i for i in range(48)], 1)
    print("pattern " + "".join("w" if b"waited" in x[3] else "." for x in rs))
EOF
py_checks "/tail" "$T/tail.py" "$P" tail
start_origin --tail 50/200 || finish
py_checks "--tail" "$T/tail.py" "$ORIGIN_PORT" option
stop_pid "$ORIGIN_PID"
start_origin --delay 300 || finish
py_checks "--delay" "$T/tail.py" "$ORIGIN_PORT" delay
stop_pid "$ORIGIN_PID"
for seed in 42 42 43; do
	start_origin --seed "$seed" || finish
	PYTHONPATH=$TOP/tests timeout 20 python3 "$T/tail.py" "$ORIGIN_PORT" seed > "$T/seed.$seed.$RANDOM" 2>&1
	stop_pid "$ORIGIN_PID"
done
mapfile -t pats < <(for f in "$T"/seed.42.* "$T"/seed.43.*; do sed -n 's/^pattern //p' "$f"; done)
expect_match "--seed 42: 48 draws, some waited and some not" "${pats[0]:-}" '^[w.]{48}$'
check "--seed 42: draws of both kinds" bash -c "[[ '${pats[0]:-}' == *w* && '${pats[0]:-}' == *.* ]]"
expect_eq "--seed 42 twice: the same draws" "${pats[1]:-}" "${pats[0]:-}"
check "--seed 43: other draws" test "${pats[2]:-}" != "${pats[0]:-}"

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
