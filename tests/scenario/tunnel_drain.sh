#!/usr/bin/env bash
# Tunnels under SIGTERM, with drain = 1s.  A tunnel runs on during the
# drain (its messages are still echoed); one that ends cleanly during it
# is logged ok, and the daemon exits 0 right after, well before the drain
# deadline.  Tunnels still open at the deadline (one talking, one silent)
# are closed then, both sides (the client sees the end, the origin sees
# its connection closed), logged timeout:drain, and the daemon exits 0.
# About 5 s.
source "$(dirname "$0")/../tunnel_lib.sh"

origin_up || finish

cat > "$T/drain.py" <<'EOF'
import os, signal, sys, threading, time
from wslib import *
from tunnel_lib import *
port, pid, log, case = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

def gone_at(secs=5.0):
    """When the daemon exited (a zombie until the shell waits for it)."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return mono_ms()
        except FileNotFoundError:
            return mono_ms()
        time.sleep(0.01)
    return None

def talk(t, until_ms, every=0.1):
    """Messages, each echoed, until until_ms or the end; how many."""
    n = 0
    while mono_ms() < until_ms:
        try:
            t.send(frame(TEXT, b"m%d" % n))
            if t.frame() != (True, TEXT, False, b"m%d" % n):
                break
        except (OSError, EOFError):
            break
        n += 1
        if not t.pause(every):
            break
    return n

if case == "early":
    # The tunnel ends cleanly 300 ms into the drain.
    t = Tunnel(port, "/ws?drain-early")
    expect("early: 101", t.status, 101)
    os.kill(pid, signal.SIGTERM)
    sig = mono_ms()
    n = talk(t, sig + 300)
    check("early: messages are echoed during the drain (%d)" % n, n >= 2)
    check("early: then the close handshake", t.close_ws())
    ended = t.t_closed
    at = gone_at()
    check("early: the daemon exits", at is not None)
    if at is not None:
        check("early: it exits right after the tunnel ended (%d ms after, %d after SIGTERM)"
              % (at - ended, at - sig), at - ended <= 300 and at - sig < 900)
else:
    # A talking tunnel and a silent one, still open at the deadline.
    a = Tunnel(port, "/ws?drain-talk")
    b = Tunnel(port, "/upgrade/silent?drain-silent", ws=False)
    expect("deadline: 101 and 101", (a.status, b.status), (101, 101))
    os.kill(pid, signal.SIGTERM)
    sig = mono_ms()
    # Its first byte reached hourglass between these two.
    put("talk_req", round(sig - a.t_req))
    put("talk_head", round(sig - a.t_head))
    n = talk(a, sig + 3000)
    check("deadline: the talking tunnel was echoed until the end (%d)" % n, n >= 5)
    for name, t, silent in (("talking", a, False), ("silent", b, True)):
        how = t.eof(3)
        if silent:
            expect("deadline: the %s tunnel's client sees the close (FIN)" % name, how, "eof")
        else:
            check("deadline: the %s tunnel's client sees the close (%s)" % (name, how),
                  how in ("eof", "reset"))
        if t.r.eof_at is not None:
            near("deadline: the %s tunnel closed after SIGTERM" % name,
                 round(t.r.eof_at - sig), 1000)
        oc = wait_event(log, t.target, "close")
        check("deadline: the origin saw the %s tunnel's connection closed with it" % name,
              oc is not None and t.r.eof_at is not None and abs(oc - t.r.eof_at) <= 100,
              "origin %s, client %s" % (oc, t.r.eof_at))
        t.close()
    at = gone_at()
    check("deadline: the daemon exits", at is not None)
    if at is not None:
        check("deadline: it exits after the deadline (%d ms after SIGTERM)" % (at - sig),
              990 <= at - sig <= 1500)
EOF

# exit_status: wait for the daemon (it exited or is about to); sets HG_RC.
exit_status() {
	local n=100
	while kill -0 "$HG_PID" 2>/dev/null &&
	    [ "$(awk '{print $3}' "/proc/$HG_PID/stat" 2>/dev/null)" != Z ] && [ $n -gt 0 ]; do
		sleep 0.05; n=$((n - 1))
	done
	if [ $n -le 0 ]; then HG_RC=running; return 1; fi
	wait "$HG_PID"; HG_RC=$?
}

note "a tunnel that ends during the drain"
tun_up "$T/a.ini" 'drain = 1s' || finish
tun_py "drain, early end" "$T/drain.py" "$HG_PORT" "$HG_PID" "$OEVENTS" early
exit_status
expect_eq "exit status after the drain" "$HG_RC" 0
tun_log "the tunnel that ended during the drain" "/ws?drain-early" 101 ok
check "it logged the drain of one request" grep -q 'draining 1 requests in flight' "$HG_ERR"

note "tunnels still open at the drain deadline"
tun_up "$T/b.ini" 'drain = 1s' || finish
tun_py "drain, deadline" "$T/drain.py" "$HG_PORT" "$HG_PID" "$OEVENTS" deadline
exit_status
expect_eq "exit status after a forced drain" "$HG_RC" 0
tun_log "the talking tunnel" "/ws?drain-talk" 101 timeout:drain
# total_ms runs from the request's first byte, which hourglass read between
# the client's send and the 101 (talk_req and talk_head ms before SIGTERM),
# to the drain deadline, 1 s after SIGTERM: never early, at most 120 ms late.
expect_range "  logged total_ms, its life: from the request, before SIGTERM, to 1 s after" \
	"$(tun_field total_ms)" $((${talk_head:-0} + 1000 - 10)) $((${talk_req:-0} + 1000 + 120))
tun_log "the silent tunnel" "/upgrade/silent?drain-silent" 101 timeout:drain
origin_closed "the talking tunnel" "/ws?drain-talk"
origin_closed "the silent tunnel" "/upgrade/silent?drain-silent"
finish
