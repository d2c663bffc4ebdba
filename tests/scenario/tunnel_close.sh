#!/usr/bin/env bash
# How a tunnel ends.  Half-close each way: the client's FIN reaches the
# origin after everything it sent, the origin finishes its echo and shuts,
# and the client gets all of it, then EOF (ok); the origin's FIN reaches
# the client, which can still send (the kernel's count of what the
# origin's socket received proves it) until it closes too (ok).  The origin
# closing at once, then the client (ok).  A client reset (abort:client):
# the origin's connection is closed at once.  An upstream reset, at once or
# on command (error:upstream_reset), and an upstream that went away while
# the client still writes (error:upstream_closed): the client's
# connection is closed.  Status 101, bytes where they are exact, and no
# descriptor left behind.  About 6 s.
source "$(dirname "$0")/../tunnel_lib.sh"

origin_up || finish
tun_up "$T/hg.ini" || finish

cat > "$T/close.py" <<'EOF'
import os, socket, sys, threading, time
from wslib import *
from tunnel_lib import *
port, oport, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def done(name, t):
    put(name + "_tx", t.tx)
    put(name + "_rx", t.r.rx)

def closed(name, t):
    """The client's connection is closed (a FIN or a reset) within 2 s,
    and within 100 ms of the origin's reset (its done event)."""
    how = t.eof(2)
    check(name + ": the client's connection is closed (%s)" % how, how in ("eof", "reset"))
    t.close()
    rst = wait_event(log, t.target, "done")
    check(name + ": within 100 ms of the origin's reset", rst is not None and
          t.r.eof_at is not None and t.r.eof_at - rst <= 100,
          "reset at %s, closed at %s" % (rst, t.r.eof_at))

# The client shuts its side right behind 1 MiB: the origin gets all of it,
# then the FIN; its echo comes back whole, then its FIN.
t = Tunnel(port, "/upgrade?hc-client", ws=False)
big = b"first" + os.urandom(1 << 20)
def writer():
    t.send(big)
    t.s.shutdown(socket.SHUT_WR)
w = threading.Thread(target=writer)
w.start()
got = t.r.until_eof()
w.join()
same("client FIN: the whole echo, then EOF", got, big)
t.close()
c = conn_of(log, "/upgrade?hc-client")
fin, shut = wait_conn_event(log, c, "close"), wait_conn_event(log, c, "done")
check("client FIN: the origin saw it (close) before it shut (done)",
      fin is not None and shut is not None and fin <= shut, "%s, %s" % (fin, shut))
done("hc_client", t)

# The origin shuts first: the client sees EOF, then sends 8 MiB, which
# reach the origin's socket (more than every buffer on the way could
# hold), then shuts its side too.
t = Tunnel(port, "/upgrade?hc-origin", ws=False)
t.send(b"abc")
expect("origin FIN: echo before !shut", t.r.exact(3), b"abc")
t.send(b"!shut\n")
expect("origin FIN: the client sees EOF", t.eof(3), "eof")
# The origin's socket has sent its FIN (acknowledged or not yet).
SHUT = ("fin-wait-1", "fin-wait-2")
rx0 = origin_rx(oport, *SHUT)
check("origin FIN: the origin has one half-closed connection", len(rx0) == 1, repr(rx0))
N = 8 << 20
chunk = os.urandom(1 << 16)
try:
    for i in range(N // len(chunk)):
        t.send(chunk)
    sent = True
except OSError as e:
    sent = False
    check("origin FIN: the client can still send", False, str(e))
if sent:
    check("origin FIN: the client can still send (8 MiB)", True)
    end = time.monotonic() + 5
    rx = rx0
    while time.monotonic() < end:
        rx = origin_rx(oport, *SHUT)
        if rx and rx0 and rx[0] >= rx0[0] + N:
            break
        time.sleep(0.05)
    expect("origin FIN: the origin's socket received them all",
           rx[0] - rx0[0] if rx and rx0 else None, N)
t.s.shutdown(socket.SHUT_WR)
check("origin FIN: then the client's FIN reaches the origin",
      wait_event(log, "/upgrade?hc-origin", "close") is not None)
t.close()
done("hc_origin", t)

# The origin closes at once (its FIN); the client closes 200 ms later.
t = Tunnel(port, "/upgrade/close?later", ws=False)
expect("upstream FIN first: the client sees EOF", t.eof(3), "eof")
time.sleep(0.2)
t.close()
done("later", t)

# A client reset: the origin's connection is closed at once.
t = Tunnel(port, "/upgrade?rst", ws=False)
t.send(b"abc")
expect("client reset: echo first", t.r.exact(3), b"abc")
t.reset()
oc = wait_event(log, "/upgrade?rst", "close")
check("client reset: the origin's connection closed within 100 ms",
      oc is not None and oc - t.t_closed <= 100, "%s ms after" %
      (None if oc is None else round(oc - t.t_closed)))
done("rst", t)

# Upstream resets: right after the 101, and on command in the middle.
t = Tunnel(port, "/upgrade/reset?now", ws=False)
expect("upstream reset at once: 101", t.status, 101)
closed("upstream reset at once", t)
t = Tunnel(port, "/upgrade?cmd-reset", ws=False)
t.send(b"abc")
expect("upstream reset on command: echo first", t.r.exact(3), b"abc")
t.send(b"!reset\n")
closed("upstream reset on command", t)

# The origin shuts, waits 1 s for a FIN that does not come, and closes:
# what the client writes then meets a closed socket (EPIPE upstream).
t = Tunnel(port, "/upgrade/close?gone", ws=False)
expect("upstream gone: the client sees EOF", t.eof(3), "eof")
time.sleep(1.3)
end = time.monotonic() + 5
while time.monotonic() < end:
    try:
        t.send(b"x" * 100)
    except OSError:
        break
    time.sleep(0.05)
check("upstream gone: hourglass closes the client's connection (a write fails)",
      time.monotonic() < end)
t.close()
EOF
tun_py "closing" "$T/close.py" "$HG_PORT" "$ORIGIN_PORT" "$OEVENTS"

tun_log "client FIN first" "/upgrade?hc-client" 101 ok
tun_bytes "client FIN first" "${hc_client_tx:-?}" "${hc_client_rx:-?}"
tun_log "origin FIN first" "/upgrade?hc-origin" 101 ok
tun_bytes "origin FIN first" "${hc_origin_tx:-?}" "${hc_origin_rx:-?}"
tun_log "origin closes, then the client" "/upgrade/close?later" 101 ok
tun_bytes "origin closes, then the client" "${later_tx:-?}" "${later_rx:-?}"
origin_closed "origin closes, then the client" "/upgrade/close?later"
tun_log "client reset" "/upgrade?rst" 101 abort:client
tun_bytes "client reset" "${rst_tx:-?}" "${rst_rx:-?}"
tun_log "upstream reset at once" "/upgrade/reset?now" 101 error:upstream_reset
tun_log "upstream reset on command" "/upgrade?cmd-reset" 101 error:upstream_reset
tun_log "upstream gone" "/upgrade/close?gone" 101 error:upstream_closed

metric_wait "after the cases" 'hourglass_connections{state="tunnel"}' 0
metric_wait "after the cases" 'hourglass_tunnels_total{outcome="ok"}' 3
metric_wait "after the cases" 'hourglass_tunnels_total{outcome="abort:client"}' 1
metric_wait "after the cases" 'hourglass_tunnels_total{outcome="error:upstream_reset"}' 2
metric_wait "after the cases" 'hourglass_tunnels_total{outcome="error:upstream_closed"}' 1
fd_settle "after the tunnels"
finish
