# tests/wslib.py: a raw-socket WebSocket (RFC 6455) and Upgrade client for
# the scenario tests, standard library only.  A test runs its script with
# py_checks (tests/lib.sh), which puts tests/ on the path:
#
#     from wslib import *
#     s = connect(port)
#     st, hdrs, r = handshake(s, "/ws")           # r: a Reader on s
#     s.sendall(frame(BINARY, b"x" * 70000))
#     expect("echo", r.frame(), (True, BINARY, False, b"x" * 70000))
#
# Every read is bounded by the socket's timeout (connect's timeout, 5 s by
# default); a timeout raises socket.timeout, an early EOF raises EOFError.
import base64
import hashlib
import os
import socket
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def connect(port, host="127.0.0.1", timeout=5.0):
    """A TCP connection to host:port with a read timeout."""
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def accept_of(key):
    """The Sec-WebSocket-Accept a server must send for a key (bytes)."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def new_key():
    """A fresh Sec-WebSocket-Key."""
    return base64.b64encode(os.urandom(16))


def xor_mask(p, m, off=0):
    """p masked (or unmasked) with the 4-byte key m, from payload offset off."""
    n = len(p)
    if n == 0:
        return b""
    k = (m[off % 4:] + m[:off % 4]) * (n // 4 + 1)
    return (int.from_bytes(p, "big") ^ int.from_bytes(k[:n], "big")).to_bytes(n, "big")


class Reader:
    """Buffered reads on a socket: exact counts, a response head, frames."""

    def __init__(self, sock, data=b""):
        self.sock = sock
        self.buf = data

    def more(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("EOF after %d buffered bytes" % len(self.buf))
        self.buf += d

    def exact(self, n):
        while len(self.buf) < n:
            self.more()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def head(self):
        """A response head: (status, {lowercase name: value}, raw head)."""
        while b"\r\n\r\n" not in self.buf:
            self.more()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.split(b"\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            hdrs[k.strip().lower().decode()] = v.strip()
        return status, hdrs, raw + b"\r\n\r\n"

    def frame(self):
        """One frame: (fin, opcode, masked, payload), unmasked."""
        b0, b1 = self.exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.exact(8))[0]
        mask = self.exact(4) if b1 & 0x80 else None
        p = self.exact(n)
        if mask:
            p = xor_mask(p, mask)
        return bool(b0 & 0x80), b0 & 0x0F, mask is not None, p

    def until_eof(self):
        """Everything up to the peer's FIN; raises on a reset or timeout."""
        while True:
            d = self.sock.recv(65536)
            if not d:
                d, self.buf = self.buf, b""
                return d
            self.buf += d


def request(path="/ws", host="127.0.0.1", key=None, upgrade=b"websocket",
            connection=b"Upgrade", version=b"13", extra=b""):
    """The bytes of an upgrade request; a None field is left out."""
    h = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
    if upgrade is not None:
        h += b"Upgrade: " + upgrade + b"\r\n"
    if connection is not None:
        h += b"Connection: " + connection + b"\r\n"
    if key is not None:
        h += b"Sec-WebSocket-Key: " + key + b"\r\n"
    if version is not None:
        h += b"Sec-WebSocket-Version: " + version + b"\r\n"
    return h + extra + b"\r\n"


def handshake(sock, path="/ws", host="127.0.0.1", key=None, ws=True, **kw):
    """Send an upgrade request and read the response head.  Returns
    (status, headers, reader).  ws=True: a WebSocket handshake (a fresh key
    unless one is given), whose 101 must carry the right
    Sec-WebSocket-Accept (AssertionError if not); ws=False: a plain
    upgrade (Upgrade: websocket unless upgrade= says otherwise), without
    key and version."""
    if ws and key is None:
        key = new_key()
    if not ws:
        kw.setdefault("version", None)
    sock.sendall(request(path, host, key, **kw))
    r = Reader(sock)
    status, hdrs, _ = r.head()
    if status == 101 and ws:
        got = hdrs.get("sec-websocket-accept")
        assert got == accept_of(key), "Sec-WebSocket-Accept %r, want %r" % (
            got, accept_of(key))
    return status, hdrs, r


def frame(opcode, payload=b"", fin=True, mask=True, length=None, rsv=0):
    """A frame as a client sends it (masked unless mask is False).  length
    forces a length form: 7, 16 or 64 bits, for a payload that fits."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if length is None:
        length = 7 if n < 126 else 16 if n < 65536 else 64
    if length == 7:
        h = struct.pack("!BB", b0, n)
    elif length == 16:
        h = struct.pack("!BBH", b0, 126, n)
    else:
        h = struct.pack("!BBQ", b0, 127, n)
    if not mask:
        return h + payload
    m = os.urandom(4)
    h = h[:1] + bytes([h[1] | 0x80]) + h[2:] + m
    return h + xor_mask(payload, m)


def close_payload(code, reason=b""):
    """The payload of a close frame."""
    return struct.pack("!H", code) + reason


def check(desc, cond, detail=""):
    """Print one assertion for the shell's py_checks: "ok: ..." or "FAIL: ..."."""
    if cond:
        print("ok: " + desc, flush=True)
    else:
        print("FAIL: " + desc + (": " + detail if detail else ""), flush=True)
    return cond


def expect(desc, got, want):
    """An equality assertion; long values are shown by length only."""
    def short(v):
        if isinstance(v, (bytes, str)) and len(v) > 80:
            return "%d bytes" % len(v)
        return repr(v)
    if got == want:
        return check("%s (%s)" % (desc, short(got)), True)
    return check(desc, False, "got %s, want %s" % (short(got), short(want)))


def events(path, target):
    """The origin's --log events for a target: a list of (event, ms, conn)."""
    out = []
    with open(path) as f:
        for ln in f:
            w = ln.split()
            if len(w) == 4 and w[2] == target:
                out.append((w[0], int(w[1]), w[3]))
    return out
