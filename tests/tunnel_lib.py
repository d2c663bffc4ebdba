# tests/tunnel_lib.py: the python side of the tunnel scenarios
# (tests/scenario/tunnel_*.sh, run by tun_py in tests/tunnel_lib.sh).  A
# Tunnel is a client connection that counts every byte it sends and
# receives, so that the shell can compare them with the access log's
# bytes_in and bytes_out; put() hands a value to the shell; times are
# CLOCK_MONOTONIC milliseconds, the clock of the origin's --log.
import os
import select
import socket
import ssl
import struct
import subprocess
import time
import urllib.request

from wslib import (CLOSE, Reader, accept_of, check, close_payload, events, expect,
                   frame, new_key, request)


def mono_ms():
    """CLOCK_MONOTONIC in ms (the origin's event clock)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1000.0


def put(name, value):
    """Hand NAME=VALUE to the shell (tun_py sources the file)."""
    with open(os.environ["TUN_VALS"], "a") as f:
        f.write("%s=%s\n" % (name, value))


class Counted(Reader):
    """A Reader that counts what it received (rx) and notes when the
    stream ended (eof_at)."""

    def __init__(self, sock):
        super().__init__(sock)
        self.rx = 0
        self.eof_at = None

    def more(self):
        d = self.sock.recv(65536)
        if not d:
            self.eof_at = mono_ms()
            raise EOFError("EOF after %d buffered bytes" % len(self.buf))
        self.rx += len(d)
        self.buf += d

    def until_eof(self):
        while True:
            d = self.sock.recv(65536)
            if not d:
                self.eof_at = mono_ms()
                d, self.buf = self.buf, b""
                return d
            self.rx += len(d)
            self.buf += d


def tls_wrap(sock):
    """A TLS client on sock that takes any certificate (ours is made by
    the test)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(sock, server_hostname="localhost")


class Tunnel:
    """One client connection through hourglass that asks for an upgrade.
    ws=True: a WebSocket handshake (its 101 must carry the right accept);
    ws=False: a raw upgrade (Upgrade: websocket unless upgrade= says
    otherwise).  early: bytes sent in the same write as the head.  tx and
    r.rx count the bytes each way; t_req is when the request left, t_head
    when the response head was read."""

    def __init__(self, port, target, ws=True, tls=False, early=b"",
                 timeout=5.0, **kw):
        self.target = target
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            s = tls_wrap(s)
        self.s = s
        self.tx = 0
        key = None
        if ws:
            key = kw.pop("key", None) or new_key()
        else:
            kw.setdefault("version", None)
        self.r = Counted(s)
        self.t_req = mono_ms()
        self.send(request(target, key=key, **kw) + early)
        self.status, self.hdrs, self.head = self.r.head()
        self.t_head = mono_ms()
        if self.status == 101 and ws:
            got = self.hdrs.get("sec-websocket-accept")
            check(target + ": the 101 carries the origin's Sec-WebSocket-Accept",
                  got == accept_of(key), "%r" % got)

    def send(self, data):
        self.s.sendall(data)
        self.tx += len(data)

    def frame(self):
        return self.r.frame()

    def eof(self, secs=5.0):
        """Wait up to secs for the end of the stream: "eof", "reset" or
        "open"; the bytes that came before it stay in r.buf."""
        self.s.settimeout(secs)
        try:
            self.r.buf += self.r.until_eof()
            return "eof"
        except (ConnectionResetError, BrokenPipeError):
            self.r.eof_at = mono_ms()
            return "reset"
        except (socket.timeout, TimeoutError):
            return "open"
        finally:
            self.s.settimeout(5.0)

    def pause(self, secs):
        """Wait secs, or less if something arrives (or the end): True if
        nothing did."""
        if self.r.buf:
            return False
        return not select.select([self.s], [], [], secs)[0]

    def quiet(self, secs):
        """Nothing arrives, and the stream stays open, for secs."""
        self.s.settimeout(secs)
        try:
            return self.s.recv(1) is None
        except (socket.timeout, TimeoutError):
            return True
        finally:
            self.s.settimeout(5.0)

    def close_ws(self, code=1000):
        """The WebSocket close handshake: our close, its close back, its
        FIN; then our close.  True if it went so."""
        self.send(frame(CLOSE, close_payload(code)))
        got = self.r.frame()
        ok = got == (True, CLOSE, False, close_payload(code))
        ok = self.eof() == "eof" and ok
        self.s.close()
        self.t_closed = mono_ms()
        return ok

    def reset(self):
        """Close with SO_LINGER 0: a reset."""
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        self.s.close()
        self.t_closed = mono_ms()

    def close(self):
        self.s.close()
        self.t_closed = mono_ms()


def wait_event(log, target, what, secs=3.0):
    """The origin's WHAT event for target (the last such), in ms, waiting
    up to secs; None if it never came."""
    end = time.monotonic() + secs
    while True:
        ts = [e[1] for e in events(log, target) if e[0] == what]
        if ts:
            return ts[-1]
        if time.monotonic() > end:
            return None
        time.sleep(0.02)


def origin_rx(oport, *states):
    """bytes_received of each connection of the origin's listening port in
    one of these TCP states (ss's names: established, fin-wait-1, ...;
    established by default), from the kernel (ss -ti)."""
    sel = []
    for st in states or ("established",):
        sel += ["state", st]
    out = subprocess.run(["ss", "-Htin"] + sel + ["( sport = :%d )" % oport],
                         capture_output=True, text=True, check=True).stdout
    got = []
    for w in out.split():
        if w.startswith("bytes_received:"):
            got.append(int(w.split(":")[1]))
    # ss prints no bytes_received for a connection that received nothing.
    return got


def near(desc, got, want, early=10, late=120):
    """A deadline of want ms seen to fire after got ms: never early (10 ms
    for the clock reads) and at most 120 ms late, as expect_near."""
    return check("%s (%d ms, want %d)" % (desc, got, want),
                 want - early <= got <= want + late)


def same(desc, got, want):
    """An equality assertion that shows at most 100 characters of each
    value, and none when they agree (frames carry long payloads)."""
    def short(v):
        r = repr(v)
        return r if len(r) <= 100 else r[:100] + "... (%d characters)" % len(r)
    if got == want:
        return check(desc, True)
    return check(desc, False, "got %s, want %s" % (short(got), short(want)))


def conn_of(log, target):
    """The origin's conn= id of the request for target; None if none."""
    c = [e[2] for e in events(log, target) if e[0] == "request"]
    return c[-1] if c else None


def wait_conn_event(log, conn, what, secs=3.0):
    """The origin's WHAT event for connection conn (any path: a connection
    back to reading logs "-"), in ms, waiting up to secs; None if none."""
    end = time.monotonic() + secs
    while True:
        with open(log) as f:
            ts = [int(w[1]) for w in (ln.split() for ln in f)
                  if len(w) == 4 and w[0] == what and w[3] == conn]
        if ts:
            return ts[-1]
        if time.monotonic() > end:
            return None
        time.sleep(0.02)


def metric(mport, series):
    """The value of one /metrics series, e.g.
    'hourglass_tunnels_total{outcome="ok"}' (a float); None if absent."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport,
                                timeout=5) as f:
        for ln in f.read().decode().splitlines():
            if ln.startswith(series + " "):
                return float(ln.rsplit(" ", 1)[1])
    return None


def metric_is(desc, mport, series, want, secs=2.0):
    """The series reaches want within secs (the counters are gathered
    from the workers now and then)."""
    end = time.monotonic() + secs
    while True:
        got = metric(mport, series)
        if got == want or time.monotonic() > end:
            return expect("%s: %s" % (desc, series), got, want)
        time.sleep(0.05)
