#!/usr/bin/env bash
# Passive health: a server that stops is marked down after max_fails
# failures, clients see no error meanwhile (a refused connect is retried on
# the other server), it gets no traffic while down even once it is healthy
# again, and after fail_timeout one trial request brings it back (or, if
# it is still dead, marks it down again at once); that trial is the only
# request it takes until it answers.  Failures count toward max_fails only
# within fail_timeout.  When every server of a group is down the answer is
# 503 error:no_upstream at once, and the error log says why.  About 10 s.
source "$(dirname "$0")/../upstream_lib.sh"

FAIL_MS=3000	# fail_timeout of group h

up_origin A || finish
up_origin B || finish
up_dead D1 || finish
up_dead D2 || finish
up_dead D3 || finish
up_dead C || finish
up_dead W || finish
SA=127.0.0.1:$A_PORT SB=127.0.0.1:$B_PORT
SD1=127.0.0.1:$D1_PORT SD2=127.0.0.1:$D2_PORT SD3=127.0.0.1:$D3_PORT
SC=127.0.0.1:$C_PORT SW=127.0.0.1:$W_PORT

ug_up "$T/hg.ini" \
	'[timeouts]' 'request = 5s' 'connect = 1s' 'retries = 1' '' \
	"$(ups h max_fails=2 fail_timeout=${FAIL_MS}ms -- "$SA" "$SB")" \
	"$(ups dd max_fails=1 fail_timeout=10s -- "$SD1" "$SD2")" \
	"$(ups tr max_fails=2 fail_timeout=1s -- "$SD3" "127.0.0.1:$B_PORT")" \
	"$(ups solo fail_timeout=10s -- "$SB")" \
	"$(ups one max_fails=1 fail_timeout=1s -- "$SC" "$SB")" \
	"$(ups win max_fails=2 fail_timeout=800ms -- "$SW" "$SB")" \
	'[route /echo/solo]' 'upstream = solo' \
	'[route /reset]' 'upstream = solo' \
	'[route /echo/h]' 'upstream = h' \
	'[route /echo/dd]' 'upstream = dd' \
	'[route /echo/tr]' 'upstream = tr' \
	'[route /echo/one]' 'upstream = one' \
	'[route /echo/win]' 'upstream = win' \
	|| finish
U=http://127.0.0.1:$HG_PORT

# seq_get PATH N TAG: N sequential GETs; sets CODES (the distinct statuses
# with their counts, e.g. "10x200") and SLOW (the slowest, ms).
seq_get() {
	local i codes=() w
	SLOW=0
	for i in $(seq "$2"); do
		w=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{time_total}' "$U$1?$3$i")
		codes+=("${w% *}")
		w=$(ms_of "${w#* }")
		[ "$w" -gt "$SLOW" ] && SLOW=$w
	done
	CODES=$(printf '%s\n' "${codes[@]}" | sort | uniq -c | awk '{ printf "%s%sx%s", s, $1, $2; s = " " }')
}

note "both servers healthy"
seq_get /echo/h 4 warm
expect_eq "warm-up: all 200" "$CODES" 4x200
expect_eq "warm-up: A served half" "$(oreqs A /echo/h)" 2
expect_eq "warm-up: B served half" "$(oreqs B /echo/h)" 2
log_take "warm-up" 4

note "A stops: ejected after max_fails = 2, no client error"
stop_pid "$A_PID"
sleep 0.3	# its pooled connections close and the daemon notices
b0=$(oreqs B /echo/h)
seq_get /echo/h 10 dead
t_down=$(now_ms)
expect_eq "A stopped: all 10 requests still 200" "$CODES" 10x200
expect_range "A stopped: slowest request (ms)" "$SLOW" 0 300
expect_eq "A stopped: B served all 10" "$(( $(oreqs B /echo/h) - b0 ))" 10
errlog_expect "A stopped: each failure on A is logged" 2 \
	"req [0-9a-f]+: try 1 on $SA failed: error:connect"
errlog_expect "A stopped: A marked down once, after 2 failures" 1 \
	"upstream h: server $SA marked down for $FAIL_MS ms after 2 failures"
log_take "A stopped" 10
expect_eq "A stopped: every line ok" \
	"$(printf '%s\n' "$LOG_NEW" | grep -c ' status=200 outcome=ok upstream=127.0.0.1:'"$B_PORT"' ')" 10
expect_eq "A stopped: two requests needed a retry (tries=2)" \
	"$(printf '%s\n' "$LOG_NEW" | grep -c ' tries=2 ')" 2

note "group tr: its dead server D3 is marked down too (checked later)"
seq_get /echo/tr 6 tr
expect_eq "tr: all 200" "$CODES" 6x200
errlog_expect "tr: D3 marked down after 2 failures" 1 \
	"upstream tr: server $SD3 marked down for 1000 ms after 2 failures"
log_take "tr" 6

note "A restarts on the same port: still down until fail_timeout"
mv "$T/A.events" "$T/A.events.old"
up_origin A --listen "$SA" || finish
b0=$(oreqs B /echo/h)
seq_get /echo/h 6 early
expect_eq "while down: all 200" "$CODES" 6x200
expect_eq "while down: A got nothing though it is healthy" "$(oreqs A /echo/h)" 0
expect_eq "while down: B served all" "$(( $(oreqs B /echo/h) - b0 ))" 6
errlog_expect "while down: A not tried" 2 "try 1 on $SA failed"
log_take "while down" 6

left=$(( t_down + FAIL_MS + 100 - $(now_ms) ))
[ $left -gt 0 ] && sleep "$(awk -v m=$left 'BEGIN { printf "%.3f", m / 1000 }')"
note "after fail_timeout: a trial request goes to A and it is back up"
seq_get /echo/h 10 back
expect_eq "back: all 200" "$CODES" 10x200
errlog_expect "back: A is back up" 1 "upstream h: server $SA is back up"
expect_range "back: A serves its share again" "$(oreqs A /echo/h)" 4 6
errlog_expect "back: no failure since" 2 "try 1 on $SA failed"
log_take "back" 10

note "group tr, after its fail_timeout (1s): D3 is still dead"
seq_get /echo/tr 6 trial
expect_eq "failed trial: all 200 (retried on B)" "$CODES" 6x200
errlog_expect "failed trial: D3 tried once more" 3 "try 1 on $SD3 failed: error:connect"
errlog_expect "failed trial: a failed trial marks it down at once" 1 \
	"upstream tr: server $SD3 marked down for 1000 ms after 1 failure "
log_take "failed trial" 6

note "every server of a group down"
hg_curl "$U/echo/dd?1"
expect_eq "both refuse: 502" "$CODE" 502
expect_range "both refuse: answered at once (ms)" "$MS" 0 300
log_take "both refuse" 1
expect_log "both refuse" status=502 outcome=error:connect tries=2
errlog_expect "both refuse: each marked down" 2 \
	"upstream dd: server ($SD1|$SD2) marked down for 10000 ms after 1 failure "
hg_curl "$U/echo/dd?2"
expect_eq "all down: 503" "$CODE" 503
expect_range "all down: answered at once (ms)" "$MS" 0 300
log_take "all down" 1
expect_log "all down" status=503 outcome=error:no_upstream
id=$(rid "$LOG1")
errlog_expect "all down: the error log says why" 1 \
	"req $id: upstream dd: every server is marked down"
hg_curl "$U/echo/h?3"
expect_eq "the other group still serves" "$CODE" 200
log_take "other group" 1

# As shipped (max_fails = 1, the default): a failure of the only server
# does not take the group out of service: there is nowhere else to go.
note "the only server of a group is never marked down"
hg_curl "$U/reset?solo"
expect_eq "solo: a reset is 502" "$CODE" 502
log_take "solo reset" 1
# retries = 1: with no other server, the retry goes to the same one
expect_log "solo reset" status=502 outcome=error:upstream_reset tries=2
b0=$(oreqs B /echo/solo)
hg_curl "$U/echo/solo?after"
expect_eq "solo: the next request is served" "$CODE" 200
log_take "solo after" 1
expect_log "solo after" status=200 outcome=ok
expect_eq "solo: by the only server" "$(( $(oreqs B /echo/solo) - b0 ))" 1
errlog_expect "solo: never marked down" 0 "upstream solo: server .* marked down"

# fail_timeout is also the window in which max_fails failures count: two
# failures 1.2 s apart (fail_timeout 800 ms) do not mark W down; two
# within it do.
note "failures older than fail_timeout no longer count"
# fail_on_w N: requests to group win, one at a time, until W has failed N
# times in all (at most 6 requests); each is 200 (retried on B).
WIN_N=0
fail_on_w() {
	local i
	for i in $(seq 6); do
		[ "$(errlog_count "try 1 on $SW failed")" -ge "$1" ] && return 0
		hg_curl "$U/echo/win?$1.$i"
		WIN_N=$((WIN_N + 1))
		expect_eq "win: request $1.$i (retried on B if it went to W): 200" "$CODE" 200
	done
	[ "$(errlog_count "try 1 on $SW failed")" -ge "$1" ] ||
	    fail "win: W has not failed $1 times after 6 more requests"
}
fail_on_w 1
sleep 1.2
fail_on_w 2
errlog_expect "win: a failure 1.2 s after the first does not mark W down" 0 \
	"upstream win: server $SW marked down"
fail_on_w 3
errlog_expect "win: the next one, within 800 ms, does" 1 \
	"upstream win: server $SW marked down for 800 ms after 2 failures "
log_take "win" "$WIN_N"

# After fail_timeout a server that was down takes one trial request at a
# time: while the trial is in flight (C answers after 1 s) every other
# request goes to B.
note "one trial request at a time"
hg_curl "$U/echo/one?down"
expect_eq "one: C refused, the retry on B: 200" "$CODE" 200
errlog_expect "one: C marked down" 1 "upstream one: server $SC marked down for 1000 ms"
t_down=$(now_ms)
log_take "one: C down" 1
up_origin C --listen "$SC" --delay 1000 || finish
left=$(( t_down + 1200 - $(now_ms) ))
[ $left -gt 0 ] && sleep "$(awk -v m=$left 'BEGIN { printf "%.3f", m / 1000 }')"
b0=$(oreqs B /echo/one)
par_curl 6 trial "$U/echo/one?trial"
expect_eq "one: all 6 answered 200" "$(cat "$T"/trial.* | awk '{ print $1 }' | sort | uniq -c | awk '{ print $1 "x" $2 }')" 6x200
expect_eq "one: C took one trial request" "$(oreqs C /echo/one)" 1
expect_eq "one: B took the other 5" "$(( $(oreqs B /echo/one) - b0 ))" 5
errlog_expect "one: C is back up" 1 "upstream one: server $SC is back up"
log_take "one: trial" 6

hg_alive "end" && fd_settle "end"
finish
