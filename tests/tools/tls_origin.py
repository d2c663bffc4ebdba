#!/usr/bin/env python3
"""tls_origin.py: a TLS upstream for the scenario tests (tests/scenario/tls_*.sh).

An HTTP/1.1 keep-alive server over TLS on a loopback port, one thread per
connection, Python's standard library only.

  tls_origin.py --cert CERT --key KEY --port-file FILE --log FILE
                [--listen HOST:PORT] [--client-ca CA] [--max-tls 1.2]
                [--blackhole-port-file FILE]

Paths (a query string is ignored; each is recognised at the end of the
path, so that a route prefix in front of it does not matter):
  .../whoami      200, the subject CN of the client's certificate, or "none"
  .../hang        never answered; the connection ends when the peer closes
  .../drip/N/MS   the head at once (Content-Length: N), then one body byte
                  of the pattern every MS ms
  .../echo        200, the request head as received
  anything else   200, "hello from the tls origin\\n"

--client-ca requires a client certificate that CA signed.  --max-tls 1.2
stops at TLS 1.2.  --blackhole-port-file opens a second listener that never
accepts: a TCP connect to it succeeds and its ClientHello is never answered.

--log gets one line per event, in the order they happen:
  handshake session_reused=0|1 version=TLSv1.3 sni=NAME|- cn=CN|none
  handshake_failed REASON
  request PATH
  close
"""
import argparse
import os
import re
import socket
import ssl
import sys
import threading
import time

PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-\n"
HELLO = b"hello from the tls origin\n"

SNI = {}  # thread id -> the server name its handshake asked for


def on_sni(sslobj, name, ctx):
    """Note the name the client asked for; one certificate serves all."""
    SNI[threading.get_ident()] = name if name else "-"


class EventLog:
    """One line per event, written whole and flushed at once."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1) if path else None

    def line(self, text):
        if self.f is None:
            return
        with self.lock:
            self.f.write(text + "\n")
            self.f.flush()


def write_port(path, port):
    """Write the port to path atomically (a reader never sees half)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def client_cn(tls):
    """The subject CN of the peer's verified certificate, or "none"."""
    cert = tls.getpeercert()
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return "none"


def respond(tls, status, body, length=None):
    head = "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % (
        status, len(body) if length is None else length)
    tls.sendall(head.encode() + body)


def read_request(tls, buf):
    """One request head (and its Content-Length body, dropped): (head, rest),
    or (None, b"") when the peer closed."""
    while b"\r\n\r\n" not in buf:
        data = tls.recv(65536)
        if not data:
            return None, b""
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    need = int(m.group(1)) if m else 0
    while len(rest) < need:
        data = tls.recv(65536)
        if not data:
            return None, b""
        rest += data
    return head + b"\r\n\r\n", rest[need:]


def serve(tls, log):
    """Answer requests on one connection until it ends."""
    buf = b""
    while True:
        head, buf = read_request(tls, buf)
        if head is None:
            return
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        path = parts[1] if len(parts) > 1 else "/"
        log.line("request %s" % path)
        path = path.split("?", 1)[0]
        drip = re.search(r"/drip/(\d+)/(\d+)$", path)
        if path.endswith("/whoami"):
            respond(tls, "200 OK", client_cn(tls).encode())
        elif path.endswith("/hang"):
            while tls.recv(65536):
                pass
            return
        elif drip:
            n, ms = int(drip.group(1)), int(drip.group(2))
            respond(tls, "200 OK", b"", length=n)
            for i in range(n):
                time.sleep(ms / 1000.0)
                tls.sendall(PATTERN[i % len(PATTERN):i % len(PATTERN) + 1])
        elif path.endswith("/echo"):
            respond(tls, "200 OK", head)
        else:
            respond(tls, "200 OK", HELLO)


def connection(sock, ctx, log):
    """Handshake, log it, serve, log the close."""
    tls = None
    try:
        tls = ctx.wrap_socket(sock, server_side=True,
                              do_handshake_on_connect=False)
        tls.settimeout(30)
        try:
            tls.do_handshake()
        except (ssl.SSLError, OSError) as e:
            reason = getattr(e, "reason", None) or type(e).__name__
            log.line("handshake_failed %s" % reason)
            return
        tls.settimeout(None)
        log.line("handshake session_reused=%d version=%s sni=%s cn=%s" % (
            1 if tls.session_reused else 0, tls.version(),
            SNI.get(threading.get_ident(), "-"), client_cn(tls)))
        try:
            serve(tls, log)
        except (ssl.SSLError, OSError):
            pass
        log.line("close")
    finally:
        SNI.pop(threading.get_ident(), None)
        try:
            (tls or sock).close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--client-ca")
    ap.add_argument("--max-tls", choices=["1.2", "1.3"], default="1.3")
    ap.add_argument("--log")
    ap.add_argument("--blackhole-port-file")
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if args.max_tls == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.client_ca)
    ctx.sni_callback = on_sni
    log = EventLog(args.log)

    host, port = args.listen.rsplit(":", 1)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(128)
    if args.blackhole_port_file:
        # Never accepted: the kernel completes TCP handshakes into its
        # queue, and nobody ever reads a ClientHello.
        bh = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        bh.bind((host, 0))
        bh.listen(64)
        write_port(args.blackhole_port_file, bh.getsockname()[1])
    write_port(args.port_file, ls.getsockname()[1])

    while True:
        sock, _ = ls.accept()
        # Small writes go at once: a head behind the session tickets
        # must not wait for their ACK (Nagle and delayed ACKs: 40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=connection, args=(sock, ctx, log),
                         daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
