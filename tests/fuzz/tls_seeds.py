#!/usr/bin/env python3
"""Make the seed corpus of fuzz_tls (tests/fuzz/corpus/fuzz_tls/).

Real ClientHellos are captured from `openssl s_client` connecting to a
listener of this script's own on 127.0.0.1 (it keeps the first records and
closes); the other raw seeds are derived from them or written here.  The
seeds of TLS client mode (client-*) are HTTP requests, sent through the
rig's own TLS client.  Each seed
starts with fuzz_tls's two control bytes (flags, piece size; see
fuzz_tls.c).  The seeds hold no secret: a ClientHello carries the client's
random and its ephemeral public key only.

    tests/fuzz/tls_seeds.py [DIR]      (default: tests/fuzz/corpus/fuzz_tls)
"""
import os
import random
import socket
import struct
import subprocess
import sys
import threading

FAST, HALF_CLOSE, TIGHT, V6 = 0x01, 0x02, 0x04, 0x08
CLIENT, TLS12, WILD = 0x10, 0x20, 0x40


def capture(args):
    """The first TLS records s_client sends with these arguments."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    got = []

    def serve():
        conn, _ = lsock.accept()
        conn.settimeout(5)
        buf = b""
        while True:
            # Whole records only: stop once the first one is complete.
            if len(buf) >= 5:
                n = struct.unpack(">H", buf[3:5])[0]
                if len(buf) >= 5 + n:
                    break
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
        got.append(buf)
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port]
                   + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=10, check=False)
    t.join(10)
    lsock.close()
    if not got or len(got[0]) < 5 or got[0][0] != 0x16:
        sys.exit("tls_seeds: no ClientHello captured for %s" % args)
    return got[0]


def with_sni(record, name):
    """The ClientHello in record with its server name replaced by name
    (every length around it fixed)."""
    hs = bytearray(record[5:])
    # Handshake header (4), version (2), random (32), session id.
    at = 4 + 2 + 32
    at += 1 + hs[at]
    at += 2 + struct.unpack(">H", hs[at:at + 2])[0]    # cipher suites
    at += 1 + hs[at]                                    # compression
    ext_len_at = at
    at += 2
    end = at + struct.unpack(">H", hs[ext_len_at:ext_len_at + 2])[0]
    while at < end:
        typ, n = struct.unpack(">HH", hs[at:at + 4])
        if typ == 0:
            sni = struct.pack(">H", 3 + len(name)) + b"\x00" + \
                struct.pack(">H", len(name)) + name
            new = struct.pack(">HH", 0, len(sni)) + sni
            hs[at:at + 4 + n] = new
            delta = len(new) - (4 + n)
            ext_len = struct.unpack(">H", hs[ext_len_at:ext_len_at + 2])[0]
            hs[ext_len_at:ext_len_at + 2] = struct.pack(">H", ext_len + delta)
            body = len(hs) - 4
            hs[1:4] = struct.pack(">I", body)[1:]
            return record[:3] + struct.pack(">H", len(hs)) + bytes(hs)
        at += 4 + n
    sys.exit("tls_seeds: no server_name extension to replace")


def sslv2_hello():
    """A ClientHello in the SSLv2 record format, version TLS 1.2."""
    ciphers = b"\x00\xc0\x2b" + b"\x00\xc0\x2f" + b"\x00\x00\xff"
    challenge = bytes(range(16))
    body = b"\x01\x03\x03" + struct.pack(">HHH", len(ciphers), 0,
                                         len(challenge)) + ciphers + challenge
    return struct.pack(">H", 0x8000 | len(body)) + body


def get(path):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: a\r\n\r\n"


def post(path, n):
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: a\r\n"
            b"Content-Length: %d\r\n\r\n" % n) + b"x" * n


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/fuzz_tls"
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(21)
    h13 = capture(["-tls1_3", "-servername", "fuzz.test", "-alpn",
                   "http/1.1"])
    h12 = capture(["-tls1_2", "-servername", "a.wild.test", "-alpn",
                   "http/1.1"])
    h12_rsa = capture(["-tls1_2", "-servername", "a.wild.test", "-cipher",
                       "ECDHE-RSA-AES128-GCM-SHA256", "-sigalgs",
                       "RSA-PSS+SHA256:RSA+SHA256"])
    nosni = capture(["-tls1_3", "-noservername"])
    ccs = b"\x14\x03\x03\x00\x01\x01"
    fake_finished = b"\x17\x03\x03\x00\x35" + bytes(
        rnd.randrange(256) for _ in range(0x35))
    seeds = {
        "hello-tls13": (0, 0, h13),
        "hello-tls12": (0, 0, h12),
        "hello-tls12-rsa": (0, 0, h12_rsa),
        "hello-no-sni": (0, 0, nosni),
        "hello-tls13-pieces-7": (0, 7, h13),
        "hello-tls12-1-byte": (0, 1, h12[:80]),
        "hello-tls13-fast": (FAST, 0, h13),
        "hello-tls13-tight": (TIGHT | V6, 0, h13),
        "hello-tls13-then-close": (HALF_CLOSE, 0, h13),
        "hello-tls13-truncated": (HALF_CLOSE, 0, h13[:len(h13) // 2]),
        "hello-tls12-truncated-fast": (FAST, 0, h12[:40]),
        "hello-sni-300": (0, 0, with_sni(h12, b"a" * 290 + b".wild.test")),
        "hello-sni-unknown": (0, 0, with_sni(h13, b"unknown.example")),
        "hello-tls13-ccs-finished": (0, 0, h13 + ccs + fake_finished),
        "hello-twice": (0, 0, h12 + h12),
        "hello-sslv2": (0, 0, sslv2_hello()),
        "plain-http": (0, 0, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        "garbage": (0, 0, bytes(rnd.randrange(256) for _ in range(64))),
        "alert": (0, 0, b"\x15\x03\x01\x00\x02\x02\x28"),
        "client-get": (CLIENT, 0, get("/")),
        "client-get-tls12-wild": (CLIENT | TLS12 | WILD, 0, get("/")),
        "client-pipelined": (CLIENT, 0, get("/a") + get("/chunked") +
                             get("/304")),
        "client-post-pieces": (CLIENT, 9, post("/", 100)),
        "client-big-tight": (CLIENT | TIGHT, 0, get("/big")),
        "client-big-tight-tls12": (CLIENT | TIGHT | TLS12, 0, get("/big")),
        "client-stall-post": (CLIENT, 0, post("/stall", 20000)),
        "client-eof-half-close": (CLIENT | HALF_CLOSE, 0, get("/eof")),
        "client-hang-fast": (CLIENT | FAST, 0, get("/hang")),
        "client-slow-body-fast": (CLIENT | FAST, 0,
                                  post("/", 10)[:-5]),
        "client-xfp-spoof": (CLIENT, 0, b"GET / HTTP/1.1\r\nHost: a\r\n"
                             b"X-Forwarded-Proto: http\r\n\r\n"),
    }
    for name, (flags, piece, data) in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([flags, piece]) + data)


if __name__ == "__main__":
    main()
