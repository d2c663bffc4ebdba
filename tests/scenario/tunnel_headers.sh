#!/usr/bin/env bash
# Which requests are forwarded asking to upgrade, seen from the origin
# (/echo answers with the head it got).  `upgrade = off` on a route strips
# Upgrade and Connection: upgrade (the origin's /ws then answers 426, which
# is relayed as is); `upgrade = websocket, mqtt/5` forwards the allowed
# protocols the client offered, in its order; a route that allows mqtt
# only carries an mqtt tunnel and strips websocket.  h2c is never
# forwarded, alone or in a list (curl --http2 gets HTTP/1.1).  A request
# with a body, or without Connection: upgrade, is forwarded as an ordinary
# request.  Every answer here but one is an ordinary response: the
# connection goes on as HTTP.  About 3 s.
source "$(dirname "$0")/../tunnel_lib.sh"

origin_up || finish
tun_up "$T/hg.ini" \
	'' '[route /ws]' 'upstream = o' 'upgrade = off' \
	'' '[route /echo/off]' 'upstream = o' 'upgrade = off' \
	'' '[route /echo/list]' 'upstream = o' 'upgrade = websocket, mqtt/5' \
	'' '[route /upgrade]' 'upstream = o' 'upgrade = mqtt' \
	|| finish

cat > "$T/heads.py" <<'EOF'
import sys
from wslib import *
from tunnel_lib import *
port = int(sys.argv[1])

s = connect(port)
r = Reader(s)
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="

def ask(desc, target, upgrade=b"websocket", connection=b"Upgrade",
        extra=b"", body=b""):
    """One request on the keep-alive connection; returns (status, headers,
    body).  For /echo: the head the origin got, as {lowercase name:
    [values]}, and the body it got."""
    s.sendall(request(target, key=KEY, upgrade=upgrade, connection=connection,
                      extra=extra) + body)
    st, h, _ = r.head()
    b = r.exact(int(h.get("content-length", b"0")))
    if not target.startswith("/echo"):
        return st, h, b
    head, _, got = b.partition(b"\r\n\r\n")
    fwd = {}
    for ln in head.split(b"\r\n")[1:]:
        k, _, v = ln.partition(b":")
        fwd.setdefault(k.strip().lower().decode(), []).append(v.strip())
    return st, fwd, got

def upgrade_of(fwd):
    """What the origin got: (Upgrade values, Connection values)."""
    return fwd.get("upgrade", []), fwd.get("connection", [])

def plain(desc, target, **kw):
    st, fwd, body = ask(desc, target, **kw)
    expect(desc + ": 200", st, 200)
    expect(desc + ": forwarded without Upgrade or Connection: upgrade",
           upgrade_of(fwd), ([], []))
    return fwd, body

def upgraded(desc, target, want, **kw):
    st, fwd, body = ask(desc, target, **kw)
    expect(desc + ": 200", st, 200)
    expect(desc + ": forwarded with", upgrade_of(fwd), ([want], [b"upgrade"]))
    return fwd

st, h, body = ask("off", "/ws?off")
# (its Upgrade goes, as hop-by-hop fields always do: RFC 9110 7.6.1)
expect("upgrade = off: /ws answers 426, relayed", (st, body), (426, b"426 Upgrade Required\n"))
expect("  with Sec-WebSocket-Version: 13", h.get("sec-websocket-version"), b"13")
plain("upgrade = off, /echo/off", "/echo/off?off")

# (a name allows every version of it: websocket/13 goes as offered)
upgraded("websocket, mqtt/5: the allowed ones in the client's order",
         "/echo/list?list", b"mqtt/5, websocket/13",
         upgrade=b"foo, mqtt/5, mqtt/3, h2c, websocket/13")
upgraded("websocket, mqtt/5: websocket alone", "/echo/list?ws", b"websocket")
plain("websocket, mqtt/5: mqtt/3 is not mqtt/5", "/echo/list?mqtt3",
      upgrade=b"mqtt/3")

plain("Upgrade: h2c", "/echo?h2c", upgrade=b"h2c",
      connection=b"Upgrade, HTTP2-Settings", extra=b"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n")
upgraded("Upgrade: websocket, h2c", "/echo?ws-h2c", b"websocket", upgrade=b"websocket, h2c")
upgraded("Upgrade: h2c, websocket", "/echo?h2c-ws", b"websocket", upgrade=b"h2c, websocket")
plain("Upgrade: foo (not allowed by the route)", "/echo?foo", upgrade=b"foo")
plain("Upgrade without Connection: upgrade", "/echo?noconn", connection=b"keep-alive")
plain("Connection: upgrade without Upgrade", "/echo?noupg", upgrade=None)

fwd, body = plain("a body (Content-Length: 5)", "/echo?body",
                  extra=b"Content-Length: 5\r\n", body=b"hello")
expect("  the body is forwarded", body, b"hello")
fwd, body = plain("a chunked body", "/echo?chunked",
                  extra=b"Transfer-Encoding: chunked\r\n", body=b"5\r\nhello\r\n0\r\n\r\n")
expect("  the body is forwarded", body, b"hello")
st, h, body = ask("a body to /ws", "/ws?body", extra=b"Content-Length: 5\r\n", body=b"hello")
expect("upgrade = off and a body: /ws still 426 on the same connection", st, 426)
s.close()

# A route that allows mqtt carries an mqtt tunnel, and strips websocket.
t = Tunnel(port, "/upgrade?mqtt", ws=False, upgrade=b"websocket, mqtt")
expect("upgrade = mqtt: 101", t.status, 101)
expect("  with the origin's Upgrade: mqtt", t.hdrs.get("upgrade"), b"mqtt")
t.send(b"hello mqtt")
expect("  the tunnel echoes", t.r.exact(10), b"hello mqtt")
t.s.shutdown(socket.SHUT_WR)
expect("  our FIN, then its FIN", t.eof(), "eof")
t.close()
t = Tunnel(port, "/upgrade?ws-on-mqtt", ws=False)
expect("upgrade = mqtt, Upgrade: websocket: stripped, the origin answers 426",
       t.status, 426)
t.close()
EOF
tun_py "upgrade headers" "$T/heads.py" "$HG_PORT"

for tg in '/echo/off?off' '/echo/list?list' '/echo/list?ws' '/echo/list?mqtt3' \
    '/echo?h2c' '/echo?ws-h2c' '/echo?h2c-ws' '/echo?foo' '/echo?noconn' \
    '/echo?noupg' '/echo?body' '/echo?chunked'; do
	tun_log "$tg" "$tg" 200 ok
done
tun_log "/ws with upgrade = off" "/ws?off" 426 ok
tun_log "/ws with upgrade = off and a body" "/ws?body" 426 ok
tun_log "the mqtt tunnel" "/upgrade?mqtt" 101 ok
tun_log "websocket on an mqtt route" "/upgrade?ws-on-mqtt" 426 ok

note "curl --http2 (h2c upgrade) through hourglass"
code=$(curl -s --http2 -o "$T/h2c.body" -w '%{http_code} %{http_version}' \
	"http://127.0.0.1:$HG_PORT/echo?curl-h2c")
expect_eq "curl --http2: status and HTTP version" "$code" "200 1.1"
check "  the origin got no Upgrade" bash -c "! grep -qi '^upgrade:' '$T/h2c.body'"
check "  nor HTTP2-Settings" bash -c "! grep -qi '^http2-settings:' '$T/h2c.body'"

metric_wait "one tunnel in all" 'hourglass_tunnels_total{outcome="ok"}' 1
fd_settle "after the requests"
finish
