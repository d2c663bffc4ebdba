#!/usr/bin/env bash
# Framing: hourglass forwards only framing it wrote itself (README,
# "Framing").  A recording upstream keeps every byte it receives, one file
# a connection, and each case asserts what the client got and exactly what
# reached the upstream: the request line, the client's fields and the
# framing fields byte for byte (field order aside), and the body byte for
# byte.  The fields hourglass adds (X-Forwarded-*, Via, X-Request-Id, the deadline
# header) are left out of the comparison; one control checks them loosely.
#
# 1. Refused requests (400 reject:bad_request, 501 reject:not_implemented):
#    nothing of them reaches the upstream (no connection, or one that
#    carried no byte).
# 2. A bad chunk after the head and a good chunk went upstream: the
#    upstream saw the head and that chunk re-encoded, never a last chunk,
#    and its connection was closed at once.
# 3. Accepted oddities, each forwarded in canonical framing.
# 4. Responses: re-encoded for the client; malformed ones are
#    error:upstream_protocol, 502 before the head went out, a visibly cut
#    response after it.
source "$(dirname "$0")/../harden_lib.sh"

# Debian's python3 (tools/deps.sh installs it) before any other on PATH: a
# version manager's shim there can cost 300 ms a call.  -S: no site
# packages, only the standard library, which starts several times faster.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || { fail "python3 is needed for the recording upstream"; finish; }

REC=$T/rec
mkdir -p "$REC"

# The recording upstream.  Connection N's bytes go to REC/N.bytes as they
# arrive; when it reads EOF it writes REC/N.eof with the wall-clock ms of
# that EOF.  It parses each request loosely (the head, then Content-Length
# or chunked framing) and, once one is whole, answers it: a path under
# /resp/ gets the scripted response of that name (parts sent 300 ms
# apart), any other path "200" with the path and a newline as body.  It
# never closes a connection itself: the proxy must end each message by its
# framing.
cat > "$T/recorder.py" <<'EOF'
import os, socket, sys, threading, time

outdir, portfile = sys.argv[1], sys.argv[2]

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
SCRIPTS = {
    # uppercase hex, leading zeros, extensions, trailers (some of them
    # fields that may not be trailers), Transfer-Encoding not lowercase
    b"odd": [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nX-A: 1\r\n\r\n"
             b"000A;foo=bar\r\n0123456789\r\n"
             b"01B;x;y=\"q z\"\r\nabcdefghijklmnopqrstuvwxyz!\r\n"
             b"0;end=1\r\nX-Trailer:   v  \r\nContent-Length: 5\r\n"
             b"Host: evil\r\nTransfer-Encoding: chunked\r\nx-t2:b\r\n\r\n"],
    b"cl007": [b"HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\nabcdefg"],
    b"crhead": [CHUNKED + b"5\rhello\r\n", b"0\r\n\r\n"],
    b"crmid": [CHUNKED + b"5\r\nhello\r\n", b"5\rworld\r\n", b"0\r\n\r\n"],
    b"signhead": [CHUNKED + b"+5\r\nhello\r\n0\r\n\r\n"],
    b"crext": [CHUNKED + b"5\r\nhello\r\n", b"5;a=b\rworld\r\n", b"0\r\n\r\n"],
    b"trmid": [CHUNKED + b"5\r\nhello\r\n0\r\nX-T: 1\r\n", b"X-U: a\rb\r\n\r\n"],
    b"signmid": [CHUNKED + b"5\r\nhello\r\n", b"+5\r\nworld\r\n0\r\n\r\n"],
    b"tegzip": [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                b"5\r\nhello\r\n0\r\n\r\n"],
}

def serve(c, n):
    f = open(os.path.join(outdir, "%d.bytes" % n), "ab", buffering=0)
    st = {"buf": b"", "eof_ms": None}

    def more():
        if st["eof_ms"] is not None:
            raise EOFError
        try:
            d = c.recv(65536)
        except OSError:
            d = b""
        if not d:
            st["eof_ms"] = int(time.time() * 1000)
            raise EOFError
        f.write(d)
        st["buf"] += d

    def line():
        while b"\r\n" not in st["buf"]:
            more()
        i = st["buf"].index(b"\r\n")
        l, st["buf"] = st["buf"][:i], st["buf"][i + 2:]
        return l

    def take(k):
        while len(st["buf"]) < k:
            more()
        st["buf"] = st["buf"][k:]

    try:
        while True:
            while b"\r\n\r\n" not in st["buf"]:
                more()
            i = st["buf"].index(b"\r\n\r\n") + 4
            head, st["buf"] = st["buf"][:i], st["buf"][i:]
            lines = head.split(b"\r\n")
            path = lines[0].split(b" ")[1]
            fields = {}
            for l in lines[1:]:
                if b":" in l:
                    k, v = l.split(b":", 1)
                    fields[k.strip().lower()] = v.strip().lower()
            if b"chunked" in fields.get(b"transfer-encoding", b""):
                while True:
                    size = int(line().split(b";")[0], 16)
                    if size == 0:
                        while line() != b"":
                            pass
                        break
                    take(size + 2)
            elif b"content-length" in fields:
                take(int(fields[b"content-length"]))
            if path.startswith(b"/resp/"):
                parts = SCRIPTS.get(path[6:], [b"HTTP/1.1 404 x\r\nContent-Length: 0\r\n\r\n"])
            else:
                parts = [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s\n"
                         % (len(path) + 1, path)]
            for k, p in enumerate(parts):
                if k > 0:
                    time.sleep(0.3)
                c.sendall(p)
    except (EOFError, ValueError, IndexError, OSError):
        pass
    # Keep recording until the proxy closes.
    try:
        while True:
            more()
    except EOFError:
        pass
    f.close()
    c.close()
    tmp = os.path.join(outdir, "%d.tmp" % n)
    with open(tmp, "w") as e:
        e.write("%d\n" % st["eof_ms"])
    os.rename(tmp, os.path.join(outdir, "%d.eof" % n))

l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 0))
l.listen(64)
with open(portfile + ".tmp", "w") as p:
    p.write("%d\n" % l.getsockname()[1])
os.rename(portfile + ".tmp", portfile)
n = 0
while True:
    c, _ = l.accept()
    n += 1
    open(os.path.join(outdir, "%d.bytes" % n), "wb").close()
    threading.Thread(target=serve, args=(c, n), daemon=True).start()
EOF

# norm FILE...: the bytes of each FILE (or stdin), escaped on one line
# (\r \n \t \\ \xHH), files joined by " [next connection] ".  In each
# message head (a request or status line, through the blank line) the
# fields hourglass adds are left out and the others sorted, so that field
# order does not matter; every other byte stands as it came.
cat > "$T/norm.py" <<'EOF'
import re, sys

ADDED = {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host",
         b"via", b"x-request-timeout", b"x-request-id"}
START = re.compile(rb"(?:[A-Z]+ /[!-~]* HTTP/1\.[01]|HTTP/1\.[01] [0-9]{3} [^\r\n]*)\r\n")

def esc(b):
    out = []
    for c in b:
        if c == 0x5c:
            out.append("\\\\")
        elif c == 13:
            out.append("\\r")
        elif c == 10:
            out.append("\\n")
        elif c == 9:
            out.append("\\t")
        elif 0x20 <= c < 0x7f:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)

def norm(data):
    out, pos = [], 0
    while True:
        m = START.search(data, pos)
        if m is None:
            break
        end = data.find(b"\r\n\r\n", m.start())
        if end < 0:
            break
        out.append(esc(data[pos:m.start()]))
        fields = data[m.end():end + 2].split(b"\r\n")[:-1]
        fields = sorted(f for f in fields
                        if f.split(b":", 1)[0].lower() not in ADDED)
        out.append(esc(data[m.start():m.end()]))
        out.extend(esc(f + b"\r\n") for f in fields)
        out.append("\\r\\n")
        pos = end + 4
    out.append(esc(data[pos:]))
    return "".join(out)

if len(sys.argv) > 1:
    print(" [next connection] ".join(norm(open(a, "rb").read()) for a in sys.argv[1:]))
else:
    print(norm(sys.stdin.buffer.read()))
EOF

norm() { "$PY" -S "$T/norm.py" "$@"; }

# send1 FORMAT: write the printf FORMAT's bytes to the daemon (fd 3) in one
# write().  Bash's printf writes each line apart, so the daemon could read
# a head alone and forward it before the body bytes that make the request
# bad arrive: a case of its own (streamed, below), not the one meant.
# shellcheck disable=SC2059
send1() { printf "$1" > "$T/req"; cat "$T/req" >&3 2>/dev/null; }

# exchange FILE REQUEST [SECONDS]: as raw_exchange, but REQUEST goes out in
# one write().
exchange() {
	raw_open
	send1 "$2"
	raw_wait_eof "$1" "${3:-3}"
	raw_close
	RESP_LINE=$(status_line "$1")
}
# want FORMAT: the printf FORMAT's bytes through norm.
# shellcheck disable=SC2059
want() { printf "$1" | norm; }

"$PY" -S "$T/recorder.py" "$REC" "$T/rec.port" > "$T/recorder.log" 2>&1 &
_pids+=("$!")
wait_file "$T/rec.port" || { fail "the recording upstream did not start"; cat "$T/recorder.log"; finish; }
REC_PORT=$(cat "$T/rec.port")

# Upstream rec never pools (each request is one upstream connection, so
# that a case's bytes are its own); recka pools, for pipelined requests.
# No test origin: hg_config writes no upstream o.
# shellcheck disable=SC2034
ORIGIN_PORT=
HG_NO_ROOT_ROUTE=1 hg_up "$T/hg.ini" 'request = 5s' 'upstream_header = 3s' \
	'' '[upstream rec]' "server = 127.0.0.1:$REC_PORT" 'max_fails = 0' \
	'keepalive = 0' \
	'' '[upstream recka]' "server = 127.0.0.1:$REC_PORT" 'max_fails = 0' \
	'keepalive = 8' 'keepalive_idle = 300ms' \
	'' '[route /]' 'upstream = rec' '' '[route /ka/]' 'upstream = recka' || finish

# rec_count: how many connections the recording upstream has accepted.
rec_count() { find "$REC" -name '*.bytes' | wc -l; }

# rec_begin: note where the next case's connections start.
rec_begin() { REC0=$(rec_count); }

# rec_settle DESC: wait (up to 3 s) until every connection since rec_begin
# was closed by the proxy.  Sets REC_NEW to their files, in order.
rec_settle() {
	local d=$1 n=60 i open last
	while :; do
		REC_NEW=() open=0 last=$(rec_count)
		for ((i = REC0 + 1; i <= last; i++)); do
			REC_NEW+=("$REC/$i.bytes")
			[ -e "$REC/$i.eof" ] || open=$((open + 1))
		done
		[ $open -eq 0 ] && return 0
		n=$((n - 1))
		[ $n -le 0 ] && break
		sleep 0.05
	done
	fail "$d: $open upstream connection(s) still open after 3 s"
}

# rec_norm: what the connections since rec_begin received, through norm.
# Connections that carried no byte are left out (one the proxy opened and
# closed at once could be accepted late and counted in the next case).
rec_norm() {
	local f nonempty=()
	for f in "${REC_NEW[@]}"; do
		[ -s "$f" ] && nonempty+=("$f")
	done
	[ ${#nonempty[@]} -gt 0 ] && norm "${nonempty[@]}"
}

# rec_nothing DESC: nothing of the case reached the upstream: no
# connection, or connections that carried no byte.
rec_nothing() {
	local d=$1 f bytes=0
	rec_settle "$d"
	for f in "${REC_NEW[@]}"; do
		bytes=$((bytes + $(stat -c %s "$f")))
	done
	if [ "$bytes" -eq 0 ]; then
		ok "$d: nothing reached the upstream (${#REC_NEW[@]} connection(s), no byte)"
	else
		fail "$d: the upstream received $bytes byte(s): $(rec_norm)"
	fi
}

# refused DESC STATUS OUTCOME REQUEST: the client gets STATUS, the log
# says OUTCOME, and nothing of REQUEST reaches the upstream.
refused() {
	local d=$1
	rec_begin
	exchange "$T/resp" "$4" 3
	expect_match "$d: $2" "$RESP_LINE" "^HTTP/1\\.1 $2 "
	log_expect "$d" "$2" "$3"
	rec_nothing "$d"
}
bad() { refused "$1" 400 reject:bad_request "$2"; }
notimpl() { refused "$1" 501 reject:not_implemented "$2"; }

# forwarded DESC REQUEST WANT: REQUEST (ending with Connection: close) is
# answered 200 and logged ok, and the upstream received exactly WANT (a
# printf format), as norm sees it.
forwarded() {
	local d=$1
	rec_begin
	exchange "$T/resp" "$2" 3
	expect_match "$d: 200" "$RESP_LINE" '^HTTP/1\.1 200 '
	log_expect "$d" 200 ok
	rec_settle "$d"
	expect_eq "$d: the upstream received" "$(rec_norm)" "$(want "$3")"
}

H='Host: h\r\nConnection: close\r\n'
TE='Transfer-Encoding: chunked\r\n'
# What the upstream sees of a head: ours (the client's Connection is
# hop-by-hop; the fields hourglass adds are left out by norm).
UH='Host: h\r\n'

note "controls"
forwarded "plain chunked" "POST /r/plain HTTP/1.1\r\n$H$TE\r\n5\r\nhello\r\n0\r\n\r\n" \
	"POST /r/plain HTTP/1.1\r\n$UH$TE\r\n5\r\nhello\r\n0\r\n\r\n"
expect_eq "plain chunked: the client got the upstream's answer" \
	"$(norm "$T/resp")" "$(want 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 9\r\n\r\n/r/plain\n')"
# The fields hourglass adds, loosely: present, one of each.
f=${REC_NEW[0]:-/dev/null}
expect_eq "plain chunked: X-Forwarded-For" "$(grep -ac '^X-Forwarded-For: 127\.0\.0\.1' "$f")" 1
expect_eq "plain chunked: Via" "$(grep -ac '^Via: 1\.1 hourglass' "$f")" 1
expect_eq "plain chunked: X-Request-Id" "$(grep -acE $'^X-Request-Id: [0-9a-f]{16}\r$' "$f")" 1
forwarded "Content-Length" "POST /r/cl HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello" \
	"POST /r/cl HTTP/1.1\r\n${UH}Content-Length: 5\r\n\r\nhello"
forwarded "HTAB in a field value" "GET /r/htab HTTP/1.1\r\n${H}X-A: a\tb\r\n\r\n" \
	"GET /r/htab HTTP/1.1\r\n${UH}X-A: a\tb\r\n\r\n"

note "refused before any byte goes upstream: 400"
bad "bare CR in a chunk size line: 5 CR CR ;x" "POST /r/b1 HTTP/1.1\r\n$H$TE\r\n5\r\r;x\r\nhello\r\n0\r\n\r\n"
bad "bare CR ending a chunk size line" "POST /r/b2 HTTP/1.1\r\n$H$TE\r\n5\rhello\r\n0\r\n\r\n"
bad "bare CR in a chunk size line after a good chunk" "POST /r/b3 HTTP/1.1\r\n$H$TE\r\n5\r\nhello\r\n5\r\r;x\r\nworld\r\n0\r\n\r\n"
bad "bare LF ending a chunk size line" "POST /r/b4 HTTP/1.1\r\n$H$TE\r\n5\nhello\r\n0\r\n\r\n"
bad "bare LF in a chunk size line" "POST /r/b5 HTTP/1.1\r\n$H$TE\r\n5\n;x\r\nhello\r\n0\r\n\r\n"
bad "bare CR in a chunk extension" "POST /r/b6 HTTP/1.1\r\n$H$TE\r\n5;a\rb\r\nhello\r\n0\r\n\r\n"
bad "bare LF in a chunk extension" "POST /r/b7 HTTP/1.1\r\n$H$TE\r\n5;a\nb\r\nhello\r\n0\r\n\r\n"
bad "bare CR in a quoted chunk extension" "POST /r/b8 HTTP/1.1\r\n$H$TE\r\n5;a=\"b\rc\"\r\nhello\r\n0\r\n\r\n"
bad "bare CR in a trailer" "POST /r/b9 HTTP/1.1\r\n$H$TE\r\n5\r\nhello\r\n0\r\nX-T: a\rb\r\n\r\n"
bad "bare LF in a trailer" "POST /r/b10 HTTP/1.1\r\n$H$TE\r\n5\r\nhello\r\n0\r\nX-T: a\nb\r\n\r\n"
bad "trailer ended by a bare LF" "POST /r/b11 HTTP/1.1\r\n$H$TE\r\n5\r\nhello\r\n0\r\nX-T: a\n\r\n"
bad "NUL in a field value" "GET /r/b12 HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n"
bad "control byte in a field value" "GET /r/b13 HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n"
bad "ESC in a field value" "GET /r/b14 HTTP/1.1\r\n${H}X-A: a\x1bb\r\n\r\n"
bad "chunk size +5" "POST /r/b15 HTTP/1.1\r\n$H$TE\r\n+5\r\nhello\r\n0\r\n\r\n"
bad "chunk size -5" "POST /r/b16 HTTP/1.1\r\n$H$TE\r\n-5\r\nhello\r\n0\r\n\r\n"
bad "chunk size with a leading space" "POST /r/b17 HTTP/1.1\r\n$H$TE\r\n 5\r\nhello\r\n0\r\n\r\n"
bad "chunk size with a trailing space" "POST /r/b18 HTTP/1.1\r\n$H$TE\r\n5 \r\nhello\r\n0\r\n\r\n"
bad "chunk size, space before an extension" "POST /r/b19 HTTP/1.1\r\n$H$TE\r\n5 ;a\r\nhello\r\n0\r\n\r\n"
bad "chunk size with a tab" "POST /r/b20 HTTP/1.1\r\n$H$TE\r\n5\t\r\nhello\r\n0\r\n\r\n"
bad "chunk size of 17 hex digits (value 5)" "POST /r/b21 HTTP/1.1\r\n$H$TE\r\n00000000000000005\r\nhello\r\n0\r\n\r\n"
bad "last chunk of 17 zeros" "POST /r/b22 HTTP/1.1\r\n$H$TE\r\n5\r\nhello\r\n00000000000000000\r\n\r\n"
bad "duplicate Content-Length" "POST /r/b23 HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
bad "Content-Length list" "POST /r/b24 HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello"
bad "Content-Length with Transfer-Encoding" "POST /r/b25 HTTP/1.1\r\n${H}Content-Length: 5\r\n$TE\r\n5\r\nhello\r\n0\r\n\r\n"

note "refused before any byte goes upstream: 501"
notimpl "TE identity + TE chunked lines" "POST /r/n1 HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n$TE\r\n5\r\nhello\r\n0\r\n\r\n"
notimpl "TE gzip, chunked" "POST /r/n2 HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
notimpl "TE chunked, chunked" "POST /r/n3 HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"

# rec_wait_tail DESC TEXT: wait (up to 2 s) until the first connection
# since rec_begin has received bytes that end with TEXT (od -c's spelling:
# \r, \n), so that a case's next bytes come after those went upstream.
rec_wait_tail() {
	local d=$1 f="$REC/$((REC0 + 1)).bytes" n=40 len
	# shellcheck disable=SC2059
	len=$(printf "$2" | wc -c)
	while [ $n -gt 0 ]; do
		[ -s "$f" ] && [ "$(tail -c "$len" "$f" | od -An -c | tr -d ' \n')" = "$2" ] &&
		    return 0
		sleep 0.05
		n=$((n - 1))
	done
	fail "$d: what the upstream received did not end with $2 within 2 s"
}

# streamed DESC PATH PART...: send a chunked request's head with the first
# PART, then each next PART 200 ms after the one before, in its own
# write(); the PART marked with a leading "!" is the bad one, sent once
# the upstream has the first chunk.  llhttp 8.1
# judges the bytes it has, so a bare CR at the end of what came ("5\r") or
# before data that fits ("5\rworld\r\n") passes it and only our decoder
# can refuse it: those cases send the bad line alone.  The good PARTs
# re-encode to "5\r\nhello\r\n", and the upstream must have received the
# head and that, nothing more: no last chunk, not even when the
# client's own last chunk had come and only its trailers were bad.  Its
# connection must close within 200 ms of the bad bytes (the design: "closes
# the upstream connection at once"; a miss would wait for a deadline of
# seconds, or the client's 1 s linger).  The client gets 400 or a close;
# the log says reject:bad_request.
streamed() {
	local d=$1 path=$2 t_bad='' eof_at p first=1
	shift 2
	rec_begin
	raw_open
	for p in "$@"; do
		if [ $first = 1 ]; then
			p="POST $path HTTP/1.1\r\n$H$TE\r\n$p"
			first=0
		else
			sleep 0.2
			[ -z "$t_bad" ] && rec_wait_tail "$d" 'hello\r\n'
		fi
		if [ "${p:0:1}" = '!' ]; then
			p=${p:1}
			t_bad=$(now_ms)
		fi
		send1 "$p"
	done
	raw_wait_eof "$T/resp" 3
	raw_close
	RESP_LINE=$(status_line "$T/resp")
	if [ -z "$RESP_LINE" ] && [ "$EOF_RC" -eq 0 ]; then
		ok "$d: the connection was closed without an answer"
	else
		expect_match "$d: 400 or a close" "$RESP_LINE" '^HTTP/1\.1 400 '
	fi
	log_expect "$d" 400 reject:bad_request
	rec_settle "$d"
	expect_eq "$d: the upstream received" "$(rec_norm)" \
		"$(want "POST $path HTTP/1.1\r\n$UH$TE\r\n5\r\nhello\r\n")"
	expect_eq "$d: upstream connections" "${#REC_NEW[@]}" 1
	eof_at=$(cat "${REC_NEW[0]%.bytes}.eof" 2>/dev/null)
	expect_range "$d: the upstream connection closed (ms after the bad bytes)" \
		$(( ${eof_at:-999999999999999} - ${t_bad:-0} )) 0 200
}
note "a bad chunk after the head went upstream"
streamed "streamed: bare CR in a chunk size line (5 CR CR ;x)" /r/s1 '5;e=1\r\nhello\r\n' '!5\r\r;x\r\n' 'world\r\n0\r\n\r\n'
streamed "streamed: bare CR ending a chunk size line" /r/s2 '5\r\nhello\r\n' '!5\rworld\r\n' '0\r\n\r\n'
streamed "streamed: bare CR ending a chunk size line after an extension" /r/s3 '5\r\nhello\r\n' '!5;a=b\rworld\r\n' '0\r\n\r\n'
streamed "streamed: bare CR in a chunk extension" /r/s4 '5\r\nhello\r\n' '!5;a\rb\r\nworld\r\n0\r\n\r\n'
streamed "streamed: chunk size with a sign" /r/s5 '0005\r\nhello\r\n' '!+5\r\nworld\r\n0\r\n\r\n'
streamed "streamed: bare LF in a trailer after the last chunk" /r/s6 '5\r\nhello\r\n' '0\r\n' '!X-T: a\nb\r\n\r\n'
streamed "streamed: bare CR in the second trailer" /r/s7 '5\r\nhello\r\n' '0\r\nX-T: 1\r\n' '!X-U: a\rb\r\n\r\n'

note "accepted oddities, forwarded in canonical framing"
forwarded "TE CHUNKED" "POST /r/a1 HTTP/1.1\r\n${H}Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n" \
	"POST /r/a1 HTTP/1.1\r\n$UH$TE\r\n5\r\nhello\r\n0\r\n\r\n"
forwarded "TE after a tab" "POST /r/a2 HTTP/1.1\r\n${H}Transfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" \
	"POST /r/a2 HTTP/1.1\r\n$UH$TE\r\n5\r\nhello\r\n0\r\n\r\n"
forwarded "TE ,chunked" "POST /r/a3 HTTP/1.1\r\n${H}Transfer-Encoding: ,chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" \
	"POST /r/a3 HTTP/1.1\r\n$UH$TE\r\n5\r\nhello\r\n0\r\n\r\n"
forwarded "Content-Length 005" "POST /r/a4 HTTP/1.1\r\n${H}Content-Length: 005\r\n\r\nhello" \
	"POST /r/a4 HTTP/1.1\r\n${UH}Content-Length: 5\r\n\r\nhello"
forwarded "chunk sizes with leading zeros" "POST /r/a5 HTTP/1.1\r\n$H$TE\r\n0005\r\nhello\r\n0000000000000006\r\n world\r\n000\r\n\r\n" \
	"POST /r/a5 HTTP/1.1\r\n$UH$TE\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
forwarded "uppercase hex chunk sizes" "POST /r/a6 HTTP/1.1\r\n$H$TE\r\nA\r\n0123456789\r\n1B\r\nabcdefghijklmnopqrstuvwxyz!\r\n0\r\n\r\n" \
	"POST /r/a6 HTTP/1.1\r\n$UH$TE\r\na\r\n0123456789\r\n1b\r\nabcdefghijklmnopqrstuvwxyz!\r\n0\r\n\r\n"
forwarded "chunk extensions" "POST /r/a7 HTTP/1.1\r\n$H$TE\r\n5;c;a=b\r\nhello\r\n1;q=\"x y\"\r\n!\r\n0;z=1\r\n\r\n" \
	"POST /r/a7 HTTP/1.1\r\n$UH$TE\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n"
forwarded "trailers" "POST /r/a8 HTTP/1.1\r\n$H$TE\r\n5\r\nhello\r\n0\r\nX-T:  v \r\nContent-Length: 5\r\nHost: evil\r\nx-u:w\r\n\r\n" \
	"POST /r/a8 HTTP/1.1\r\n$UH$TE\r\n5\r\nhello\r\n0\r\nX-T: v\r\nx-u: w\r\n\r\n"

# A Transfer-Encoding trailer: llhttp 8.1 refuses it (400); were it
# accepted, it must be dropped.  Either way it never reaches the upstream.
d="Transfer-Encoding trailer"
rec_begin
exchange "$T/resp" "POST /r/a9 HTTP/1.1\r\n$H$TE\r\n5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\nX-T: v\r\n\r\n" 3
if [[ $RESP_LINE =~ ^HTTP/1\.1\ 200\  ]]; then
	log_expect "$d (accepted)" 200 ok
	rec_settle "$d"
	expect_eq "$d: the upstream received" "$(rec_norm)" \
		"$(want "POST /r/a9 HTTP/1.1\r\n$UH$TE\r\n5\r\nhello\r\n0\r\nX-T: v\r\n\r\n")"
else
	expect_match "$d: 200 or 400" "$RESP_LINE" '^HTTP/1\.1 400 '
	log_expect "$d (refused)" 400 reject:bad_request
	rec_nothing "$d"
fi

# Two requests in one packet on one client connection, through the
# pooling upstream: both reach it on one connection, each re-encoded, and
# the client gets both answers in order.
d="pipelined after a chunked body"
rec_begin
exchange "$T/resp" "POST /ka/p1 HTTP/1.1\r\nHost: h\r\n$TE\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\nPOST /ka/p2 HTTP/1.1\r\n$H$TE\r\nA\r\n0123456789\r\n0\r\n\r\n" 3
expect_eq "$d: the client got both answers, in order" "$(norm "$T/resp")" \
	"$(want 'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n/ka/p1\nHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 7\r\n\r\n/ka/p2\n')"
log_take "$d" 2
expect_eq "$d: logged outcomes" "$(printf '%s\n' "$LOG_NEW" | sed -n 's/.* outcome=\([^ ]*\).*/\1/p' | tr '\n' ' ')" "ok ok "
rec_settle "$d"
expect_eq "$d: the upstream received" "$(rec_norm)" \
	"$(want "POST /ka/p1 HTTP/1.1\r\n$UH$TE\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\nPOST /ka/p2 HTTP/1.1\r\n$UH$TE\r\na\r\n0123456789\r\n0\r\n\r\n")"

# A Content-Length body followed by a pipelined request: the first
# upstream connection gets exactly 5 body bytes, the second request its own.
d="Content-Length 005, then a pipelined request"
rec_begin
exchange "$T/resp" "POST /r/p3 HTTP/1.1\r\nHost: h\r\nContent-Length: 005\r\n\r\nhelloGET /r/p4 HTTP/1.1\r\n$H\r\n" 3
expect_eq "$d: the client got both answers, in order" "$(norm "$T/resp")" \
	"$(want 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n/r/p3\nHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 6\r\n\r\n/r/p4\n')"
log_take "$d" 2
rec_settle "$d"
expect_eq "$d: the upstream received" "$(rec_norm)" \
	"$(want "POST /r/p3 HTTP/1.1\r\n${UH}Content-Length: 5\r\n\r\nhello") [next connection] $(want "GET /r/p4 HTTP/1.1\r\n$UH\r\n")"

note "responses"
RQ='HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n'

d="response: uppercase hex, leading zeros, extensions, trailers"
exchange "$T/resp" "GET /resp/odd $RQ" 3
expect_eq "$d: the client got" "$(norm "$T/resp")" \
	"$(want 'HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\na\r\n0123456789\r\n1b\r\nabcdefghijklmnopqrstuvwxyz!\r\n0\r\nX-Trailer: v\r\nx-t2: b\r\n\r\n')"
expect_eq "$d: the daemon closed the connection" "$EOF_RC" 0
log_expect "$d" 200 ok

d="response: Content-Length 007"
exchange "$T/resp" "GET /resp/cl007 $RQ" 3
expect_eq "$d: the client got" "$(norm "$T/resp")" \
	"$(want 'HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nabcdefg')"
log_expect "$d" 200 ok

d="response to an HTTP/1.0 client: chunked decoded"
exchange "$T/resp" 'GET /resp/odd HTTP/1.0\r\n\r\n' 3
expect_eq "$d: the client got" "$(norm "$T/resp")" \
	"$(want 'HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: close\r\n\r\n0123456789abcdefghijklmnopqrstuvwxyz!')"
expect_eq "$d: the daemon closed the connection" "$EOF_RC" 0
log_expect "$d" 200 ok

# bad_head_response DESC KEY: 502 error:upstream_protocol, none of the
# upstream's body relayed.  crhead's "5\rhello\r\n" comes alone after the
# head, in one write: llhttp 8.1 lets it pass, our decoder must not.
bad_head_response() {
	local d=$1
	exchange "$T/resp" "GET /resp/$2 $RQ" 3
	expect_match "$d: 502" "$RESP_LINE" '^HTTP/1\.1 502 '
	if grep -aq hello "$T/resp"; then
		fail "$d: the upstream's body reached the client"
	else
		ok "$d: none of the upstream's body reached the client"
	fi
	log_expect "$d" 502 error:upstream_protocol
}
bad_head_response "response: bare CR ending the first chunk size line" crhead
bad_head_response "response: first chunk size with a sign" signhead
bad_head_response "response: TE gzip, chunked" tegzip

# cut_response DESC KEY: the head and the first chunk were relayed, then
# 300 ms later a bad chunk line or trailer, alone in its write() (so that
# our decoder, not llhttp, is the one to judge it): the client has the head
# and "5\r\nhello\r\n" re-encoded, no last chunk, and a close.
cut_response() {
	local d=$1
	exchange "$T/resp" "GET /resp/$2 $RQ" 3
	expect_eq "$d: the client got" "$(norm "$T/resp")" \
		"$(want 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n')"
	expect_eq "$d: the daemon closed the connection" "$EOF_RC" 0
	log_take "$d" 1
	expect_eq "$d: logged outcome" "$(lf outcome "$LOG1")" error:upstream_protocol
}
cut_response "response: bare CR ending a chunk size line after the head" crmid
cut_response "response: chunk size with a sign after the head" signmid
cut_response "response: bare CR ending a chunk size line after an extension" crext
cut_response "response: bare CR in a trailer after the last chunk" trmid

hg_alive "the end" && ok "hourglass survived every case"
fd_settle "the end"
hg_stop_ok "framing"
finish
