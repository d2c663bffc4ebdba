#!/usr/bin/env bash
# SIGHUP reload with workers = 2, as an operator sees it: requests in flight
# keep their configuration and finish whole; new requests use the new one;
# connections survive; a bad file is refused with every error named and the
# old configuration keeps serving; listen lines added and removed by a
# reload open and close ports.
source "$(dirname "$0")/../ops_lib.sh"

origin_up || finish
dead_port_up || finish
U=

# Generation 1 (the file at start): /drip may idle 2 s; /delay and /gone
# fall to [route /] (the origin; /gone is its 404).
ops_config "$T/a.ini" 'upstream_header = 5s' \
	'' '[route /drip]' 'upstream = o' 'upstream_idle = 2s'
# Generation 2: /drip may idle only 50 ms (the origin drips every 100 ms),
# /delay gets upstream_header 250ms, and the new route /gone goes to the
# refused port.
ops_config "$T/b.ini" 'upstream_header = 5s' \
	'' '[route /drip]' 'upstream = o' 'upstream_idle = 50ms' \
	'' '[route /delay]' 'upstream = o' 'upstream_header = 250ms' \
	'' '[route /gone]' 'upstream = dead'
cp "$T/a.ini" "$T/live.ini"
ops_up "$T/live.ini" || finish
U=http://127.0.0.1:$HG_PORT

note "before the reload"
hg_curl "$U/delay/500?old"
expect_eq "old config: /delay/500 is relayed" "$CODE" 200
hg_curl "$U/gone?old"
expect_eq "old config: /gone goes to the origin (its 404)" "$CODE" 404
log_expect_for "old config: /gone" "/gone?old" 404 ok

# An idle keep-alive connection, opened before the reload.
raw_open
raw_get "/?ka1"
expect_eq "keep-alive connection: first request" "$RAW_STATUS" 200

# A request in flight across the reload (/drip/10/100: 1 s), and a second
# request on its connection once it is done.
(
	curl -s -m 10 -w '%{http_code} %{num_connects} %{size_download} %{exitcode}\n' \
	    -o "$T/k1.body" "$U/drip/10/100?inflight" -o "$T/k2.body" "$U/?after" \
	    > "$T/k.res.tmp"
	mv "$T/k.res.tmp" "$T/k.res"
) &
_pids+=("$!")
wait_grep "$OEVENTS" '^request [0-9]+ /drip/10/100\?inflight' 100 ||
    fail "the request to be in flight did not reach the origin"
sleep 0.25
note "reload while /drip/10/100 is in flight"
cp "$T/b.ini" "$T/live.ini"
hg_reload "good reload" "reloaded" || finish
check "it says generation 1" grep -q 'configuration generation 1' "$HG_ERR"
# "reloaded" is logged when every worker has been sent the new file; give
# the worker loops a moment to take it.
sleep 0.1

note "after the reload"
hg_curl "$U/gone?new"
expect_eq "new route /gone goes to the refused port" "$CODE" 502
log_expect_for "new route /gone" "/gone?new" 502 error:connect
expect_eq "it logs the new route" "$(lf route "$LOGL")" "/gone"
hg_curl "$U/delay/500?new"
expect_eq "changed upstream_header: /delay/500 now times out" "$CODE" 504
expect_near "it fires at the new upstream_header (250 ms)" "$MS" 250
log_expect_for "changed upstream_header" "/delay/500?new" 504 timeout:upstream_header
hg_curl "$U/drip/10/100?new"
expect_eq "changed upstream_idle: a new /drip/10/100 is cut (curl exit 18)" "$RC" 18
log_expect_for "changed upstream_idle" "/drip/10/100?new" 200 timeout:upstream_idle

# The request that was in flight kept its own upstream_idle (2 s).
wait_file "$T/k.res" 100 || fail "the in-flight curl did not end"
r1=$(sed -n 1p "$T/k.res"); r2=$(sed -n 2p "$T/k.res")
expect_eq "in flight across the reload: status, bytes, curl exit" \
	"$(echo "$r1" | awk '{print $1, $3, $4}')" "200 10 0"
expect_eq "in flight across the reload: whole body" "$(cat "$T/k1.body" 2>/dev/null)" 0123456789
log_expect_for "in flight across the reload" "/drip/10/100?inflight" 200 ok
expect_eq "its connection then served another request (status, new connects)" \
	"$(echo "$r2" | awk '{print $1, $2}')" "200 0"
log_expect_for "the request after it on that connection" "/?after" 200 ok

raw_get "/?ka2"
expect_eq "the idle keep-alive connection from before the reload still serves" \
	"$RAW_STATUS" 200
raw_close

# A bad file: every error is logged, the reload is refused, and generation 2
# keeps serving (the bad file would send / to the refused port and drop
# /gone and the /delay override).
note "bad reload"
HG_NO_ROOT_ROUTE=1 ops_config "$T/bad.ini" 'upstream_header = 5s' 'connect = 2x' \
	'' '[route /drip]' 'upstream = o' 'bogus_key = 1' \
	'' '[nosuch]' \
	'' '[route /]' 'upstream = nothere'
cp "$T/bad.ini" "$T/live.ini"
l_connect=$(grep -n '^connect = 2x' "$T/bad.ini" | cut -d: -f1)
l_bogus=$(grep -n '^bogus_key' "$T/bad.ini" | cut -d: -f1)
l_nosuch=$(grep -n '^\[nosuch\]' "$T/bad.ini" | cut -d: -f1)
l_up=$(grep -n '^upstream = nothere' "$T/bad.ini" | cut -d: -f1)
hg_reload "bad reload" "reload refused"
check "it names connect (line $l_connect)" \
	grep -q "live.ini:$l_connect: \[timeouts\] connect = \"2x\": not a duration" "$HG_ERR"
check "it names the unknown key (line $l_bogus)" \
	grep -q "live.ini:$l_bogus: \[route /drip\] bogus_key = \"1\": unknown key" "$HG_ERR"
check "it names the unknown section (line $l_nosuch)" \
	grep -q "live.ini:$l_nosuch: \[nosuch\]: unknown section" "$HG_ERR"
check "it names the unknown upstream (line $l_up)" \
	grep -q "live.ini:$l_up: \[route /\] upstream = \"nothere\": no such upstream" "$HG_ERR"
check "it names the generation kept (1)" \
	grep -q 'reload refused: .*live.ini is invalid, keeping configuration generation 1' "$HG_ERR"
hg_curl "$U/?bad"
expect_eq "after the bad reload: / still goes to the origin" "$CODE" 200
hg_curl "$U/gone?bad"
expect_eq "after the bad reload: the route /gone is still there" "$CODE" 502
hg_curl "$U/delay/500?bad"
expect_eq "after the bad reload: /delay keeps upstream_header 250ms" "$CODE" 504
expect_near "after the bad reload: /delay times out at 250 ms" "$MS" 250
hg_alive "bad reload" && ok "the daemon survives the bad reload"

# Listen lines: a reload adds 127.0.0.1:PORT2 (every worker binds it), a
# later one removes it (connects are refused); the first port serves
# throughout and is never re-bound.
note "listener added, then removed"
P2=$(free_port)
sed "s/^listen = 127.0.0.1:0\$/&\nlisten = 127.0.0.1:$P2/" "$T/b.ini" > "$T/live.ini"
check "the new file lists both addresses" grep -q "^listen = 127.0.0.1:$P2" "$T/live.ini"
hg_reload "reload adding 127.0.0.1:$P2" "reloaded"
if wait_count "$HG_ERR" "listening on 127.0.0.1:$P2\$" "$HG_WORKERS" 60; then
	ok "each worker listens on 127.0.0.1:$P2"
else
	fail "not every worker logged 'listening on 127.0.0.1:$P2'"
	grep listening "$HG_ERR" | sed 's/^/  hourglass: /'
fi
codes=
for i in 1 2 3 4 5 6; do
	hg_curl "http://127.0.0.1:$P2/?p2=$i"; codes="$codes$CODE "
done
expect_eq "six connections to the added port" "$codes" "200 200 200 200 200 200 "
hg_curl "$U/?p1a"
expect_eq "the first port still serves" "$CODE" 200

cp "$T/b.ini" "$T/live.ini"
hg_reload "reload removing 127.0.0.1:$P2" "reloaded"
if wait_count "$HG_ERR" "no longer listening on 127.0.0.1:$P2\$" "$HG_WORKERS" 60; then
	ok "each worker stopped listening on 127.0.0.1:$P2"
else
	fail "not every worker logged 'no longer listening on 127.0.0.1:$P2'"
fi
hg_curl "http://127.0.0.1:$P2/?p2=gone"
expect_eq "a connect to the removed port is refused (curl exit 7)" "$RC" 7
hg_curl "$U/?p1b"
expect_eq "the first port still serves" "$CODE" 200
ports=$(grep -v "no longer" "$HG_ERR" | sed -n "s/.*listening on 127.0.0.1:\([0-9]*\)\$/\1/p" | sort -u | tr "\n" " ")
want=$(printf '%s\n' "$HG_PORT" "$P2" | sort -u | tr '\n' ' ')
expect_eq "ports ever bound: the first and the added one" "$ports" "$want"
expect_eq "the first port was bound once per worker, never again" \
	"$(grep -c "listening on 127.0.0.1:$HG_PORT\$" "$HG_ERR")" "$HG_WORKERS"

# Upstream pools: a second origin (o2) behind /bytes, whose pooled
# connections may idle 60 s.  A reload that keeps o2 keeps its pooled
# connection (one client connection, so one worker, throughout); a reload
# that removes o2 closes it.
note "pooled upstream connections across reloads"
"$ORIGIN" --listen 127.0.0.1:0 --port-file "$T/o2.port" --log "$T/o2.events" \
    > "$T/o2.log" 2>&1 &
_pids+=("$!")
wait_file "$T/o2.port" || fail "second origin did not start"
O2=$(cat "$T/o2.port")
o2n() { grep -c "^$1 " "$T/o2.events" 2>/dev/null || true; }
{ cat "$T/b.ini"; printf '\n[upstream o2]\nserver = 127.0.0.1:%s\nkeepalive = 8\n' "$O2"
  printf 'keepalive_idle = 60s\nmax_fails = 0\n\n[route /bytes]\nupstream = o2\n'; } > "$T/c.ini"
cp "$T/c.ini" "$T/live.ini"
hg_reload "reload adding upstream o2" "reloaded"
sleep 0.1
raw_open
raw_get "/bytes/10?o2a"
expect_eq "/bytes goes to o2" "$RAW_STATUS/$(o2n request)" "200/1"
sleep 0.4
expect_eq "o2's connection is pooled, not closed (accepts/closes)" "$(o2n accept)/$(o2n close)" "1/0"
hg_reload "reload keeping o2" "reloaded"
sleep 0.1
raw_get "/bytes/10?o2b"
expect_eq "after a reload keeping o2, the pooled connection serves (requests/accepts)" \
	"$RAW_STATUS $(o2n request)/$(o2n accept)" "200 2/1"
cp "$T/b.ini" "$T/live.ini"
hg_reload "reload removing o2" "reloaded"
n=60; while [ $n -gt 0 ] && [ "$(o2n close)" -lt 1 ]; do sleep 0.05; n=$((n - 1)); done
expect_eq "the reload removing o2 closed its pooled connection" "$(o2n close)" 1
raw_get "/bytes/10?o2c"
expect_eq "then /bytes goes to the first origin" "$RAW_STATUS $(o2n request)" "200 2"
raw_close

hg_stop_wait
expect_eq "SIGTERM: exit status" "$HG_RC" 0
finish
