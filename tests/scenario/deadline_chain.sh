#!/usr/bin/env bash
# A chain of two hourglass instances shares one deadline through the
# propagated X-Request-Timeout, as gRPC deadlines do.  The outer one has
# request = 1s, the inner one request = 10s, in front of an origin that
# never answers.  The inner one is told what the outer one had left, in
# whole ms rounded down, so its request scope (deadline_ms <= 1000) ends
# at ~1 s, not 10 s, a fraction of a millisecond before the outer one's.
# Normally the inner one fires first (timeout:request, 504) and the outer
# one relays that answer (status=504 outcome=ok).  The two deadlines are
# less than 1 ms apart by design, so on a loaded machine the outer one may
# fire first (outer timeout:request, inner abort:client when the outer one
# goes away); each round must be one of these two consistent pairs, and the
# inner one must fire first in at least one round (on an idle machine it
# does in all of them; under load about one round in five flips).  Neither
# leaks a descriptor.
# About 10 s.
source "$(dirname "$0")/../upstream_lib.sh"

ROUNDS=5

up_origin H --fail hang || finish
SH=127.0.0.1:$H_PORT

ACCESS=$T/inner.log
ug_up "$T/inner.ini" \
	'[timeouts]' 'request = 10s' 'upstream_header = 30s' 'retries = 0' '' \
	"$(ups h max_fails=0 -- "$SH")" '[route /]' 'upstream = h' || finish
IN_PID=$HG_PID IN_PORT=$HG_PORT IN_ERR=$HG_ERR IN_FD0=$FD0 IN_ACCESS=$ACCESS

ACCESS=$T/outer.log
ug_up "$T/outer.ini" \
	'[timeouts]' 'request = 1s' 'upstream_header = 30s' 'retries = 0' '' \
	"$(ups inner max_fails=0 -- "127.0.0.1:$IN_PORT")" '[route /]' 'upstream = inner' || finish
OUT_PID=$HG_PID OUT_PORT=$HG_PORT OUT_ERR=$HG_ERR OUT_FD0=$FD0 OUT_ACCESS=$ACCESS
U=http://127.0.0.1:$OUT_PORT

# take WHICH K: the K new access-log lines of the inner or outer daemon
# (log_take on its log); LOG1 is the first.
IN_SEEN=0 OUT_SEEN=0
take() {
	if [ "$1" = inner ]; then
		ACCESS=$IN_ACCESS LOG_SEEN=$IN_SEEN; log_take "$3" "$2"; IN_SEEN=$LOG_SEEN
	else
		ACCESS=$OUT_ACCESS LOG_SEEN=$OUT_SEEN; log_take "$3" "$2"; OUT_SEEN=$LOG_SEEN
	fi
}

first=0
for r in $(seq $ROUNDS); do
	d="round $r"
	hg_curl "$U/hang?$r"
	expect_eq "$d: the client gets 504" "$CODE" 504
	expect_near "$d: after ~1 s (ms)" "$MS" 1000
	take inner 1 "$d: inner"
	inner=$LOG1
	expect_range "$d: inner: deadline_ms (propagated, <= 1000)" \
	    "$(lf deadline_ms "$inner")" 950 1000
	expect_near "$d: inner: logged total (ms)" "$(logged_ms "$inner")" 1000
	take outer 1 "$d: outer"
	outer=$LOG1
	expect_eq "$d: outer: status" "$(lf status "$outer")" 504
	expect_eq "$d: outer: deadline_ms" "$(lf deadline_ms "$outer")" 1000
	pair="inner $(lf status "$inner") $(lf outcome "$inner"), outer $(lf outcome "$outer")"
	case $pair in
	"inner 504 timeout:request, outer ok")
		first=$((first + 1)); ok "$d: the inner one fired first, the outer one relayed its 504" ;;
	"inner 499 abort:client, outer timeout:request")
		note "$d: the outer one fired first (less than 1 ms apart)" ;;
	"inner 504 timeout:request, outer timeout:request")
		note "$d: both fired before the inner's 504 reached the outer" ;;
	*)	fail "$d: inconsistent outcomes: $pair" ;;
	esac
done
expect_range "rounds in which the inner one fired first" "$first" 1 $ROUNDS

note "the client's own X-Request-Timeout travels down the chain"
hg_curl -H 'X-Request-Timeout: 400' "$U/hang?short"
expect_eq "400 from the client: 504" "$CODE" 504
expect_near "400 from the client: after ~400 ms" "$MS" 400
take inner 1 "400 from the client: inner"
inner=$LOG1
expect_range "400 from the client: inner: deadline_ms" "$(lf deadline_ms "$inner")" 350 400
expect_near "400 from the client: inner: logged total (ms)" "$(logged_ms "$inner")" 400
take outer 1 "400 from the client: outer"
expect_eq "400 from the client: outer: deadline_ms" "$(lf deadline_ms "$LOG1")" 400
# As in the rounds above: both may fire before the inner's 504 arrives.
expect_match "400 from the client: consistent outcomes" \
	"inner $(lf outcome "$inner"), outer $(lf outcome "$LOG1")" \
	'^inner (timeout:request, outer (ok|timeout:request)|abort:client, outer timeout:request)$'

HG_PID=$IN_PID FD0=$IN_FD0 HG_ERR=$IN_ERR fd_settle "inner"
HG_PID=$OUT_PID FD0=$OUT_FD0 HG_ERR=$OUT_ERR fd_settle "outer"
finish
