#!/usr/bin/env bash
# Every [timeouts] key can be overridden per [route]: two routes with
# different upstream_header against an origin that never answers fire at
# their own times, even while both run at once; a route's request,
# connect and retries overrides apply to it alone, and a route without
# overrides keeps the [timeouts] values.  About 6 s.
source "$(dirname "$0")/../upstream_lib.sh"

up_origin G || finish			# healthy
up_origin H --fail hang || finish	# never answers
up_origin R --fail reset || finish	# resets every request
up_blackhole BH || finish		# connects hang
SG=127.0.0.1:$G_PORT SH=127.0.0.1:$H_PORT SR=127.0.0.1:$R_PORT
SBH=127.0.0.1:$BH_PORT

ug_up "$T/hg.ini" \
	'[timeouts]' 'request = 10s' 'connect = 5s' 'upstream_header = 1500ms' \
	'retries = 1' '' \
	"$(ups h max_fails=0 -- "$SH")" "$(ups bh max_fails=0 -- "$SBH")" \
	"$(ups r0 max_fails=0 -- "$SR" "$SG")" "$(ups r1 max_fails=0 -- "$SR" "$SG")" \
	'[route /]' 'upstream = h' '' \
	'[route /a]' 'upstream = h' 'upstream_header = 300ms' '' \
	'[route /b]' 'upstream = h' 'upstream_header = 700ms' '' \
	'[route /req]' 'upstream = h' 'request = 500ms' '' \
	'[route /conn]' 'upstream = bh' 'connect = 200ms' 'retries = 0' '' \
	'[route /echo/r0]' 'upstream = r0' 'retries = 0' '' \
	'[route /echo/r1]' 'upstream = r1' \
	|| finish
U=http://127.0.0.1:$HG_PORT

note "/a (upstream_header = 300ms) and /b (700ms) at once"
w0=$(now_ms)
( w=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{time_total}' "$U/a"); echo "$w" > "$T/a.out" ) &
pa=$!
( w=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{time_total}' "$U/b"); echo "$w" > "$T/b.out" ) &
pb=$!
wait "$pa" "$pb"
read -r ca ta < "$T/a.out"
read -r cb tb < "$T/b.out"
expect_eq "/a: 504" "$ca" 504
expect_near "/a: fires at its own 300 ms" "$(ms_of "$ta")" 300
expect_eq "/b: 504" "$cb" 504
expect_near "/b: fires at its own 700 ms" "$(ms_of "$tb")" 700
log_take "/a and /b" 2
for p in /a /b; do
	line=$(printf '%s\n' "$LOG_NEW" | grep " target=$p ")
	expect_eq "$p: logged outcome" "$(lf outcome "$line")" timeout:upstream_header
	expect_eq "$p: logged tries (an upstream_header timeout is final)" "$(lf tries "$line")" 1
done

# case DESC PATH STATUS OUTCOME TRIES WANT_MS
case_() {
	note "$1"
	hg_curl "$U$2"
	expect_eq "$1: status" "$CODE" "$3"
	expect_near "$1: time (ms)" "$MS" "$6"
	log_take "$1" 1
	expect_log "$1" status="$3" outcome="$4" tries="$5"
}
case_ "no override: [timeouts] upstream_header = 1500ms" /hang 504 timeout:upstream_header 1 1500
case_ "request = 500ms on /req" /req 504 timeout:request 1 500
expect_log "request = 500ms on /req" deadline_ms=500
case_ "connect = 200ms, retries = 0 on /conn" /conn 504 timeout:connect 1 200
case_ "retries = 0 on /echo/r0: a reset GET is not retried" /echo/r0 502 error:upstream_reset 1 0
case_ "retries from [timeouts] (1) on /echo/r1: it is" /echo/r1 200 ok 2 0

hg_alive "end" && fd_settle "end"
finish
