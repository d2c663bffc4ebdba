#!/usr/bin/env bash
# A tunnel's deadlines.  `request` ends at the 101: a tunnel on a route with
# request = 500ms talks for 2.4 s and closes cleanly (ok, total_ms = its
# life).  tunnel_idle is idle time: talking, or bytes one way only, keep it
# open; a silent tunnel is closed when it fires.  tunnel_max is a fixed
# lifetime: it closes a tunnel that keeps talking.  A route's tunnel_idle and
# tunnel_max override [timeouts] (including tunnel_max = off).  Each case
# checks when the client saw the end (never early, at most 120 ms late),
# that the origin saw its connection closed at the same time, the logged
# status 101, outcome, total_ms and bytes, and no descriptor left behind.
# About 12 s.
source "$(dirname "$0")/../tunnel_lib.sh"

origin_up || finish
tun_up "$T/hg.ini" 'tunnel_idle = 600ms' 'tunnel_max = 800ms' \
	'' '[route /ws]' 'upstream = o' 'request = 500ms' 'tunnel_idle = 1s' 'tunnel_max = 3s' \
	'' '[route /upgrade/silent]' 'upstream = o' 'tunnel_idle = 400ms' 'tunnel_max = off' \
	|| finish

cat > "$T/timeouts.py" <<'EOF'
import sys, time
from wslib import *
from tunnel_lib import *
port, log = int(sys.argv[1]), sys.argv[2]

def ended(name, t, want_ms, since, silent):
    """The tunnel was closed want_ms after since: the client saw the end
    then (a FIN; a reset allowed when bytes were in flight) and the origin
    saw its connection closed within 100 ms of it."""
    how = t.eof(want_ms / 1000.0 + 3)
    if silent:
        expect(name + ": the client sees the connection closed (FIN)", how, "eof")
    else:
        check(name + ": the client sees the connection closed", how in ("eof", "reset"), how)
    if t.r.eof_at is None:
        return
    near(name + ": closed after", round(t.r.eof_at - since), want_ms)
    oc = wait_event(log, t.target, "close")
    check(name + ": the origin saw its connection closed within 100 ms of the client",
          oc is not None and abs(oc - t.r.eof_at) <= 100,
          "origin close at %s, client end at %d" % (oc, t.r.eof_at))
    t.close()
    put(name + "_tx", t.tx)
    put(name + "_rx", t.r.rx)

def talk_ws(t, n, every):
    """n text messages every `every` s, each echoed before the next;
    returns how many came back before the end."""
    got = 0
    for i in range(n):
        try:
            t.send(frame(TEXT, b"msg %d" % i))
            if t.frame() != (True, TEXT, False, b"msg %d" % i):
                break
        except (OSError, EOFError):
            break
        got += 1
        if not t.pause(every):
            break
    return got

# request = 500ms ends at the 101: 12 messages 200 ms apart (2.4 s) under
# tunnel_idle = 1s and tunnel_max = 3s (the route's), then a clean close.
t = Tunnel(port, "/ws?alive")
expect("alive: 101", t.status, 101)
expect("alive: 12 messages over 2.4 s, each echoed", talk_ws(t, 12, 0.2), 12)
check("alive: the close handshake", t.close_ws())
put("alive_life", round(t.t_closed - t.t_req))
put("alive_from_head", round(t.t_closed - t.t_head))
put("alive_tx", t.tx)
put("alive_rx", t.r.rx)

# The route's tunnel_idle (1 s) on a silent WebSocket.
t = Tunnel(port, "/ws?idle")
expect("ws idle: 101", t.status, 101)
ended("ws_idle", t, 1000, t.t_req, True)

# The route's tunnel_max (3 s) on a WebSocket that keeps talking.
t = Tunnel(port, "/ws?max")
n = talk_ws(t, 100, 0.2)
check("ws max: it talked until the end (%d messages)" % n, 8 <= n <= 16)
ended("ws_max", t, 3000, t.t_req, False)

# [timeouts]: tunnel_idle = 600ms on a silent raw tunnel.
t = Tunnel(port, "/upgrade?idle", ws=False)
expect("idle: 101", t.status, 101)
ended("idle", t, 600, t.t_req, True)

# [timeouts]: tunnel_max = 800ms on a raw tunnel that keeps talking.
t = Tunnel(port, "/upgrade?max", ws=False)
n = 0
try:
    while True:
        t.send(b"ping %02d\n" % n)
        if t.r.exact(8) != b"ping %02d\n" % n:
            break
        n += 1
        if not t.pause(0.1):
            break
except (OSError, EOFError):
    pass
check("max: it talked until the end (%d echoes)" % n, 4 <= n <= 9)
ended("max", t, 800, t.t_req, False)

# Bytes one way only keep the idle scope open: the client writes a byte
# every 200 ms for 1.2 s to /upgrade/silent (nothing comes back), whose
# route has tunnel_idle = 400ms and tunnel_max = off (not [timeouts]' 800).
t = Tunnel(port, "/upgrade/silent?oneway", ws=False)
for i in range(7):
    t.send(b"x")
    last = mono_ms()
    if i < 6:
        time.sleep(0.2)
check("oneway: still open after 1.2 s", t.quiet(0.05))
ended("oneway", t, 400, last, True)
if t.r.eof_at is not None:
    put("oneway_life", round(t.r.eof_at - t.t_req))
    put("oneway_least", round(last + 400 - t.t_head))
EOF
tun_py "timeouts" "$T/timeouts.py" "$HG_PORT" "$OEVENTS"

# tunnel_case DESC TARGET OUTCOME LO HI NAME EXACT: the log line of a
# tunnel closed by a scope, total_ms in [LO, HI].  EXACT=1: bytes both ways
# as the client counted; 0: a message may have been cut.
tunnel_case() {
	local d=$1 tx=${6}_tx rx=${6}_rx
	tun_log "$d" "$2" 101 "$3"
	expect_range "$d: logged total_ms" "$(tun_field total_ms)" "$4" "$5"
	if [ "$7" = 1 ]; then
		tun_bytes "$d" "${!tx:-?}" "${!rx:-?}"
	else
		expect_range "$d: logged bytes_in, at most one message short" \
		    "$(tun_field bytes_in)" $((${!tx:-0} - 16)) "${!tx:-0}"
		expect_range "$d: logged bytes_out, at most one message more" \
		    "$(tun_field bytes_out)" "${!rx:-0}" $((${!rx:-0} + 16))
	fi
	origin_closed "$d" "$2"
}

# total_ms: from the request's first byte, which hourglass read between the
# client's send and its 101, to the client's close (hourglass reads it
# after), at most 120 ms late.
tun_log "a tunnel outlives request = 500ms" "/ws?alive" 101 ok
expect_range "  logged total_ms, the tunnel's life as the client saw it (${alive_life:-?} ms)" \
	"$(tun_field total_ms)" $((${alive_from_head:-0} - 20)) $((${alive_life:-0} + 120))
tun_bytes "  it" "${alive_tx:-?}" "${alive_rx:-?}"
origin_closed "  it" "/ws?alive"
# A scope of N ms from the 101: total_ms is N and the time to the 101, never
# early, at most 120 ms late.
tunnel_case "route tunnel_idle = 1s, silent" "/ws?idle" timeout:tunnel_idle 990 1120 ws_idle 1
tunnel_case "route tunnel_max = 3s, talking" "/ws?max" timeout:tunnel_max 2990 3120 ws_max 0
tunnel_case "tunnel_idle = 600ms, silent" "/upgrade?idle" timeout:tunnel_idle 590 720 idle 1
tunnel_case "tunnel_max = 800ms, talking" "/upgrade?max" timeout:tunnel_max 790 920 max 0
# tunnel_idle from the last byte: at least 400 ms after it, and no more than
# the tunnel's life as the client saw it, at most 120 ms late.
tunnel_case "route tunnel_idle = 400ms, tunnel_max = off, bytes one way" \
	"/upgrade/silent?oneway" timeout:tunnel_idle $((${oneway_least:-0} - 10)) \
	$((${oneway_life:-0} + 120)) oneway 1

metric_wait "after the cases" 'hourglass_connections{state="tunnel"}' 0
metric_wait "after the cases" 'hourglass_tunnels_total{outcome="ok"}' 1
metric_wait "after the cases" 'hourglass_tunnels_total{outcome="timeout:tunnel_idle"}' 3
metric_wait "after the cases" 'hourglass_tunnels_total{outcome="timeout:tunnel_max"}' 2
fd_settle "after the tunnels"
finish
