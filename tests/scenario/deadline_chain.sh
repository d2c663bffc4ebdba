#!/usr/bin/env bash
# Chains of two and three hourglass instances share one deadline through
# the propagated X-Request-Timeout, as gRPC deadlines do (README,
# "Deadlines across hops").  The outer one (A) has request = 1s; B and C
# have request = 10s; C is in front of an origin that never answers.  A
# routes /two/ to C and /three/ to B, which routes to C.  Each hop tells the
# next the time it has left minus deadline_margin (50ms here: more than a
# 504 takes to come back one hop on a loaded machine), so the innermost hop
# fires first, every time: C ends with timeout:request, and its 504, with
# its Proxy-Status, is relayed by the outer hops (outcome ok) to the
# client, each adding its own member (proxy_status = all).  Rounds of ten
# requests at once, both chains: every request must be that.  No hop leaks
# a descriptor.
# About 8 s.
source "$(dirname "$0")/../upstream_lib.sh"

ROUNDS=3 PAR=10

up_origin H --fail hang || finish
SH=127.0.0.1:$H_PORT

# hop NAME REQUEST UPSTREAM_SERVER: start hop NAME; its log is $T/NAME.log.
hop() {
	ACCESS=$T/$1.log
	UG_SERVER='proxy_status = all' ug_up "$T/$1.ini" \
	    '[timeouts]' "request = $2" 'upstream_header = 30s' 'retries = 0' \
	    'deadline_margin = 50ms' '' \
	    "$(ups next max_fails=0 -- "$3")" '[route /]' 'upstream = next' || finish
	printf -v "${1}_PID" '%s' "$HG_PID"
	printf -v "${1}_PORT" '%s' "$HG_PORT"
	printf -v "${1}_ERR" '%s' "$HG_ERR"
	printf -v "${1}_FD0" '%s' "$FD0"
}
hop C 10s "$SH"
hop B 10s "127.0.0.1:$C_PORT"
ACCESS=$T/A.log
UG_SERVER='proxy_status = all' ug_up "$T/A.ini" \
    '[timeouts]' 'request = 1s' 'upstream_header = 30s' 'retries = 0' \
    'deadline_margin = 50ms' '' \
    "$(ups c max_fails=0 -- "127.0.0.1:$C_PORT")" \
    "$(ups b max_fails=0 -- "127.0.0.1:$B_PORT")" \
    '[route /two/]' 'upstream = c' '' '[route /three/]' 'upstream = b' || finish
A_PID=$HG_PID A_PORT=$HG_PORT A_ERR=$HG_ERR A_FD0=$FD0
U=http://127.0.0.1:$A_PORT

# lines NAME TAG: the access-log lines of hop NAME for targets with TAG.
lines() { grep -F "target=/$2" "$T/$1.log" 2>/dev/null; }
# line NAME TARGET: the line of hop NAME for that exact target.
line() { grep -F "target=/$2 " "$T/$1.log" 2>/dev/null; }

# The member each hop adds: C's error, then each relaying hop's next-hop.
ps_c='hourglass; error=http_response_timeout; details="timeout:request"'
ps_b="hourglass; next-hop=\"127.0.0.1:$C_PORT\"; received-status=504"
ps_a3="hourglass; next-hop=\"127.0.0.1:$B_PORT\"; received-status=504"
ps_a2="hourglass; next-hop=\"127.0.0.1:$C_PORT\"; received-status=504"

# chain HOPS WANT_MS PS: rounds of PAR requests at once through the chain
# of HOPS (two or three); each gets C's 504 at WANT_MS with Proxy-Status PS.
chain() {
	local hops=$1 want=$2 ps=$3 r i d tag bad n pids
	for r in $(seq $ROUNDS); do
		d="$hops hops, round $r"
		tag="$hops/r$r"
		pids=()
		for i in $(seq $PAR); do
			(curl -s -m 5 -D "$T/h.$hops.$r.$i" -o /dev/null \
			    -w '%{http_code} %{time_total}' "$U/$tag/$i" > "$T/w.$hops.$r.$i") &
			pids+=("$!")
		done
		for i in "${pids[@]}"; do wait "$i"; done
		bad=0
		for i in $(seq $PAR); do
			read -r code s < "$T/w.$hops.$r.$i"
			ms=$(ms_of "$s")
			got=$(tr -d '\r' < "$T/h.$hops.$r.$i" | sed -n 's/^[Pp]roxy-[Ss]tatus: //p')
			if [ "$code" != 504 ] || [ "$got" != "$ps" ] ||
			    [ "$ms" -lt $((want - 10)) ] || [ "$ms" -gt $((want + 150)) ]; then
				fail "$d: request $i: $code after $ms ms, Proxy-Status: $got"
				bad=1
			fi
		done
		[ $bad = 0 ] && ok "$d: all $PAR got C's 504 with every hop's Proxy-Status, at ~$want ms"
		sleep 0.3
		n=$(lines C "$tag" | grep -c 'status=504 outcome=timeout:request ')
		expect_eq "$d: C fired first in each" "$n" $PAR
		n=$(lines A "$tag" | grep -c 'status=504 outcome=ok ')
		expect_eq "$d: A relayed each (outcome ok)" "$n" $PAR
		if [ "$hops" = three ]; then
			n=$(lines B "$tag" | grep -c 'status=504 outcome=ok ')
			expect_eq "$d: B relayed each (outcome ok)" "$n" $PAR
		fi
	done
}
chain two 950 "$ps_c, $ps_a2"
# C was told 1000 - 50 - 50: it fires at ~900 ms.
chain three 900 "$ps_c, $ps_b, $ps_a3"
dl=$(line C three/r1/1 | sed -n 's/.* deadline_ms=\([0-9]*\).*/\1/p')
expect_range "C's deadline_ms through three hops" "$dl" 880 900

note "the client's own X-Request-Timeout travels down the chain"
hg_curl -H 'X-Request-Timeout: 400' "$U/three/short"
expect_eq "400 from the client: 504" "$CODE" 504
expect_near "400 from the client: C fires at 400 - 100 ms" "$MS" 300
sleep 0.3
expect_eq "400 from the client: C timed out" \
    "$(lines C three/short | grep -c 'outcome=timeout:request ')" 1
dl=$(lines C three/short | sed -n 's/.* deadline_ms=\([0-9]*\).*/\1/p')
expect_range "400 from the client: C's deadline_ms" "$dl" 280 300
expect_eq "400 from the client: A logged the client's deadline" \
    "$(lines A three/short | sed -n 's/.* deadline_ms=\([0-9]*\).*/\1/p')" 400

for h in C B A; do
	HG_PID=$(eval echo "\$${h}_PID") FD0=$(eval echo "\$${h}_FD0") \
	    HG_ERR=$(eval echo "\$${h}_ERR") fd_settle "hop $h"
done
finish
