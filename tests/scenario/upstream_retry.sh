#!/usr/bin/env bash
# Retries within the budget (README, "Deadlines and outcomes"): a connect
# failure or connect timeout is always retried, on the other server; a try
# timeout, reset or close before any response byte is retried only for an
# idempotent request without a body; an upstream_header timeout is not
# retried; a retry never extends `request` (when the budget left is shorter
# than the backoff the request ends with the original cause), and the
# backoff (full jitter in [0, min(250ms, 25ms*2^n))) stays inside the
# budget.  Each group below lists the failing server first: a fresh group's
# first pick is its first server, and each group serves one request only
# (or only failing ones).
# About 10 s.
source "$(dirname "$0")/../upstream_lib.sh"

up_origin G || finish			# healthy
up_origin R --fail reset || finish	# resets every request
up_origin C --fail close || finish	# closes without answering
up_origin H --fail hang || finish	# never answers
up_blackhole BH || finish		# connects hang
up_blackhole BH2 || finish
up_dead D1 || finish			# connects are refused
up_dead D2 || finish
SG=127.0.0.1:$G_PORT SR=127.0.0.1:$R_PORT SC=127.0.0.1:$C_PORT
SH=127.0.0.1:$H_PORT SBH=127.0.0.1:$BH_PORT SBH2=127.0.0.1:$BH2_PORT
SD1=127.0.0.1:$D1_PORT SD2=127.0.0.1:$D2_PORT

# Every route is /echo/NAME on group NAME, so that the healthy origin
# echoes it; groups never mark servers down (max_fails = 0).
sects=()
# grp NAME SERVER... -- [ROUTE KEY=VALUE...]
grp() {
	local name=$1 s=() kv
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do s+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	sects+=("$(ups "$name" max_fails=0 -- "${s[@]}")" "[route /echo/$name]" "upstream = $name")
	for kv in "$@"; do sects+=("${kv%%=*} = ${kv#*=}"); done
	sects+=("")
}
grp rget "$SR" "$SG"
grp rdel "$SR" "$SG"
grp cget "$SC" "$SG"
grp rpost "$SR" "$SG"
grp cpost "$SC" "$SG"
grp rgetbody "$SR" "$SG"
grp rpostnb "$SR" "$SG"
grp rpatch "$SR" "$SG"
grp rput "$SR" "$SG"
grp rhead "$SR" "$SG"
grp ropt "$SR" "$SG"
grp tpostnb "$SH" "$SG" -- try=300ms
sects+=("$(ups stale max_fails=0 -- "$SG")" '[route /drop-next]' 'upstream = stale' \
	'retries = 0' '' '[route /]' 'upstream = stale' 'retries = 0' '')
grp wretry "$SR weight=3" "$SG"
grp tget "$SH" "$SG" -- try=300ms
grp tpost "$SH" "$SG" -- try=300ms
grp uh "$SH" "$SG" -- upstream_header=300ms
grp cto "$SBH" "$SG" -- connect=300ms
grp refused "$SD1" "$SG"
grp short "$SBH" "$SG" -- connect=2s request=400ms
grp nofit "$SBH" "$SBH2" -- connect=290ms request=300ms
grp budget "$SD1" "$SD2" -- retries=10 request=200ms

ug_up "$T/hg.ini" \
	'[timeouts]' 'request = 5s' 'connect = 2s' 'upstream_header = 5s' \
	'retries = 1' '' "${sects[@]}" || finish
U=http://127.0.0.1:$HG_PORT

# case DESC PATH STATUS OUTCOME TRIES LO_MS HI_MS [CURL ARGS...]: one request;
# its status, time window, access-log line (status, outcome, tries).
case_() {
	local d=$1 path=$2 status=$3 outcome=$4 tries=$5 lo=$6 hi=$7
	shift 7
	note "$d"
	hg_curl "$@" "$U$path"
	expect_eq "$d: status" "$CODE" "$status"
	expect_range "$d: time (ms)" "$MS" "$lo" "$hi"
	log_take "$d" 1
	expect_log "$d" status="$status" outcome="$outcome" tries="$tries"
	ID=$(rid "$LOG1")
}

# try_failed N SERVER CAUSE: the error log has exactly N lines for attempts
# of request $ID on SERVER that failed with CAUSE.
try_failed() {
	errlog_expect "req $ID: try on $2 failed with $3" "$1" \
	    "req $ID: try [0-9]+ on $2 failed: $3"
}

case_ "GET reset before the response: retried on the other server" \
	/echo/rget 200 ok 2 0 300
try_failed 1 "$SR" error:upstream_reset
expect_eq "reset GET: the resetting server got it" "$(oreqs R /echo/rget)" 1
expect_eq "reset GET: the healthy server answered it" "$(oreqs G /echo/rget)" 1
expect_eq "reset GET: upstream= is the server that answered" "$(lf upstream "$LOG1")" "$SG"

case_ "DELETE reset before the response: retried" \
	/echo/rdel 200 ok 2 0 300 -X DELETE
try_failed 1 "$SR" error:upstream_reset

case_ "GET closed before the response: retried" \
	/echo/cget 200 ok 2 0 300
try_failed 1 "$SC" error:upstream_closed

case_ "POST with a body reset: not retried" \
	/echo/rpost 502 error:upstream_reset 1 0 300 --data-binary abc
expect_eq "reset POST: the healthy server never saw it" "$(oreqs G /echo/rpost)" 0
try_failed 1 "$SR" error:upstream_reset

case_ "POST with a body closed: not retried" \
	/echo/cpost 502 error:upstream_closed 1 0 300 --data-binary abc
expect_eq "closed POST: the healthy server never saw it" "$(oreqs G /echo/cpost)" 0

case_ "GET with a body reset: not retried (it has a body)" \
	/echo/rgetbody 502 error:upstream_reset 1 0 300 -X GET --data-binary abc
expect_eq "reset GET with body: the healthy server never saw it" "$(oreqs G /echo/rgetbody)" 0

# The method alone decides, apart from the body: each of these has none.
case_ "POST without a body reset: not retried (not idempotent)" \
	/echo/rpostnb 502 error:upstream_reset 1 0 300 -X POST
expect_eq "reset POST without body: the healthy server never saw it" \
	"$(oreqs G /echo/rpostnb)" 0
case_ "PATCH without a body reset: not retried" \
	/echo/rpatch 502 error:upstream_reset 1 0 300 -X PATCH
expect_eq "reset PATCH: the healthy server never saw it" "$(oreqs G /echo/rpatch)" 0
case_ "PUT without a body reset: retried (idempotent)" \
	/echo/rput 200 ok 2 0 300 -X PUT
expect_eq "reset PUT: the healthy server answered it" "$(oreqs G /echo/rput)" 1
case_ "HEAD reset: retried" /echo/rhead 200 ok 2 0 300 -I
expect_eq "reset HEAD: the healthy server answered it" "$(oreqs G /echo/rhead)" 1
case_ "OPTIONS reset: retried" /echo/ropt 200 ok 2 0 300 -X OPTIONS
expect_eq "reset OPTIONS: the healthy server answered it" "$(oreqs G /echo/ropt)" 1
case_ "try timeout on a POST without a body: not retried" \
	/echo/tpostnb 504 timeout:try 1 150 450 -X POST
expect_eq "try timeout POST without body: the healthy server never saw it" \
	"$(oreqs G /echo/tpostnb)" 0

# A pooled connection that the upstream drops as it is reused (the origin
# closes it on the next request, unanswered): that attempt is retried at
# once on a fresh connection, though retries = 0, and it does not count as
# a try.
note "a pooled connection dropped by the upstream"
hg_curl "$U/drop-next?stale1"
expect_eq "stale: the first request" "$CODE" 200
# at once: the pool keeps an idle connection for 300 ms only
d="stale: the next request on the dropped connection is retried fresh"
hg_curl "$U/?stale2"
expect_eq "$d: status" "$CODE" 200
log_take "stale" 2
LOG1=$(printf '%s\n' "$LOG_NEW" | tail -n 1)
expect_log "$d" status=200 outcome=ok tries=1
ID=$(rid "$LOG1")
expect_eq "stale: the origin read it twice (dropped, then answered)" \
	"$(oreqs G "/?stale2")" 2
errlog_expect "stale: no try failed" 0 "req $ID: try .* failed"

# Weights 3:1, the heavy server resets: weighted round robin alone would
# pick it again for the retry; the retry must go to the other server.
case_ "a retry goes to another server, even a lighter one" \
	/echo/wretry 200 ok 2 0 300
expect_eq "weighted retry: the resetting server got it once" "$(oreqs R /echo/wretry)" 1

case_ "try timeout on an idempotent GET: retried" \
	/echo/tget 200 ok 2 300 475
try_failed 1 "$SH" timeout:try

case_ "try timeout on a POST: not retried" \
	/echo/tpost 504 timeout:try 1 150 450 --data-binary abc
expect_eq "try timeout POST: the healthy server never saw it" "$(oreqs G /echo/tpost)" 0

case_ "upstream_header timeout: never retried" \
	/echo/uh 504 timeout:upstream_header 1 150 450
expect_eq "upstream_header timeout: the healthy server never saw it" "$(oreqs G /echo/uh)" 0

# connect = 300ms, then a backoff in [0, 25ms), then a fast second try.
case_ "connect timeout (blackhole): retried on the other server" \
	/echo/cto 200 ok 2 290 475
try_failed 1 "$SBH" timeout:connect
expect_eq "connect timeout: upstream= is the second server" "$(lf upstream "$LOG1")" "$SG"

case_ "connect refused: retried at once on the other server" \
	/echo/refused 200 ok 2 0 300
try_failed 1 "$SD1" error:connect

# The design (README, "Deadlines and outcomes"): "with connect = 5s and 1 s
# left on request, a blackholed connect fails at 1 s as timeout:request" --
# the request scope is the earliest, so it is the cause, and nothing is left
# to retry in.
case_ "connect longer than the request: timeout:request, no retry" \
	/echo/short 504 timeout:request 1 250 550
expect_eq "short budget: the healthy server never saw it" "$(oreqs G /echo/short)" 0

# connect = 290ms, request = 300ms, both servers blackholed: after the
# first connect timeout ~10 ms are left and the first backoff is in
# [0, 25ms).  When it does not fit (60 % of the time) there is no retry and
# the request ends with the original cause, timeout:connect, tries=1, at
# ~290 ms; when it fits, the second try is cut by the request scope:
# timeout:request, tries=2, at 300 ms.  Never later.  On a loaded machine
# the connect scope may open more than 10 ms after the request scope; the
# request scope is then the earlier one and ends the first try itself:
# timeout:request, tries=1, also with no retry.
note "a retry whose backoff does not fit is not attempted (12 at once)"
par_curl 12 nofit "$U/echo/nofit"
log_take "no-fit" 12
n1=0 n2=0 n3=0 bad=0
for i in $(seq 12); do
	read -r code ms < "$T/nofit.$i"
	[ "$code" = 504 ] || { fail "no-fit $i: status $code, want 504"; bad=1; }
	[ "$ms" -le 450 ] || { fail "no-fit $i: $ms ms, past request + 150"; bad=1; }
done
[ $bad = 0 ] && ok "no-fit: all 12 were 504 within request + 150 ms"
while IFS= read -r line; do
	case "$(lf outcome "$line") $(lf tries "$line")" in
	"timeout:connect 1") n1=$((n1 + 1)) ;;
	"timeout:request 1") n1=$((n1 + 1)); n3=$((n3 + 1)) ;;
	"timeout:request 2") n2=$((n2 + 1)) ;;
	*) fail "no-fit: unexpected line: $line" ;;
	esac
	[ "$(logged_ms "$line")" -le 350 ] ||
	    fail "no-fit: logged total past request: $line"
done <<< "$LOG_NEW"
note "no-fit: $n1 ended with tries=1 ($n3 of them by the request scope), $n2 timeout:request with tries=2"
expect_eq "no-fit: every line is one of these" $((n1 + n2)) 12
# All 12 retrying would mean a backoff under 10 ms each time: p = 0.4^12.
expect_range "no-fit: requests that did not retry" "$n1" 1 12
bad=0
while IFS= read -r line; do
	# A first try cut by the request scope ends the request; it has no
	# "try failed" line of its own.
	[ "$(lf outcome "$line") $(lf tries "$line")" = "timeout:request 1" ] &&
	    continue
	id=$(rid "$line")
	n=$(errlog_count "req $id: try 1 on ($SBH|$SBH2) failed: timeout:connect")
	[ "$n" = 1 ] || { fail "no-fit: req $id: $n error-log lines for its first try, want 1"; bad=1; }
done <<< "$LOG_NEW"
[ $bad = 0 ] && ok "no-fit: each request's failed first try is in the error log"

# Both servers refuse at once; retries = 10 and request = 200ms: the
# backoffs (caps 25, 50, 100, 200, 250 ms) would take the request past its
# budget if they were not checked against it.
note "the backoff stays inside the budget (20 at once, retries = 10)"
par_curl 20 budget "$U/echo/budget"
log_take "budget" 20
bad=0
for i in $(seq 20); do
	read -r code ms < "$T/budget.$i"
	[ "$code" = 502 ] || [ "$code" = 504 ] || { fail "budget $i: status $code"; bad=1; }
	[ "$ms" -le 350 ] || { fail "budget $i: $ms ms, past request + 150"; bad=1; }
done
[ $bad = 0 ] && ok "budget: all 20 were 502/504 within request + 150 ms"
nconn=0
while IFS= read -r line; do
	o=$(lf outcome "$line")
	case $o in
	error:connect) nconn=$((nconn + 1)) ;;
	timeout:request) ;;
	*) fail "budget: outcome $o: $line" ;;
	esac
	[ "$(lf tries "$line")" -ge 2 ] || fail "budget: fewer than 2 tries: $line"
	[ "$(logged_ms "$line")" -le 250 ] || fail "budget: logged total past request: $line"
done <<< "$LOG_NEW"
expect_range "budget: requests ending with the original cause, error:connect" "$nconn" 1 20
maxt=$(printf '%s\n' "$LOG_NEW" | sed -n 's/.* tries=\([0-9]*\).*/\1/p' | sort -n | tail -n 1)
note "budget: at most $maxt tries"

hg_alive "end" && fd_settle "end"
finish
