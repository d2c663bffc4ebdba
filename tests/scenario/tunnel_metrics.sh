#!/usr/bin/env bash
# Tunnel metrics.  hourglass_connections{state="tunnel"} counts the tunnels
# open now (2, 1, 0 as they end); hourglass_tunnels_total{outcome} has a
# zero series for each way a tunnel ends before any did, and counts each
# end: ok, timeout:tunnel_idle, timeout:tunnel_max, abort:client,
# error:upstream_reset, error:upstream_closed.  A tunnel's request counts
# in hourglass_requests_total with code 1xx (abort:client too), and in the
# duration histogram with its time to the 101 only.  A tunnel holds one
# client connection toward max_connections, not two.  About 5 s.
source "$(dirname "$0")/../tunnel_lib.sh"

origin_up || finish
TUN_SERVER='max_connections = 3' tun_up "$T/hg.ini" \
	'' '[route /ws]' 'upstream = o' 'tunnel_max = 700ms' \
	'' '[route /upgrade/silent]' 'upstream = o' 'tunnel_idle = 300ms' \
	|| finish

cat > "$T/metrics.py" <<'EOF'
import socket, sys, time
from wslib import *
from tunnel_lib import *
port, mport = int(sys.argv[1]), int(sys.argv[2])
OPEN = 'hourglass_connections{state="tunnel"}'
def ended(o):
    return 'hourglass_tunnels_total{outcome="%s"}' % o
ALL = ("ok", "timeout:tunnel_idle", "timeout:tunnel_max", "timeout:drain",
       "abort:client", "error:upstream_reset", "error:upstream_closed")

metric_is("at start", mport, OPEN, 0)
for o in ALL:
    expect("at start: " + ended(o), metric(mport, ended(o)), 0)

a = Tunnel(port, "/upgrade?m-ok", ws=False)
metric_is("one tunnel open", mport, OPEN, 1)
b = Tunnel(port, "/upgrade?m-rst", ws=False)
metric_is("two tunnels open", mport, OPEN, 2)

# max_connections = 3: two tunnels and one keep-alive connection fit; a
# fourth connection does not.
k = connect(port)
k.sendall(b"GET /bytes/3 HTTP/1.1\r\nHost: x\r\n\r\n")
kr = Reader(k)
st, h, _ = kr.head()
expect("max_connections = 3: a third connection beside two tunnels is served",
       (st, kr.exact(3)), (200, b"012"))
x = connect(port)
x.sendall(b"GET /bytes/3 HTTP/1.1\r\nHost: x\r\n\r\n")
try:
    st = Reader(x).head()[0]
except (OSError, EOFError) as e:
    st = repr(e)
expect("  a fourth is refused with 503", st, 503)
x.close()
k.close()

# Each way a tunnel ends, one at a time, while talking now and then.
a.send(b"abc")
expect("ok: echo", a.r.exact(3), b"abc")
a.s.shutdown(socket.SHUT_WR)
expect("ok: our FIN, then its FIN", a.eof(), "eof")
a.close()
metric_is("ok", mport, ended("ok"), 1)
metric_is("ok", mport, OPEN, 1)
b.reset()
metric_is("abort:client", mport, ended("abort:client"), 1)
metric_is("abort:client", mport, OPEN, 0)

t = Tunnel(port, "/upgrade/silent?m-idle", ws=False)
expect("idle: closed by tunnel_idle", t.eof(3), "eof")
t.close()
metric_is("tunnel_idle", mport, ended("timeout:tunnel_idle"), 1)

t = Tunnel(port, "/ws?m-max")
for i in range(30):
    try:
        t.send(frame(TEXT, b"x"))
        t.frame()
    except (OSError, EOFError):
        break
    if not t.pause(0.05):
        break
check("max: closed by tunnel_max", t.eof(3) in ("eof", "reset"))
t.close()
metric_is("tunnel_max", mport, ended("timeout:tunnel_max"), 1)

t = Tunnel(port, "/upgrade/reset?m-ureset", ws=False)
check("upstream reset: closed", t.eof(3) in ("eof", "reset"))
t.close()
metric_is("upstream reset", mport, ended("error:upstream_reset"), 1)

t = Tunnel(port, "/upgrade/close?m-uclosed", ws=False)
expect("upstream closed: its FIN", t.eof(3), "eof")
time.sleep(1.3)		# the origin closes 1 s after its FIN
for i in range(100):
    try:
        t.send(b"x")
    except OSError:
        break
    time.sleep(0.05)
t.close()
metric_is("upstream closed", mport, ended("error:upstream_closed"), 1)

metric_is("at the end", mport, OPEN, 0)
for o in ALL:
    expect("at the end: " + ended(o), metric(mport, ended(o)),
           0 if o == "timeout:drain" else 1)
EOF
tun_py "metrics" "$T/metrics.py" "$HG_PORT" "$MPORT"

note "the requests of the tunnels"
curl -s -o "$T/metrics" "http://127.0.0.1:$MPORT/metrics"
for ro in "/ ok" "/ abort:client" "/upgrade/silent timeout:tunnel_idle" \
    "/ws timeout:tunnel_max" "/ error:upstream_reset" "/ error:upstream_closed"; do
	check "hourglass_requests_total{route=\"${ro% *}\",outcome=\"${ro#* }\",code=\"1xx\"} 1" \
	    grep -qF "hourglass_requests_total{route=\"${ro% *}\",outcome=\"${ro#* }\",code=\"1xx\"} 1" "$T/metrics"
done
n=$(awk '/^hourglass_requests_total\{.*code="1xx"\}/ { s += $NF } END { print s + 0 }' "$T/metrics")
expect_eq "requests with code 1xx" "$n" 6
# Every request here took far less than 250 ms to its answer; the tunnels
# lived up to 1.3 s, which must not show in the histogram.
awk '/^hourglass_request_duration_seconds_bucket\{/ && /le="0.25"/ {
	sub(/,le="0.25"\}/, "}"); sub(/_bucket/, "_count"); b[$1] = $NF }
     /^hourglass_request_duration_seconds_count\{/ { c[$1] = $NF }
     END { for (k in c) if (c[k] != b[k]) print k, c[k], b[k] }' "$T/metrics" > "$T/slow"
check "the duration histogram holds no tunnel's life (all within 250 ms)" test ! -s "$T/slow"
sed 's/^/  over 250 ms: /' "$T/slow"
n=$(awk '/^hourglass_request_duration_seconds_count\{/ { s += $NF } END { print s + 0 }' "$T/metrics")
expect_range "requests in the histogram (6 tunnels, 1 plain, maybe the 503)" "$n" 7 8
fd_settle "after the tunnels"
finish
