#!/usr/bin/env bash
# Balancing: round_robin spreads requests evenly over equal servers and
# exactly by weight over weighted ones (smooth weighted round robin: 3:1
# gives 750/250 of 1,000); least_conn sends a new request to the server with
# the fewest requests in flight, ties broken by weight.  Counted by what each origin read (its
# event log).  About 5 s.
source "$(dirname "$0")/../upstream_lib.sh"

up_origin A || finish
up_origin B || finish
up_origin C || finish
SA=127.0.0.1:$A_PORT SB=127.0.0.1:$B_PORT SC=127.0.0.1:$C_PORT

# The origin answers /echo/... whatever follows, so each route's prefix is
# also a path it serves; /delay/MS goes to the least_conn group.
ug_up "$T/hg.ini" \
	'[timeouts]' 'request = 10s' 'retries = 0' '' \
	"$(ups rr max_fails=0 -- "$SA" "$SB" "$SC")" \
	"$(ups w max_fails=0 -- "$SA weight=3" "$SB weight=1")" \
	"$(ups lc balance=least_conn max_fails=0 -- "$SA" "$SB")" \
	"$(ups lcw balance=least_conn max_fails=0 -- "$SA" "$SB weight=2")" \
	'[route /echo/rr]' 'upstream = rr' \
	'[route /echo/w]' 'upstream = w' \
	'[route /delay/]' 'upstream = lc' \
	'[route /echo/lcw]' 'upstream = lcw' \
	|| finish
U=http://127.0.0.1:$HG_PORT

# many PATH N: N GETs of PATH?1..N on one keep-alive connection; sets GOT
# (how many were 200) and CONNS (connections curl opened).
many() {
	curl -s -m 60 -w 'CODE=%{http_code} CONNS=%{num_connects}\n' \
	    "$U$1?[1-$2]" > "$T/many.out"
	GOT=$(grep -c '^CODE=200 ' "$T/many.out")
	CONNS=$(sed -n 's/.*CODE=[0-9]* CONNS=\([0-9]*\)$/\1/p' "$T/many.out" |
	    awk '{ n += $1 } END { print n + 0 }')
}

note "round_robin, three equal servers, 1,200 requests"
t0=$(now_ms)
many /echo/rr 1200
note "1,200 requests in $(( $(now_ms) - t0 )) ms"
expect_eq "round_robin: all answered 200" "$GOT" 1200
expect_eq "round_robin: one client connection (keep-alive)" "$CONNS" 1
expect_eq "round_robin: server A got a third" "$(oreqs A /echo/rr)" 400
expect_eq "round_robin: server B got a third" "$(oreqs B /echo/rr)" 400
expect_eq "round_robin: server C got a third" "$(oreqs C /echo/rr)" 400
log_take "round_robin" 1200
expect_eq "round_robin: every line ok, tries=1" \
	"$(printf '%s\n' "$LOG_NEW" | grep -c ' outcome=ok .* tries=1 ')" 1200

note "round_robin with weights 3:1, 1,000 requests"
many /echo/w 1000
expect_eq "weighted: all answered 200" "$GOT" 1000
expect_eq "weighted: server A (weight 3) got 750" "$(oreqs A /echo/w)" 750
expect_eq "weighted: server B (weight 1) got 250" "$(oreqs B /echo/w)" 250
expect_eq "weighted: server C (not in the group) got none" "$(oreqs C /echo/w)" 0
# Smooth: B's turns are spread out (A A B A, over and over), not 750 A then
# 250 B.  The upstream= field of each access-log line, in order.
log_take "weighted" 1000
seq4=$(printf '%s\n' "$LOG_NEW" | sed -n 's/.* upstream=\([^ ]*\) .*/\1/p' |
	sed "s/^$SA\$/A/; s/^$SB\$/B/" | tr -d '\n')
expect_eq "weighted: the order repeats A A B A" "${seq4//AABA/}" ""

# Nothing in flight at each pick: every server ties at 0, and the tie is
# broken by weight (smooth weighted round robin among the tied), 1:2.
note "least_conn with weights 1:2, requests one at a time"
many /echo/lcw 30
expect_eq "least_conn, idle: all answered 200" "$GOT" 30
expect_eq "least_conn, idle: A (weight 1) got a third" "$(oreqs A /echo/lcw)" 10
expect_eq "least_conn, idle: B (weight 2) got two thirds" "$(oreqs B /echo/lcw)" 20
log_take "least_conn, idle" 30

note "least_conn: requests in flight steer new ones to the other server"
fd_settle "before least_conn"
# Three long requests, one at a time: with nothing in flight the first goes
# to either; the second to the other (0 < 1); the third to either (1 = 1).
bg=()
for i in 1 2 3; do
	curl -s -m 10 -o "$T/long.$i" -w '%{http_code}' "$U/delay/2500?long$i" \
	    > "$T/long.$i.code" &
	bg+=("$!")
	n=40
	while [ $(( $(oreqs A "/delay/2500?long") + $(oreqs B "/delay/2500?long") )) -lt $i ] &&
	    [ $n -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
done
la=$(oreqs A "/delay/2500?long")
lb=$(oreqs B "/delay/2500?long")
note "long requests in flight: A $la, B $lb"
expect_eq "least_conn: the three long requests are split 2/1" \
	"$(( la > lb ? la : lb ))/$(( la < lb ? la : lb ))" 2/1
idle=B busy=A
[ "$la" -lt "$lb" ] && { idle=A busy=B; }
# While they run, every short request goes to the server with fewer in
# flight, even though round robin would alternate.
for i in $(seq 20); do
	curl -s -m 5 -o /dev/null "$U/delay/1?short$i"
done
expect_eq "least_conn: the less loaded server ($idle) got all 20 short requests" \
	"$(oreqs $idle "/delay/1?short")" 20
expect_eq "least_conn: the busier server ($busy) got none" \
	"$(oreqs $busy "/delay/1?short")" 0
for p in "${bg[@]}"; do wait "$p"; done
expect_eq "least_conn: the long requests were answered" \
	"$(cat "$T/long.1.code" "$T/long.2.code" "$T/long.3.code" | tr -d '\n')" 200200200
log_take "least_conn" 23
expect_eq "least_conn: every line ok" \
	"$(printf '%s\n' "$LOG_NEW" | grep -c ' status=200 outcome=ok ')" 23

hg_alive "end" && fd_settle "end"
finish
