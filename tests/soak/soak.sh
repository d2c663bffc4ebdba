#!/usr/bin/env bash
# tests/soak/soak.sh: the fault soak (`make soak`; not part of `make check`).
#
# wrk drives SOAK_CONNS (200) connections for SOAK_SECONDS (60) through
# hourglass (SOAK_WORKERS = 2 workers) to a mix of origin routes (see
# mix.lua): /, /delay/50, /hang (upstream_header = 500ms), /reset, /close,
# /drip/5/20, /bytes/16384.  A 5 s warm-up with the same mix comes first;
# the descriptor count and VmRSS are sampled after it, once its clients
# have closed, and again after the soak.  Then:
#
# - no crash: the daemon is alive until we stop it, and exits 0 on SIGTERM;
# - descriptors are back to the post-warm-up count;
# - VmRSS is within 10 % of the post-warm-up value;
# - accounting: every request wrk sent gave exactly one access-log line.
#   wrk's own counters are per response, so mix.lua counts in Lua: "sent"
#   is request() calls (one per request handed to a socket), "responses"
#   is response() calls (one per whole response read).  wrk calls request()
#   once more before the run, on the first thread, only to check the
#   script; mix.lua names that path (soak_verify) and it is taken off.  A
#   request whose write failed is in wrk's write errors and reached no one.
#   So:  lines = sent - 1 - write errors,  exactly, and per path (when
#   there are no write errors).  Requests in flight when wrk stops were
#   sent but not answered: they are logged (abort:client, or an answer wrk
#   did not read), so  lines - responses  is at most the connections (plus
#   read errors, whose requests were sent but not answered whole).
# - outcomes: every line has one outcome; the counts add up to the total;
#   /reset -> error:upstream_reset, /close -> error:upstream_closed,
#   /hang -> timeout:upstream_header, the rest ok; besides those only
#   abort:client, at most C of them (requests in flight at the stop).
#
# Figures go to stdout and to tests/out/soak.txt.
source "$(dirname "$0")/../harden_lib.sh"

SECS=${SOAK_SECONDS:-60}
CONNS=${SOAK_CONNS:-200}
WORKERS=${SOAK_WORKERS:-2}
WARMUP=${SOAK_WARMUP:-5}
LUA=$TOP/tests/soak/mix.lua
OUT=$TOP/tests/out/soak.txt
mkdir -p "$TOP/tests/out"
: > "$OUT"
say() { echo "$*" | tee -a "$OUT"; }

command -v wrk > /dev/null || { fail "wrk is needed (apt-get install wrk)"; finish; }
origin_up || finish
hg_up_srv "$T/soak.ini" "workers = $WORKERS" \
	'upstream_header = 500ms' 'request = 10s' || finish

# settle: wait (up to 10 s) until the daemon's descriptors stop falling
# below... i.e. reach WANT, or 10 s pass; prints the count.
settle_fds() {
	local want=$1 n=200 c
	while :; do
		c=$(fd_count "$HG_PID")
		[ -n "$want" ] && [ "$c" -le "$want" ] && break
		n=$((n - 1)); [ $n -le 0 ] && break
		sleep 0.05
	done
	echo "$c"
}

say "# soak: $SECS s, $CONNS connections, $WORKERS workers, warm-up $WARMUP s"
wrk -t2 -c"$CONNS" -d"${WARMUP}s" --timeout 5s -s "$LUA" \
	"http://127.0.0.1:$HG_PORT" > "$T/warmup.out" 2>&1
sleep 3		# lingering closes (1 s), pooled upstream connections (300 ms)
FD0=$(settle_fds "$FD0")
RSS0=$(proc_rss_kb "$HG_PID")
L0=$(wc -l < "$ACCESS")
say "after warm-up: $FD0 descriptors, VmRSS $RSS0 kB, $L0 log lines"

wrk -t2 -c"$CONNS" -d"${SECS}s" --timeout 5s -s "$LUA" --latency \
	"http://127.0.0.1:$HG_PORT" > "$T/wrk.out" 2>&1
WRK_RC=$?
sed 's/^/  wrk: /' "$T/wrk.out" | tee -a "$OUT"
expect_eq "wrk ran" "$WRK_RC" 0

sleep 3
hg_alive "after the soak" && ok "no crash: the daemon is alive after the soak"
FD1=$(settle_fds "$FD0")
RSS1=$(proc_rss_kb "$HG_PID")
say "after the soak: $FD1 descriptors, VmRSS $RSS1 kB"
expect_eq "descriptors back to the post-warm-up count" "$FD1" "$FD0"
if [ -n "$RSS0" ] && [ -n "$RSS1" ] &&
    awk -v a="$RSS0" -v b="$RSS1" 'BEGIN { d = b - a; if (d < 0) d = -d; exit !(d * 10 <= a) }'; then
	ok "VmRSS within 10 % ($RSS0 -> $RSS1 kB)"
else
	fail "VmRSS moved more than 10 %: $RSS0 -> $RSS1 kB"
fi

# The soak's own lines.
tail -n +$((L0 + 1)) "$ACCESS" > "$T/soak.log"
LINES=$(wc -l < "$T/soak.log")
tot() { sed -n "s/^soak_total .*$1=\\([0-9]*\\).*/\\1/p" "$T/wrk.out"; }
SENT=$(tot sent); RESP=$(tot responses); REQS=$(tot requests)
ECONN=$(tot connect); EREAD=$(tot read); EWRITE=$(tot write); ETO=$(tot timeout)
if [ -z "$SENT" ]; then
	fail "mix.lua printed no totals"
	finish
fi
say "wrk: sent $SENT, responses $RESP (wrk's requests $REQS), errors: connect $ECONN, read $EREAD, write $EWRITE, timeout $ETO"
say "access log: $LINES lines"
VERIFY=$(sed -n 's/^soak_verify //p' "$T/wrk.out")
say "wrk: the script check's request() (never sent) was for ${VERIFY:-?}"
expect_eq "wrk's request count is mix.lua's response count" "$REQS" "$RESP"
expect_eq "one log line per request sent (sent - 1 - write errors)" \
	"$LINES" $((SENT - 1 - EWRITE))
check "lines - responses ($((LINES - RESP))) <= read errors + connections ($((EREAD + CONNS)))" \
	[ "$RESP" -le "$LINES" -a $((LINES - RESP)) -le $((EREAD + CONNS)) ]

# Outcomes: one per line, adding up.
awk '{
	o = ""; t = ""; s = ""; n = 0
	for (i = 1; i <= NF; i++) {
		if ($i ~ /^outcome=/) { o = substr($i, 9); n++ }
		else if ($i ~ /^target=/) t = substr($i, 8)
		else if ($i ~ /^status=/) s = substr($i, 8)
	}
	if (n != 1) bad_lines++
	out[o]++; tgt[t]++; st[s]++; pair[t " " o]++
} END {
	for (k in out) printf "outcome %s %d\n", k, out[k]
	for (k in tgt) printf "target %s %d\n", k, tgt[k]
	for (k in st) printf "status %s %d\n", k, st[k]
	for (k in pair) printf "pair %s %d\n", k, pair[k]
	printf "badlines %d\n", bad_lines + 0
}' "$T/soak.log" > "$T/counts"
grep '^outcome ' "$T/counts" | sort | sed 's/^/  /' | tee -a "$OUT"
expect_eq "every line has exactly one outcome" "$(sed -n 's/^badlines //p' "$T/counts")" 0
sum=$(awk '$1 == "outcome" { s += $3 } END { print s + 0 }' "$T/counts")
expect_eq "outcome counts add up to the total" "$sum" "$LINES"

pairn() { awk -v t="$1" -v o="$2" '$1 == "pair" && $2 == t && $3 == o { print $4 }' "$T/counts"; }
ABORTS=0
while read -r path want; do
	n=$(awk -v t="$path" '$1 == "target" && $2 == t { print $3 }' "$T/counts")
	n=${n:-0}
	s=$(sed -n "s|^soak_sent $path \\([0-9]*\\)\$|\\1|p" "$T/wrk.out")
	good=$(pairn "$path" "$want"); good=${good:-0}
	ab=$(pairn "$path" abort:client); ab=${ab:-0}
	ABORTS=$((ABORTS + ab))
	expect_eq "$path: every line is $want or abort:client" $((good + ab)) "$n"
	[ "$path" = "$VERIFY" ] && s=$((s - 1))
	say "  $path: sent $s, lines $n, $want $good, abort:client $ab"
	if [ "$EWRITE" -eq 0 ]; then
		expect_eq "$path: one line per request sent" "$n" "$s"
	else
		check "$path: lines ($n) <= sent ($s), within the write errors" \
			[ "$n" -le "$s" -a $((s - n)) -le "$EWRITE" ]
	fi
done <<'EOF'
/ ok
/delay/50 ok
/hang timeout:upstream_header
/reset error:upstream_reset
/close error:upstream_closed
/drip/5/20 ok
/bytes/16384 ok
EOF
others=$(awk '$1 == "target" { s += $3 } END { print s + 0 }' "$T/counts")
expect_eq "no line for a target wrk did not send" "$others" "$LINES"
check "abort:client ($ABORTS) only for requests in flight at the stop (<= $CONNS + read errors)" \
	[ "$ABORTS" -le $((CONNS + EREAD)) ]

# Statuses: the log and wrk agree, but for what was in flight at the stop.
for code in 200 502 504; do
	w=$(sed -n "s/^soak_status $code \\([0-9]*\\)\$/\\1/p" "$T/wrk.out"); w=${w:-0}
	l=$(awk -v c="$code" '$1 == "status" && $2 == c { print $3 }' "$T/counts"); l=${l:-0}
	say "  status $code: wrk $w, log $l"
	check "status $code: wrk ($w) <= log ($l) <= wrk + connections" \
		[ "$w" -le "$l" -a "$l" -le $((w + CONNS)) ]
done

if grep -Eq 'crit|AddressSanitizer|runtime error|LeakSanitizer' "$HG_ERR"; then
	fail "the error log has critical or sanitizer lines"
	grep -E 'crit|Sanitizer|runtime error' "$HG_ERR" | head -n 5 | sed 's/^/  /'
fi
hg_stop_rc
expect_eq "exit status on SIGTERM" "$HG_RC" 0
say "result: $_failures failure(s)"
finish
