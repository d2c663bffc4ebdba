#!/usr/bin/env bash
# Backpressure through a tunnel.  hourglass stops reading the side whose
# bytes the other side does not take, so its memory stays flat while a
# tunnel is stalled, and nothing is lost when the reader resumes:
# - a client writes 64 MiB to an echo (raw /upgrade, plain and over TLS,
#   and one 64 MiB WebSocket frame to /ws) without reading;
# - a client writes 64 MiB to an upstream that reads nothing (sink), plain
#   and over TLS;
# - an upstream writes 64 MiB to a client that reads nothing (source),
#   plain and over TLS.
# The writer stalls well short of the total; hourglass's resident memory
# (VmRSS of the daemon, whose workers are threads) grows by at most 8 MB
# while stalled, and its peak (VmHWM) by at most 8 MB over the transfer (a
# proxy that buffered would hold tens of MB); once the reader reads, every
# byte arrives, counted and hashed; the tunnel ends ok with bytes_in and
# bytes_out as the client counted.  The sink and the source are a python
# upstream of this script's own.  About 10 s.
source "$(dirname "$0")/../tunnel_lib.sh"

origin_up || finish
tun_cert || finish

# The upstream for /sink and /source: 101, then per target
#   /sink?NAME          read nothing until the file NAME.go exists, then
#                       everything up to the peer's FIN, written to
#                       NAME.got as "COUNT SHA256"; then our FIN
#   /source?NAME&BYTES  send BYTES of the stream as fast as the peer takes
#                       them; when 0.5 s passes without progress, write how
#                       much went to NAME.stalled; then the rest, our FIN,
#                       and read up to the peer's FIN
# Its sockets have small kernel buffers (64 KiB), so that the writer stalls
# soon and the kernel does not hide the proxy's share.  It exits after 90 s.
cat > "$T/up.py" <<'EOF'
import hashlib, os, random, signal, socket, sys, threading, time
port_file, d = sys.argv[1], sys.argv[2]
signal.alarm(90)
STREAM = random.Random(22).randbytes((1 << 20) + 12)

def note(name, text):
    with open(os.path.join(d, name + ".tmp"), "w") as f:
        f.write(text)
    os.rename(os.path.join(d, name + ".tmp"), os.path.join(d, name))

def answer(c):
    """Read the request head and send a 101; (target, bytes after the head)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        x = c.recv(4096)
        if not x:
            raise EOFError("no request head")
        buf += x
    raw, rest = buf.split(b"\r\n\r\n", 1)
    lines = raw.split(b"\r\n")
    up = b"websocket"
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        if k.strip().lower() == b"upgrade":
            up = v.strip()
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
              b"Upgrade: " + up + b"\r\n\r\n")
    return lines[0].split()[1].decode(), rest

def sink(c, name, rest):
    end = time.monotonic() + 30
    while not os.path.exists(os.path.join(d, name + ".go")) and time.monotonic() < end:
        time.sleep(0.02)
    h, n = hashlib.sha256(rest), len(rest)
    while True:
        x = c.recv(1 << 20)
        if not x:
            break
        h.update(x)
        n += len(x)
    note(name + ".got", "%d %s" % (n, h.hexdigest()))
    c.shutdown(socket.SHUT_WR)

def source(c, name, total):
    mv = memoryview(STREAM)
    c.setblocking(False)
    sent, last = 0, time.monotonic()
    while sent < total and time.monotonic() - last < 0.5:
        off = sent % len(STREAM)
        try:
            sent += c.send(mv[off:off + min(len(STREAM) - off, total - sent)])
            last = time.monotonic()
        except BlockingIOError:
            time.sleep(0.01)
    note(name + ".stalled", "%d" % sent)
    c.settimeout(30)
    while sent < total:
        off = sent % len(STREAM)
        n = min(len(STREAM) - off, total - sent)
        c.sendall(mv[off:off + n])
        sent += n
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass

def serve(c):
    with c:
        c.settimeout(30)
        target, rest = answer(c)
        path, _, query = target.partition("?")
        if path == "/sink":
            sink(c, query, rest)
        elif path == "/source":
            name, _, n = query.partition("&")
            source(c, name, int(n))

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
ls.bind(("127.0.0.1", 0))
ls.listen(16)
note("up.port", "%d" % ls.getsockname()[1])
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
/usr/bin/python3 "$T/up.py" "$T/up.port" "$T" > "$T/up.log" 2>&1 &
_pids+=($!)
wait_file "$T/up.port" || { fail "the python upstream did not start"; cat "$T/up.log"; finish; }

# 8 MB.  An ASan build keeps freed memory in a quarantine (256 MiB by
# default), and OpenSSL frees and allocates as it goes: the daemon gets a
# quarantine of 1 MiB (it then grows by 1.5 MB at most over TLS).
limit=8192
grep -q __asan_init "$HOURGLASS" &&
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1
TUN_TLS=1 tun_up "$T/hg.ini" \
	'' '[upstream p]' "server = 127.0.0.1:$(cat "$T/up.port")" 'max_fails = 0' \
	'' '[route /sink]' 'upstream = p' '' '[route /source]' 'upstream = p' || finish

cat > "$T/bp.py" <<'EOF'
import hashlib, os, random, select, socket, ssl, sys, time
from wslib import *
from tunnel_lib import *
port, tls_port, pid, limit = (int(a) for a in sys.argv[1:5])
d = sys.argv[5]
TOTAL = 64 << 20
STREAM = random.Random(22).randbytes((1 << 20) + 12)	# as up.py's

def status(field):
    """A field of the daemon's /proc status, in kB."""
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith(field + ":"):
                return int(ln.split()[1])

def stream_sha(block, total, head=b""):
    """The SHA-256 of head and total bytes of block repeated."""
    h = hashlib.sha256(head)
    mv = memoryview(block)
    for off in range(0, total - total % len(block), len(block)):
        h.update(mv)
    h.update(mv[:total % len(block)])
    return h.hexdigest()

def chunk(block, sent, total):
    """The next bytes of block repeated, from offset sent, up to total."""
    off = sent % len(block)
    return memoryview(block)[off:off + min(len(block) - off, total - sent)]

def flood(t, block, total):
    """Send block repeatedly, not reading, until total or 0.5 s without
    progress; returns how much went (counted in t.tx)."""
    s = t.s
    s.setblocking(False)
    sent, last = 0, time.monotonic()
    while sent < total and time.monotonic() - last < 0.5:
        try:
            sent += s.send(chunk(block, sent, total))
            last = time.monotonic()
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            time.sleep(0.01)
    s.settimeout(20)
    t.tx += sent
    return sent

def pump(t, block, sent, total, n):
    """Send the rest of block repeated, from sent up to total, while
    reading n bytes, in one thread (an SSL socket takes no reads and writes
    from two threads at once); the sends count in t.tx.  Returns (bytes
    read, their sha256), the buffered ones first."""
    s = t.s
    s.setblocking(False)
    h, got = hashlib.sha256(t.r.buf), len(t.r.buf)
    t.r.buf = b""
    sent0, last = sent, time.monotonic()
    while (got < n or sent < total) and time.monotonic() - last < 20:
        pending = s.pending() if isinstance(s, ssl.SSLSocket) else 0
        r, w, _ = select.select([s], [s] if sent < total else [], [], 0 if pending else 1)
        if r or pending:
            try:
                d = s.recv(1 << 20)
                if not d:
                    break
                t.r.rx += len(d)
                h.update(d)
                got += len(d)
                last = time.monotonic()
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
        if w:
            try:
                sent += s.send(chunk(block, sent, total))
                last = time.monotonic()
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
    t.tx += sent - sent0
    s.settimeout(20)
    return got, h.hexdigest()

def read_all(t, n):
    """Read up to n bytes (fewer at EOF), hashing them, the buffered ones
    first; returns (count, sha256)."""
    return pump(t, b"", 0, 0, n)

def send_all(t, block, sent, total):
    """Send the rest of block repeated, from sent up to total, blocking."""
    t.tx += total - sent
    while sent < total:
        c = chunk(block, sent, total)
        t.s.sendall(c)
        sent += len(c)

def wait_file(name, secs=20):
    """The text of d/name once it exists, waiting up to secs; None if not."""
    end = time.monotonic() + secs
    while not os.path.exists(os.path.join(d, name)):
        if time.monotonic() > end:
            return None
        time.sleep(0.02)
    with open(os.path.join(d, name)) as f:
        return f.read()

def stalled(name, what, sent, rss0):
    check("%s: %s stall (%.1f MiB of %d)" % (name, what, sent / 2**20, TOTAL >> 20),
          sent < TOTAL)
    grow = status("VmRSS") - rss0
    check("%s: hourglass's memory grew by %d kB (<= %d) while stalled" % (name, grow, limit),
          grow <= limit)

def peak(name, hwm0):
    grow = status("VmHWM") - hwm0
    check("%s: hourglass's peak memory grew by %d kB (<= %d) over the transfer"
          % (name, grow, limit), grow <= limit)

def done(name, t):
    put(name + "_tx", t.tx)
    put(name + "_rx", t.r.rx)

def echo(name, p, target, ws, tls=False):
    """A client writes TOTAL to the origin's echo, reading nothing, then
    reads it all while writing the rest."""
    t = Tunnel(p, target, ws=ws, tls=tls)
    t.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    expect(name + ": 101", t.status, 101)
    block = STREAM
    if ws:
        m = os.urandom(4)
        block = xor_mask(STREAM, m)
        t.send(b"\x82\xff" + TOTAL.to_bytes(8, "big") + m)
    rss0, hwm0 = status("VmRSS"), status("VmHWM")
    sent = flood(t, block, TOTAL)
    stalled(name, "the client's writes", sent, rss0)
    head = b"\x82\x7f" + TOTAL.to_bytes(8, "big") if ws else b""
    expect(name + ": once the client reads, all of it comes back",
           pump(t, block, sent, TOTAL, len(head) + TOTAL),
           (len(head) + TOTAL, stream_sha(STREAM, TOTAL, head)))
    peak(name, hwm0)
    if ws:
        check(name + ": the close handshake", t.close_ws())
    elif tls:
        t.close()	# (python's shutdown() on a TLS socket drops the TLS)
    else:
        t.s.shutdown(socket.SHUT_WR)
        expect(name + ": our FIN, then its FIN", t.eof(), "eof")
        t.close()
    done(name, t)

def sink(name, p, tls=False):
    """A client writes TOTAL to an upstream that reads nothing until told
    to, then reads it all."""
    t = Tunnel(p, "/sink?" + name, ws=False, tls=tls)
    t.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    expect(name + ": 101", t.status, 101)
    rss0, hwm0 = status("VmRSS"), status("VmHWM")
    sent = flood(t, STREAM, TOTAL)
    stalled(name, "the client's writes", sent, rss0)
    open(os.path.join(d, name + ".go"), "w").close()
    send_all(t, STREAM, sent, TOTAL)
    if tls:
        # Our close_notify, a half-close; unwrap() returns at hourglass's,
        # which is the upstream's FIN once it has read everything.
        try:
            t.s.unwrap().close()
            check(name + ": our close_notify, then hourglass's", True)
        except (OSError, ValueError) as e:
            check(name + ": our close_notify, then hourglass's", False, repr(e))
            t.close()
    else:
        t.s.shutdown(socket.SHUT_WR)
    got = wait_file(name + ".got")
    expect(name + ": once the upstream reads, all of it arrives",
           got and tuple(got.split()), ("%d" % TOTAL, stream_sha(STREAM, TOTAL)))
    peak(name, hwm0)
    if not tls:
        expect(name + ": the upstream's FIN", t.eof(), "eof")
        t.close()
    done(name, t)

def source(name, p, tls=False):
    """An upstream writes TOTAL to a client that reads nothing, then reads
    it all."""
    rss0, hwm0 = status("VmRSS"), status("VmHWM")
    t = Tunnel(p, "/source?%s&%d" % (name, TOTAL), ws=False, tls=tls)
    t.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    expect(name + ": 101", t.status, 101)
    sent = wait_file(name + ".stalled")
    stalled(name, "the upstream's writes", int(sent or TOTAL), rss0)
    t.s.settimeout(20)
    expect(name + ": once the client reads, all of it arrives", read_all(t, TOTAL + 1),
           (TOTAL, stream_sha(STREAM, TOTAL)))
    peak(name, hwm0)
    t.close()
    done(name, t)

echo("raw", port, "/upgrade?bp-raw", False)
echo("ws", port, "/ws?bp-ws", True)
echo("tls", tls_port, "/upgrade?bp-tls", False, tls=True)
sink("sink", port)
sink("sink_tls", tls_port, tls=True)
source("source", port)
source("source_tls", tls_port, tls=True)
EOF
tun_py "backpressure" "$T/bp.py" "$HG_PORT" "$TLS_PORT" "$HG_PID" "$limit" "$T"
for nt in "raw /upgrade?bp-raw" "ws /ws?bp-ws" "tls /upgrade?bp-tls" \
    "sink /sink?sink" "sink_tls /sink?sink_tls" \
    "source /source?source&$((64 << 20))" "source_tls /source?source_tls&$((64 << 20))"; do
	n=${nt% *} tx=${nt% *}_tx rx=${nt% *}_rx
	tun_log "$n" "${nt#* }" 101 ok
	tun_bytes "$n" "${!tx:-?}" "${!rx:-?}"
done
fd_settle "after the tunnels"
finish
