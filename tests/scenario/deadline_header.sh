#!/usr/bin/env bash
# The client's deadline header (X-Request-Timeout by default) shortens its
# own request scope: digits plus an optional ms or s (no unit: ms), clamped
# to the route's request; a malformed or zero value is 400
# reject:bad_request.  The access log's deadline_ms is the scope in force.
# The forwarded request carries what the upstream really has, whether or
# not the client sent one: the least of what is left on request and try
# and of upstream_header, minus deadline_margin (5 ms by default), floor 1;
# checked within 5 ms more.  propagate_deadline = no and an empty
# deadline_header turn that off, and deadline_header may name another
# header.  About 14 s.
source "$(dirname "$0")/../upstream_lib.sh"

up_origin G || finish			# healthy: /echo shows what it received
up_origin H --fail hang || finish	# never answers
SG=127.0.0.1:$G_PORT SH=127.0.0.1:$H_PORT

ug_up "$T/hg.ini" \
	'[timeouts]' 'request = 5s' 'upstream_header = 30s' 'retries = 0' '' \
	"$(ups g max_fails=0 -- "$SG")" "$(ups h max_fails=0 -- "$SH")" \
	'[route /]' 'upstream = h' '' \
	'[route /short]' 'upstream = h' 'request = 500ms' '' \
	'[route /custom]' 'upstream = h' 'deadline_header = X-Budget' '' \
	'[route /echo]' 'upstream = g' '' \
	'[route /echo/short]' 'upstream = g' 'request = 500ms' '' \
	'[route /echo/custom]' 'upstream = g' 'deadline_header = X-Budget' '' \
	'[route /echo/noprop]' 'upstream = g' 'propagate_deadline = no' '' \
	'[route /echo/off]' 'upstream = g' 'deadline_header =' '' \
	'[route /echo/uh]' 'upstream = g' 'upstream_header = 3s' '' \
	'[route /echo/try]' 'upstream = g' 'try = 1200ms' '' \
	'[route /echo/nomargin]' 'upstream = g' 'deadline_margin = 0' '' \
	'[route /echo/margin]' 'upstream = g' 'deadline_margin = 100ms' '' \
	'[route /echo/tiny]' 'upstream = g' 'request = 1s' 'deadline_margin = 2s' '' \
	|| finish
U=http://127.0.0.1:$HG_PORT

# timed DESC PATH WANT_MS DEADLINE_MS OUTCOME [CURL ARGS...]: a request
# that ends with 504 OUTCOME after WANT_MS (+-150), logged with deadline_ms.
timed() {
	local d=$1 path=$2 want=$3 dl=$4 outcome=$5
	shift 5
	note "$d"
	hg_curl "$@" "$U$path"
	expect_eq "$d: status" "$CODE" 504
	expect_near "$d: time (ms)" "$MS" "$want"
	log_take "$d" 1
	expect_log "$d" status=504 outcome="$outcome" deadline_ms="$dl"
	expect_near "$d: logged total (ms)" "$(logged_ms "$LOG1")" "$want"
}

timed "X-Request-Timeout: 300 shortens request = 5s" /hang 300 300 timeout:request \
	-H 'X-Request-Timeout: 300'
timed "X-Request-Timeout: 300ms" /hang 300 300 timeout:request \
	-H 'X-Request-Timeout: 300ms'
timed "X-Request-Timeout: 1s" /hang 1000 1000 timeout:request \
	-H 'X-Request-Timeout: 1s'
timed "X-Request-Timeout: 100s is clamped to the route's 500ms" /short 500 500 \
	timeout:request -H 'X-Request-Timeout: 100s'
timed "X-Request-Timeout: 600 on a 500ms route is clamped" /short 500 500 \
	timeout:request -H 'X-Request-Timeout: 600'
timed "deadline_header = X-Budget on the route" /custom 300 300 timeout:request \
	-H 'X-Budget: 300'
fd_settle "timed"

note "malformed or zero values: 400 at once"
# curl sends "Name;" as the header with an empty value.
for h in 'X-Request-Timeout: abc' 'X-Request-Timeout: 10x' \
    'X-Request-Timeout: -5' 'X-Request-Timeout: 0' 'X-Request-Timeout: 0ms' \
    'X-Request-Timeout: 0s' 'X-Request-Timeout;' 'X-Request-Timeout: 1.5s' \
    'X-Request-Timeout: 300 ms' 'X-Request-Timeout: 300S' \
    'X-Request-Timeout: 5m' 'X-Request-Timeout: ms' 'X-Request-Timeout: s' \
    'X-Request-Timeout: +300' 'x-request-timeout: abc'; do
	d="'$h'"
	hg_curl -H "$h" "$U/echo/malformed"
	expect_eq "$d: status" "$CODE" 400
	check "$d: says Connection: close" grep -qi '^connection: close' "$T/head"
	expect_range "$d: answered at once (ms)" "$MS" 0 300
	log_take "$d" 1
	expect_log "$d" status=400 outcome=reject:bad_request
	# The answer and the error log say which header and which value.
	v=${h#*[:;]}; v=${v# }
	check "$d: the body names the header and the value" \
	    grep -qF "400 Bad Request: X-Request-Timeout: \"$v\" is not a deadline" "$T/body"
	check "$d: so does the error log" grep -qF \
	    "req $(rid "$LOG1"): bad request from 127.0.0.1:" "$HG_ERR"
done
check "the error log quotes a value" grep -qF 'X-Request-Timeout: "300 ms" is not a deadline' "$HG_ERR"
expect_eq "malformed: the origin saw none of them" "$(oreqs G /echo/malformed)" 0
# The 400 closes the connection: curl's next request must connect anew.
got=$(curl -s -m 5 -o /dev/null -w '%{http_code}:%{num_connects} ' \
	-H 'X-Request-Timeout: abc' "$U/echo/malformed" \
	--next -s -m 5 -o /dev/null -w '%{http_code}:%{num_connects}' "$U/echo/after400")
expect_eq "a 400 closes the connection: the next request connects anew" "$got" "400:1 200:1"
log_take "400, then a new connection" 2
note "the header is the route's deadline_header only"
hg_curl -H 'X-Request-Timeout: abc' "$U/echo/custom"
expect_eq "X-Request-Timeout is not read where deadline_header = X-Budget" "$CODE" 200
log_take "other header" 1
hg_curl -H 'X-Request-Timeout: abc' "$U/echo/off"
expect_eq "no header is read where deadline_header is empty" "$CODE" 200
log_take "empty deadline_header" 1
fd_settle "malformed"

# echoed HEADER: the values of HEADER in the head the origin echoed ($T/body).
echoed() { tr -d '\r' < "$T/body" | sed -n "s/^$1: //Ip"; }

note "propagation: what the origin sees"
hg_curl -H 'X-Request-Timeout: 2000' "$U/echo/p1"
expect_eq "2000 sent: 200" "$CODE" 200
v=$(echoed X-Request-Timeout)
expect_eq "2000 sent: the origin sees one X-Request-Timeout" "$(printf '%s\n' "$v" | grep -c .)" 1
expect_range "2000 sent: the origin sees what was left less 5 ms" "${v:-0}" 1990 1995
log_take "2000 sent" 1
expect_log "2000 sent" deadline_ms=2000

hg_curl "$U/echo/p2"
v=$(echoed X-Request-Timeout)
expect_eq "none sent: the origin sees one X-Request-Timeout" "$(printf '%s\n' "$v" | grep -c .)" 1
expect_range "none sent: the origin sees the route's request, 5s, less 5 ms" "${v:-0}" 4990 4995
log_take "none sent" 1
expect_log "none sent" deadline_ms=5000

hg_curl -H 'X-Request-Timeout: 2s' "$U/echo/p3"
expect_range "2s sent: the origin sees bare ms" "$(echoed X-Request-Timeout)" 1990 1995
log_take "2s sent" 1

hg_curl -H 'X-Request-Timeout: 100s' "$U/echo/short/p4"
expect_range "100s sent to a 500ms route: the origin sees the clamp" \
	"$(echoed X-Request-Timeout)" 490 495
log_take "clamped" 1

hg_curl -H 'X-Budget: 700' "$U/echo/custom/p5"
expect_range "X-Budget route: the origin sees X-Budget" "$(echoed X-Budget)" 690 695
expect_eq "X-Budget route: and no X-Request-Timeout" "$(echoed X-Request-Timeout)" ""
log_take "X-Budget" 1

# The scope that will really cut the upstream off: upstream_header (3 s,
# whole: it starts once the request is sent), or try, not request (5 s).
hg_curl "$U/echo/uh/p8"
expect_range "upstream_header = 3s: the origin sees 3 s less the margin" \
	"$(echoed X-Request-Timeout)" 2995 2995
log_take "upstream_header" 1
hg_curl "$U/echo/try/p9"
expect_range "try = 1200ms: the origin sees what is left of try" \
	"$(echoed X-Request-Timeout)" 1190 1195
log_take "try" 1
hg_curl "$U/echo/nomargin/p10"
expect_range "deadline_margin = 0: the origin sees all that is left" \
	"$(echoed X-Request-Timeout)" 4995 5000
log_take "no margin" 1
hg_curl "$U/echo/margin/p11"
expect_range "deadline_margin = 100ms" "$(echoed X-Request-Timeout)" 4895 4900
log_take "margin" 1
hg_curl "$U/echo/tiny/p12"
expect_eq "a budget below the margin: 1, never 0 or less" \
	"$(echoed X-Request-Timeout)" 1
log_take "tiny" 1

hg_curl "$U/echo/noprop/p6"
expect_eq "propagate_deadline = no: nothing added" "$(echoed X-Request-Timeout)" ""
log_take "no propagation" 1
hg_curl "$U/echo/off/p7"
expect_eq "empty deadline_header: nothing added" "$(echoed X-Request-Timeout)" ""
log_take "empty deadline_header" 1

hg_alive "end" && fd_settle "end"
finish
