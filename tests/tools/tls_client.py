#!/usr/bin/env python3
"""tls_client.py: a scripted TLS client for the scenario tests (tests/scenario/tls_*.sh).

  tls_client.py --port P [--ca CA] [--sni NAME] [--tls12] [--raw]
                [--sni-len N] [--out FILE] STEP...

Connects to 127.0.0.1:P and runs the STEPs in order, printing one line per
event with the milliseconds since the connect began (a monotonic clock):

  handshake MS VERSION reused=0|1 alpn=NAME|- serial=HEX cn=CN
  sent MS N                    after a send
  response MS STATUS bytes=N   a whole response (Content-Length framing)
  eof MS KIND bytes=N first=HEX
                               the end of the stream, KIND being:
                               close_notify  a TLS close_notify, then EOF
                               unclean       EOF without a close_notify
                               fin           EOF (--raw)
                               reset         a connection reset
                               timeout       still open when time ran out
  closed MS after=K            (drip) the peer closed while K bytes had gone

Steps over TLS (the handshake runs first, verified against --ca):
  send:TEXT     send TEXT (backslash escapes: \\r \\n \\x00)
  sleep:MS      wait
  response      read one response; its body is appended to --out
  eof[:SECS]    read until the stream ends (default 5 s); bytes to --out

With --raw there is no TLS: the client sends bytes of a ClientHello made
by OpenSSL (through Python's ssl, for --sni NAME or none), or others:
  hello         the whole ClientHello
  hello:N       its first N bytes; hello_rest sends what is left
  drip:MS       what is left of it, one byte every MS ms, until the peer
                closes (a "closed" line) or it has all gone
  hex:HEX       these bytes
  shut          half-close (FIN)
  sleep:MS, eof[:SECS] as above
--sni-len N rewrites the hello's server name to one of N bytes (labels of
at most 63 letters), with every length field that holds it.

Exit status: 0 when every step ran, 1 when one failed (the reason on
stderr), 2 on bad usage.
"""
import argparse
import codecs
import re
import select
import socket
import ssl
import struct
import sys
import time

T0 = time.monotonic()


def ms():
    return int((time.monotonic() - T0) * 1000)


def say(text):
    print(text, flush=True)


def client_hello(sni, tls12):
    """The bytes of a ClientHello (one record) that OpenSSL would send."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def long_name(n):
    """A host name of n bytes, labels of at most 63 letters."""
    labels, left = [], n
    while left > 0:
        take = min(63, left)
        if left - take == 1:
            take -= 1           # never leave a lone dot at the end
        labels.append("a" * take)
        left -= take + 1
    name = ".".join(labels)
    return (name + "b" * n)[:n]


def set_sni(hello, name):
    """Rewrite the server_name extension of a one-record ClientHello."""
    rec, body = hello[:5], hello[5:]
    assert rec[0] == 0x16 and body[0] == 0x01, "not a ClientHello record"
    p = 4 + 2 + 32                      # handshake header, version, random
    p += 1 + body[p]                    # session id
    p += 2 + struct.unpack("!H", body[p:p + 2])[0]   # cipher suites
    p += 1 + body[p]                    # compression methods
    ext_len_at = p
    p += 2
    end = p + struct.unpack("!H", body[ext_len_at:ext_len_at + 2])[0]
    while p < end:
        etype, elen = struct.unpack("!HH", body[p:p + 4])
        if etype == 0:
            break
        p += 4 + elen
    else:
        raise ValueError("the hello has no server_name extension")
    name = name.encode()
    data = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    ext = struct.pack("!HH", 0, len(data)) + data
    body = body[:p] + ext + body[p + 4 + elen:]
    delta = len(ext) - (4 + elen)
    old = struct.unpack("!H", body[ext_len_at:ext_len_at + 2])[0]
    body = body[:ext_len_at] + struct.pack("!H", old + delta) + body[ext_len_at + 2:]
    hs_len = len(body) - 4
    body = body[:1] + struct.pack("!I", hs_len)[1:] + body[4:]
    return rec[:3] + struct.pack("!H", len(body)) + body


def read_eof(sock, out, secs, raw):
    """Read until the stream ends; print the eof line."""
    got = b""
    kind = "timeout"
    end = time.monotonic() + secs
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        if not raw and sock.pending() == 0:
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                break
        elif raw:
            r, _, _ = select.select([sock], [], [], left)
            if not r:
                break
        try:
            data = sock.recv(65536)
        except ssl.SSLWantReadError:
            continue
        except ssl.SSLZeroReturnError:
            kind = "close_notify"
            break
        except ssl.SSLEOFError:
            kind = "unclean"
            break
        except ConnectionResetError:
            kind = "reset"
            break
        except ssl.SSLError as e:
            kind = "ssl_error:%s" % (e.reason or "unknown")
            break
        if not data:
            kind = "fin" if raw else "close_notify"
            break
        got += data
    if out:
        out.write(got)
        out.flush()
    say("eof %d %s bytes=%d first=%s" % (ms(), kind, len(got), got[:16].hex() or "-"))


def read_response(sock, out, buf):
    """One response with a Content-Length body; returns what follows it."""
    sock.settimeout(10)
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise EOFError("closed before a whole response head")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = head.split(b" ", 2)[1].decode()
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    need = int(m.group(1)) if m else 0
    while len(rest) < need:
        data = sock.recv(65536)
        if not data:
            raise EOFError("closed within the response body")
        rest += data
    if out:
        out.write(rest[:need])
        out.flush()
    say("response %d %s bytes=%d" % (ms(), status, need))
    sock.settimeout(None)
    return rest[need:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca")
    ap.add_argument("--sni")
    ap.add_argument("--tls12", action="store_true")
    ap.add_argument("--raw", action="store_true")
    ap.add_argument("--sni-len", type=int)
    ap.add_argument("--out")
    ap.add_argument("steps", nargs="+")
    args = ap.parse_args()
    out = open(args.out, "ab") if args.out else None

    hello = b""
    if args.raw:
        hello = client_hello(args.sni or ("x.test" if args.sni_len else None),
                             args.tls12)
        if args.sni_len:
            hello = set_sni(hello, long_name(args.sni_len))
    global T0
    T0 = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(None)
    if not args.raw:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if args.ca:
            ctx.load_verify_locations(args.ca)
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if args.tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        sock = ctx.wrap_socket(sock, server_hostname=args.sni or "localhost",
                               suppress_ragged_eofs=False)
        cert = sock.getpeercert(binary_form=False) or {}
        cn = "-"
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    cn = value
        say("handshake %d %s reused=%d alpn=%s serial=%s cn=%s" % (
            ms(), sock.version(), 1 if sock.session_reused else 0,
            sock.selected_alpn_protocol() or "-",
            cert.get("serialNumber", "-"), cn))

    buf = b""
    sent = 0
    for step in args.steps:
        name, _, arg = step.partition(":")
        if name == "send":
            data = codecs.decode(arg, "unicode_escape").encode("latin-1")
            sock.sendall(data)
            say("sent %d %d" % (ms(), len(data)))
        elif name == "sleep":
            time.sleep(int(arg) / 1000.0)
        elif name == "response":
            buf = read_response(sock, out, buf)
        elif name == "eof":
            read_eof(sock, out, float(arg) if arg else 5.0, args.raw)
        elif name == "hello":
            n = int(arg) if arg else len(hello)
            sock.sendall(hello[sent:n])
            say("sent %d %d" % (ms(), n - sent))
            sent = n
        elif name == "hello_rest":
            sock.sendall(hello[sent:])
            say("sent %d %d" % (ms(), len(hello) - sent))
            sent = len(hello)
        elif name == "drip":
            pause = int(arg) / 1000.0
            while sent < len(hello):
                try:
                    sock.send(hello[sent:sent + 1])
                except OSError:
                    say("closed %d after=%d" % (ms(), sent))
                    break
                sent += 1
                r, _, _ = select.select([sock], [], [], pause)
                if r:
                    say("closed %d after=%d" % (ms(), sent))
                    break
        elif name == "hex":
            data = bytes.fromhex(arg)
            sock.sendall(data)
            say("sent %d %d" % (ms(), len(data)))
        elif name == "shut":
            sock.shutdown(socket.SHUT_WR)
            say("shut %d" % ms())
        else:
            print("tls_client.py: unknown step %s" % step, file=sys.stderr)
            return 2
    sock.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, EOFError, ValueError, AssertionError) as e:
        print("tls_client.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        say("error %d %s" % (ms(), type(e).__name__))
        sys.exit(1)
