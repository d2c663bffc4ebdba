#!/usr/bin/env bash
# Slowloris and overload.
#
# 1. 2,000 connections trickle a request head (one byte every 200 ms) at a
#    daemon with client_header = 2s and max_connections = 3000.  Meanwhile a
#    normal client makes 200 sequential requests, each on a fresh
#    connection: every one gets 200, with p99 under 50 ms.  Every trickling
#    connection gets 408 about 2 s after it connected (+-300 ms) and is
#    closed, logged timeout:client_header; the daemon holds no descriptor
#    more than at start afterwards.
# 2. max_connections = 50 (across two workers): with 50 idle connections
#    open, the next one gets 503 and is closed, logged reject:overload;
#    once some of the 50 close, new connections are served again.
source "$(dirname "$0")/../harden_lib.sh"

N=${SLOWLORIS_CONNS:-2000}
NORMAL=200
P99_MAX_MS=50

need_tool slowloris || finish
origin_up || finish

# --- 1. slowloris -------------------------------------------------------
hg_up_srv "$T/hg.ini" 'max_connections = 3000' \
	'client_header = 2s' 'request = 10s' || finish

"$TOOLS/slowloris" -p "$HG_PORT" -n "$N" -i 200 -e 408 -w 2000 -t 300 \
	-T 12 -r "$T/ready" > "$T/trickle.out" 2> "$T/trickle.err" &
TRICKLE_PID=$!
_pids+=("$TRICKLE_PID")
if wait_file "$T/ready" 100; then
	ok "$N trickling connections open ($(cat "$T/ready") connected)"
else
	fail "the trickling connections did not all open within 5 s"
fi
note "daemon holds $(fd_count "$HG_PID") descriptors with the trickle open"

# The normal client, while the trickle runs and while its 408s go out:
# 200 requests 10 ms apart span the whole client_header period.
"$TOOLS/slowloris" -p "$HG_PORT" -N $NORMAL -g 10 > "$T/normal.out" 2>&1
NL=$(cat "$T/normal.out")
note "$NL"
nf() { printf '%s\n' "$NL" | sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p"; }
expect_eq "normal client: 200 answers meanwhile" "$(nf ok)" $NORMAL
p99=$(nf p99_ms)
if [ -n "$p99" ] && awk -v p="$p99" -v m=$P99_MAX_MS 'BEGIN { exit !(p < m) }'; then
	ok "normal client: p99 $p99 ms < $P99_MAX_MS ms (p50 $(nf p50_ms), max $(nf max_ms))"
else
	fail "normal client: p99 '$p99' ms, want < $P99_MAX_MS ms"
fi

wait "$TRICKLE_PID"
TL=$(cat "$T/trickle.out")
note "$TL"
[ -s "$T/trickle.err" ] && sed 's/^/  slowloris: /' "$T/trickle.err" | head -n 5
tf() { printf '%s\n' "$TL" | sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p"; }
expect_eq "trickle: connected" "$(tf connected)" "$N"
expect_eq "trickle: answered 408" "$(tf status_408)" "$N"
expect_eq "trickle: 408 within 2000+-300 ms of connecting" "$(tf in_window)" "$N"
expect_eq "trickle: closed by the daemon after the 408" "$(( $(tf closed) + $(tf reset) ))" "$N"
note "trickle: answer times min $(tf min_ms) ms, median $(tf p50_ms) ms, max $(tf max_ms) ms"

wait_lines "$ACCESS" $((N + NORMAL))
sleep 0.3
expect_eq "access log: one line per trickling connection, timeout:client_header" \
	"$(count_matching "$ACCESS" ' status=408 outcome=timeout:client_header ')" "$N"
expect_eq "access log: one line per normal request, ok" \
	"$(count_matching "$ACCESS" ' status=200 outcome=ok ')" $NORMAL
expect_eq "access log: nothing else" "$(wc -l < "$ACCESS")" $((N + NORMAL))
fd_settle "after the trickle"
hg_curl "http://127.0.0.1:$HG_PORT/"
expect_eq "served after the trickle" "$CODE" 200
hg_stop_ok "slowloris"

# --- 2. max_connections -------------------------------------------------
ACCESS=$T/access2.log
LOG_SEEN=0
hg_up_srv "$T/hg2.ini" $'max_connections = 50\nworkers = 2' \
	'client_header = 30s' || finish

idle=()
for i in $(seq 50); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$HG_PORT" || { fail "idle connection $i"; break; }
	idle+=("$fd")
done
sleep 0.5	# let both workers accept them all
note "${#idle[@]} idle connections open; daemon holds $(fd_count "$HG_PID") descriptors"

d="51st connection"
raw_exchange "$T/resp" '' 3
expect_match "$d: 503" "$RESP_LINE" '^HTTP/1\.1 503 '
expect_eq "$d: closed by the daemon" "$EOF_RC" 0
log_expect "$d" 503 reject:overload
hg_curl "http://127.0.0.1:$HG_PORT/"
expect_eq "another connection over the limit: curl sees 503" "$CODE" 503
log_expect "curl over the limit" 503 reject:overload

for fd in "${idle[@]:0:10}"; do exec {fd}>&-; done
sleep 0.3	# the daemon sees the closes
for i in 1 2 3; do
	hg_curl "http://127.0.0.1:$HG_PORT/"
	expect_eq "after 10 closed, connection $i is served" "$CODE" 200
done
log_take "after 10 closed" 3
expect_eq "after 10 closed: all ok" "$(printf '%s\n' "$LOG_NEW" | grep -c ' status=200 outcome=ok ')" 3

# Back at the limit: 40 idle + 10 new idle; the next is refused again.
refill=()
for i in $(seq 10); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$HG_PORT" && refill+=("$fd")
done
sleep 0.3
raw_exchange "$T/resp" '' 3
expect_match "full again: 503" "$RESP_LINE" '^HTTP/1\.1 503 '
log_expect "full again" 503 reject:overload

for fd in "${idle[@]:10}" "${refill[@]}"; do exec {fd}>&-; done
fd_settle "all idle connections closed"
hg_curl "http://127.0.0.1:$HG_PORT/"
expect_eq "served once every idle connection closed" "$CODE" 200
log_expect "served again" 200 ok
hg_stop_ok "max_connections"

finish
