#!/usr/bin/env bash
# WebSocket through hourglass, over a plain and a TLS listener: text,
# binary (up to 100 KB), fragments, ping and a frame sent with the head
# come back whole; the close handshake ends the tunnel as ok, with status
# 101 and bytes_in/bytes_out equal to what the client sent and got, and the
# origin sees its connection closed.  The same with Debian's
# python3-websockets.  An upgrade request to /echo (which answers 200)
# shows the head the upstream got (Connection: upgrade, Upgrade: websocket,
# the Sec-WebSocket-* fields); that 200, and /upgrade/200's, are relayed and
# the client's connection goes on as HTTP.  About 5 s.
source "$(dirname "$0")/../tunnel_lib.sh"

origin_up || finish
tun_cert || finish
TUN_TLS=1 tun_up "$T/hg.ini" || finish

note "frames through the tunnel, plain and TLS (wslib)"
cat > "$T/frames.py" <<'EOF'
import os, sys
from wslib import *
from tunnel_lib import *
port, tls_port, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

for name, p, tls in (("plain", port, False), ("tls", tls_port, True)):
    target = "/ws?frames-" + name
    t = Tunnel(p, target, tls=tls)
    expect(name + ": 101", t.status, 101)
    expect(name + ": the 101 says Upgrade: websocket", t.hdrs.get("upgrade"), b"websocket")
    expect(name + ": and Connection: upgrade", t.hdrs.get("connection", b"").lower(), b"upgrade")
    for desc, op, payload in (("text", TEXT, "h\u00e9llo".encode()),
                              ("binary 1000 bytes", BINARY, os.urandom(1000)),
                              ("binary 100 KB", BINARY, os.urandom(102400)),
                              ("binary empty", BINARY, b"")):
        t.send(frame(op, payload))
        same("%s: %s echoed" % (name, desc), t.frame(), (True, op, False, payload))
    t.send(frame(PING, b"p1"))
    same(name + ": ping gets its pong", t.frame(), (True, PONG, False, b"p1"))
    t.send(frame(TEXT, b"frag-", fin=False) + frame(CONT, b"ment"))
    same(name + ": first fragment", t.frame(), (False, TEXT, False, b"frag-"))
    same(name + ": last fragment", t.frame(), (True, CONT, False, b"ment"))
    # Both directions at once: 20 frames written before reading any.
    msgs = [os.urandom(3000 + i) for i in range(20)]
    t.send(b"".join(frame(BINARY, m) for m in msgs))
    check(name + ": 20 frames in one write come back in order",
          [t.frame()[3] for _ in msgs] == msgs)
    check(name + ": the close handshake: close 1000 back, then the FIN", t.close_ws(1000))
    put(name + "_tx", t.tx)
    put(name + "_rx", t.r.rx)
    check(name + ": the origin saw its connection closed after the client's close",
          wait_event(log, target, "close") is not None)

# A frame in the same write as the handshake goes first, after the 101.
t = Tunnel(port, "/ws?early", early=frame(TEXT, b"early bird"))
expect("a frame behind the head: 101", t.status, 101)
same("then its echo", t.frame(), (True, TEXT, False, b"early bird"))
check("early: close handshake", t.close_ws(1001))
put("early_tx", t.tx)
put("early_rx", t.r.rx)
EOF
tun_py "frames" "$T/frames.py" "$HG_PORT" "$TLS_PORT" "$OEVENTS"
for name in plain tls; do
	tun_log "$name" "/ws?frames-$name" 101 ok
	tx=${name}_tx rx=${name}_rx
	tun_bytes "$name" "${!tx:-?}" "${!rx:-?}"
	want=-; [ $name = tls ] && want=TLSv1.3
	expect_eq "$name: logged tls" "$(lf tls "$LOGL")" "$want"
	origin_closed "$name" "/ws?frames-$name"
done
tun_log "early frame" "/ws?early" 101 ok
tun_bytes "early frame" "${early_tx:-?}" "${early_rx:-?}"

note "python3-websockets, ws:// and wss://"
cat > "$T/lib.py" <<'EOF'
import asyncio, os, ssl, sys
import websockets
from wslib import check, expect
port, tls_port = int(sys.argv[1]), int(sys.argv[2])

async def one(url, **kw):
    async with websockets.connect(url, max_size=None, **kw) as ws:
        await ws.send("h\u00e9llo")
        expect(url + ": text echo", await ws.recv(), "h\u00e9llo")
        data = os.urandom(100000)
        await ws.send(data)
        check(url + ": 100 kB binary echo", await ws.recv() == data)
        for i in range(50):
            await ws.send(b"%d" % i)
        got = [await ws.recv() for i in range(50)]
        check(url + ": 50 small messages in order", got == [b"%d" % i for i in range(50)])
        await asyncio.wait_for(await ws.ping(b"p"), 5)
        check(url + ": ping answered", True)
        await ws.close(code=1000)
        expect(url + ": close code", ws.close_code, 1000)

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
asyncio.run(asyncio.wait_for(one("ws://127.0.0.1:%d/ws?lib-plain" % port), 20))
asyncio.run(asyncio.wait_for(one("wss://127.0.0.1:%d/ws?lib-tls" % tls_port, ssl=ctx), 20))
EOF
tun_py "python3-websockets" "$T/lib.py" "$HG_PORT" "$TLS_PORT"
tun_log "websockets ws://" "/ws?lib-plain" 101 ok
tun_log "websockets wss://" "/ws?lib-tls" 101 ok
expect_eq "websockets wss://: logged tls" "$(lf tls "$LOGL")" TLSv1.3

note "the head the upstream gets, and answers other than 101"
cat > "$T/heads.py" <<'EOF'
import sys
from wslib import *
from tunnel_lib import *
port, log = int(sys.argv[1]), sys.argv[2]

def second(t, target):
    """A plain request on the same connection is answered."""
    t.send(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    st, h, _ = t.r.head()
    expect("then %s on the same connection" % target.decode(), (st, t.r.exact(3)), (200, b"012"))

key = new_key()
t = Tunnel(port, "/echo?fwd", key=key, connection=b"keep-alive, Upgrade",
           extra=b"Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: x-test\r\n")
expect("/echo with an upgrade: the 200 is relayed", t.status, 200)
check("  without Upgrade", "upgrade" not in t.hdrs, repr(t.hdrs))
fwd = t.r.exact(int(t.hdrs["content-length"])).split(b"\r\n")
def values(name):
    return [l.split(b":", 1)[1].strip() for l in fwd
            if l.split(b":", 1)[0].strip().lower() == name]
expect("  the upstream got one Connection: upgrade", values(b"connection"), [b"upgrade"])
expect("  and Upgrade: websocket", values(b"upgrade"), [b"websocket"])
expect("  and the Sec-WebSocket-Key", values(b"sec-websocket-key"), [key])
expect("  and Sec-WebSocket-Version", values(b"sec-websocket-version"), [b"13"])
expect("  and Sec-WebSocket-Protocol", values(b"sec-websocket-protocol"), [b"chat"])
expect("  and Sec-WebSocket-Extensions", values(b"sec-websocket-extensions"), [b"x-test"])
second(t, b"/bytes/3?after-echo")
t.close()

t = Tunnel(port, "/upgrade/200?decline", ws=False)
expect("/upgrade/200: the 200 is relayed", t.status, 200)
expect("  with its body", t.r.exact(int(t.hdrs["content-length"])), b"not upgraded\n")
check("  without Upgrade", "upgrade" not in t.hdrs, repr(t.hdrs))
second(t, b"/bytes/3?after-200")
t.close()
up, nx = conn_of(log, "/upgrade/200?decline"), conn_of(log, "/bytes/3?after-200")
check("  that upstream connection is not used again", up is not None and
      nx is not None and up != nx, "%s, then %s" % (up, nx))
check("  hourglass closed it", wait_conn_event(log, up, "close") is not None)
EOF
tun_py "heads" "$T/heads.py" "$HG_PORT" "$OEVENTS"
tun_log "/echo with an upgrade" "/echo?fwd" 200 ok
tun_log "the request after it" "/bytes/3?after-echo" 200 ok
tun_log "/upgrade/200" "/upgrade/200?decline" 200 ok
tun_log "the request after it" "/bytes/3?after-200" 200 ok

metric_wait "no tunnel left open" 'hourglass_connections{state="tunnel"}' 0
metric_wait "tunnels that ended ok" 'hourglass_tunnels_total{outcome="ok"}' 5
fd_settle "after the tunnels"
finish
