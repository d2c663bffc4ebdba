#!/usr/bin/env python3
"""tests/tools/dns_stub.py: a DNS server for one test, on loopback UDP.

Answers every A query with the IPv4 address in ANSWER_FILE, read afresh
for each query (so a test moves a name by rewriting the file), with a TTL
of 0; AAAA and any other type get an empty NOERROR answer.  One line per
query goes to the log: "QNAME TYPE ANSWER".  Python 3 standard library only.

usage: dns_stub.py --port-file FILE --answer-file FILE [--log FILE]
"""
import argparse
import os
import socket
import struct
import sys

QTYPE_A = 1


def parse_question(msg):
    """Return (id, flags, question bytes, qname, qtype) or None."""
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd != 1 or flags & 0x8000:
        return None
    i, labels = 12, []
    while True:
        if i >= len(msg):
            return None
        n = msg[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0 or i + 1 + n > len(msg):
            return None
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    if i + 4 > len(msg):
        return None
    qtype = struct.unpack("!H", msg[i:i + 2])[0]
    return qid, flags, msg[12:i + 4], ".".join(labels), qtype


def answer(msg, answer_file):
    """The response to one query, and what the log says of it."""
    q = parse_question(msg)
    if q is None:
        return None, None
    qid, flags, question, qname, qtype = q
    rd = flags & 0x0100
    addr = None
    if qtype == QTYPE_A:
        try:
            with open(answer_file) as f:
                addr = socket.inet_aton(f.read().strip())
        except (OSError, ValueError):
            addr = None
    head = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080, 1,
                       1 if addr else 0, 0, 0)
    out = head + question
    if addr:
        # a pointer to the question's name, A, IN, TTL 0, 4 bytes
        out += struct.pack("!HHHIH", 0xC00C, QTYPE_A, 1, 0, 4) + addr
    return out, "%s %d %s" % (qname, qtype,
                              socket.inet_ntoa(addr) if addr else "-")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--answer-file", required=True)
    ap.add_argument("--log")
    args = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    os.rename(args.port_file + ".tmp", args.port_file)
    log = open(args.log, "a", buffering=1) if args.log else None
    while True:
        msg, peer = s.recvfrom(512)
        out, line = answer(msg, args.answer_file)
        if out is None:
            continue
        s.sendto(out, peer)
        if log:
            log.write(line + "\n")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
