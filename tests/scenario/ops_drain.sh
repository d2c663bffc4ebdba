#!/usr/bin/env bash
# SIGTERM drains, with workers = 2: listeners close at once (new connects
# refused), idle keep-alive connections close, requests in flight finish
# under the drain scope, and the daemon exits 0 as soon as the last one
# ends.  When drain runs out first, what is left is cancelled as
# timeout:drain: 503 before the response head, a cut body after.
source "$(dirname "$0")/../ops_lib.sh"

origin_up || finish

# in_origin TARGET: wait until the origin has the request for TARGET.
in_origin() {
	local re=${1//\?/\\?}
	wait_grep "$OEVENTS" "^request [0-9]+ $re " 100 ||
	    fail "$1 did not reach the origin"
}

# since MS_THEN: milliseconds from MS_THEN to now.
since() { echo $(( $(now_ms) - $1 )); }

note "drain = 2s: everything in flight finishes"
ops_up "$T/a.ini" 'drain = 2s' || finish
U=http://127.0.0.1:$HG_PORT
raw_open
raw_get "/?idle"
expect_eq "an idle keep-alive connection, after one request" "$RAW_STATUS" 200
bg_curl drip "$U/drip/10/100?drain"
in_origin "/drip/10/100?drain"
# A request whose response head goes out during the drain.
bg_curl dclose -D "$T/dclose.head" "$U/delay/800?dclose"
in_origin "/delay/800?dclose"
sleep 0.1
T0=$(now_ms)
kill -TERM "$HG_PID"

# New connections are refused as soon as the workers close their listeners.
refused=no
for _ in $(seq 50); do
	curl -s -m 1 -o /dev/null "$U/?late"
	[ $? -eq 7 ] && { refused=$(since "$T0"); break; }
	sleep 0.02
done
if [ "$refused" = no ]; then
	fail "new connections still accepted 1 s after SIGTERM"
else
	expect_range "new connections refused after SIGTERM (ms)" "$refused" 0 300
fi
# A second SIGTERM and a SIGHUP during the drain change nothing: no
# reload, and the request in flight still ends whole (checked below).
kill -TERM "$HG_PID"
kill -HUP "$HG_PID"
# The idle connection is closed, silently.
raw_wait_eof "$T/idle.out" 3
expect_eq "the idle keep-alive connection is closed" "$EOF_RC" 0
expect_range "  within (ms after SIGTERM)" $((EOF_AT - T0)) 0 500
expect_eq "  without a byte" "$(wc -c < "$T/idle.out")" 0
raw_close
# The request in flight finishes whole.
bg_result drip
DRIP_END=$BG_END
expect_eq "the request in flight: status, curl exit, bytes" \
	"$BG_CODE $BG_RC $BG_BYTES" "200 0 10"
expect_eq "  whole body" "$(cat "$T/drip.body")" "0123456789"
log_expect_for "the request in flight" "/drip/10/100?drain" 200 ok
bg_result dclose
expect_eq "a response started during the drain: status, curl exit" "$BG_CODE $BG_RC" "200 0"
check "  it says Connection: close" grep -qi '^connection: close' "$T/dclose.head"
log_expect_for "  it" "/delay/800?dclose" 200 ok
# The daemon exits 0 right after it, well before the drain deadline.
hg_stop_wait 0
expect_eq "exit status after the drain" "$HG_RC" 0
expect_range "exit after the last request ended (ms)" $((HG_EXIT_AT - DRIP_END)) -100 700
expect_range "exit after SIGTERM (ms), drain is 2000" $((HG_EXIT_AT - T0)) 0 1500
check "it logged the drain" grep -Eq 'draining 2 requests in flight for at most 2000 ms' "$HG_ERR"
check "it logged stopped" grep -q 'stopped' "$HG_ERR"
check "the SIGHUP during the drain did not reload" bash -c "! grep -Eq 'reloaded|reload refused' '$HG_ERR'"
check "nothing was cancelled" bash -c "! grep -q 'timeout:drain' '$ACCESS'"

note "drain = 500ms: what is left is cancelled as timeout:drain"
ops_up "$T/b.ini" 'drain = 500ms' || finish
U=http://127.0.0.1:$HG_PORT
bg_curl cut "$U/drip/20/100?cut"
CUT_PID=$BG_PID
bg_curl head "$U/delay/3000?head"
in_origin "/drip/20/100?cut"
in_origin "/delay/3000?head"
sleep 0.2
T0=$(now_ms)
kill -TERM "$HG_PID"
bg_result cut
expect_eq "/drip/20/100 after its head: cut short (curl exit 18)" "$BG_RC" 18
expect_eq "  its status had been sent" "$BG_CODE" 200
expect_range "  bytes it got" "$BG_BYTES" 1 19
expect_range "  cut at (ms after SIGTERM)" $((BG_END - T0)) 450 800
log_expect_for "/drip/20/100 cut by the drain" "/drip/20/100?cut" 200 timeout:drain
bg_result head
expect_eq "/delay/3000 before its head: 503 (curl exit 0)" "$BG_CODE $BG_RC" "503 0"
expect_range "  answered at (ms after SIGTERM)" $((BG_END - T0)) 450 800
log_expect_for "/delay/3000 cancelled by the drain" "/delay/3000?head" 503 timeout:drain
hg_stop_wait 0
expect_eq "exit status after a forced drain" "$HG_RC" 0
expect_range "exit after SIGTERM (ms), drain is 500" $((HG_EXIT_AT - T0)) 450 1300
# The cancelled requests' upstream connections were closed by the proxy.
sleep 0.2
for p in "/drip/20/100?cut" "/delay/3000?head"; do
	if [ -n "$(oevent close "$p")" ]; then
		ok "the origin saw the proxy close $p"
	else
		fail "the origin did not see the proxy close $p"
	fi
done

finish
