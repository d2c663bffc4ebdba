#!/usr/bin/env bash
# bench/hedge.sh: the hedging bench (`make bench-hedge`): tail latency
# behind a group of two servers whose requests take 200 ms 5% of the time,
# at a fixed request rate well under saturation, through hourglass with
# and without hedged requests, and through nginx and HAProxy, plain and
# with their nearest equivalent, a retry on timeout (bench/README.md,
# "Hedging").
#
#   bench/hedge.sh                        a run
#   bench/hedge.sh summarize DIR          a run's table again
#
# Two test origins, each started with --tail TAIL (5% of requests wait
# 200 ms, the rest are answered at once), are the two servers of one group
# (round robin) behind each contender, one worker each.  Per round and
# contender: a fresh proxy, WARMUP s of load that is not counted (the
# contender's pools fill, hourglass learns its p95), then bench/rateclient
# sends RATE requests/s of GET / over CONNS keep-alive connections for
# SECS s, open-loop: each latency runs from the instant the request was
# due.  The origins' /stats counters, read before and after, give the
# requests they saw per client request (a hedge or a retry is one more)
# and the tries cancelled; the proxy's CPU comes from /proc/PID/stat.
# ROUNDS rounds, the order of the runs rotated by one a round; the table
# has the medians over rounds, and the p99 of each hourglass that hedges
# over the best peer's (the lowest p99 of nginx, HAProxy and their retry
# variants).
#
# Contenders: hourglass-off, hourglass-20ms, hourglass-p95 (the route's
# hedge key; HEDGES lists them), nginx and nginx-retry, haproxy and
# haproxy-retry (bench/conf/*-hedge.*.in: lines that end in "#retry" are
# the retry variant's, "#plain" the plain one's).  A hourglass that
# refuses the hedge key (before hedging is built) runs hedge = off without
# the key, and the others are reported as not run.
#
# Environment (defaults in brackets):
#   RATE [auto]           requests per second: 2000, or 30% of the capacity
#                         measured first (wrk through nginx in front of two
#                         origins without a tail) if that is less
#   CONNS [50] SECS [8] WARMUP [1] ROUNDS [3]
#   TAIL [5/200]          the origins' --tail P/MS
#   HEDGES ["off 20ms p95"]
#   RETRY_AFTER [20ms]    nginx-retry and haproxy-retry give up on a try
#                         after it (proxy_read_timeout, timeout server)
#   CONTENDERS ["hourglass nginx-retry nginx haproxy-retry haproxy"]
#   HOURGLASS [./hourglass]  the binary to run
#   CAPACITY_SECS [3]     the capacity probe; 0 skips it (RATE then needed)
#   PIN [0]               1: client and origins on CPU 0, the proxy on CPU 1
#   NO_DEPS [0]           1: do not call tools/deps.sh
#
# Quick check (~40 s): ROUNDS=1 SECS=3 CAPACITY_SECS=1 bench/hedge.sh
#
# Every process started is recorded by PID and stopped by PID on exit.
# Raw results and summary.txt go to bench/results/hedge-<date-time>/.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh

RATE=${RATE:-}
CONNS=${CONNS:-50}
SECS=${SECS:-8}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
TAIL=${TAIL:-5/200}
HEDGES=${HEDGES:-off 20ms p95}
RETRY_AFTER=${RETRY_AFTER:-20ms}
CONTENDERS=${CONTENDERS:-hourglass nginx-retry nginx haproxy-retry haproxy}
HOURGLASS=${HOURGLASS:-./hourglass}
CAPACITY_SECS=${CAPACITY_SECS:-3}
PIN=${PIN:-0}
CONF_KIND=-hedge

say() { printf 'bench-hedge: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# summarize DIR: the table from DIR's runs.tsv (medians over rounds), and
# hourglass's hedging against the best peer.
summarize() {
	local d=$1
	[ -s "$d/runs.tsv" ] || { say "no $d/runs.tsv"; return 1; }
	echo "== hourglass hedging bench: $(basename "$d")"
	sed 's/^/   /' "$d/env.txt"
	awk "$AWK_MEDIAN"'
	function add(k, v) { L[c, k] = L[c, k] " " v }
	function m(k) { return median(L[c, k]) }
	FILENAME ~ /status.txt$/ { order[++n] = $1; st[$1] = substr($0, length($1) + 2); next }
	FNR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	{
		c = $col["contender"]
		rounds[c]++
		add("p50", $col["p50_ms"]); add("p90", $col["p90_ms"]); add("p99", $col["p99_ms"])
		add("p999", $col["p999_ms"]); add("max", $col["max_ms"])
		add("load", $col["origin_req_per_req"]); add("canc", $col["cancelled_per_req"])
		add("cpu", $col["cpu_us_req"])
		fail[c] += $col["non2xx"] + $col["errors"]; late[c] += $col["late"]
		reqs[c] += $col["requests"]
	}
	END {
		printf "\n%-15s %7s %7s %8s %8s %8s %13s %6s %10s %9s %7s\n", "contender",
		    "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "failed", "late",
		    "origin/req", "cancelled", "us/req"
		for (i = 1; i <= n; i++) {
			c = order[i]
			if (!(c in rounds)) {
				printf "%-15s %s\n", c, st[c]
				continue
			}
			printf "%-15s %7.2f %7.2f %8.2f %8.2f %8.2f %13s %6d %10.3f %9.3f %7.1f\n", c,
			    m("p50"), m("p90"), m("p99"), m("p999"), m("max"),
			    sprintf("%d (%.2f%%)", fail[c], reqs[c] ? 100 * fail[c] / reqs[c] : 0),
			    late[c], m("load"), m("canc"), m("cpu")
			if (st[c] != "ok")
				printf "%-15s   (%s)\n", "", st[c]
			if (c ~ /^(nginx|haproxy)/ && (best == "" || m("p99") < bestp99)) {
				best = c; bestp99 = m("p99")
			}
		}
		print "\nLatency from the instant each request was due to its last byte, medians over"
		print "rounds (of each round'\''s full sample); failed: non-2xx answers and errors, in"
		print "all rounds (a 504 counts with its latency); late: requests that found no idle"
		print "connection when due; origin/req: requests the two origins saw per client"
		print "request (1 + hedges and retries); cancelled: of them, per client request, those"
		print "whose connection the proxy closed before the answer; us/req: the proxy'\''s CPU."
		if (best == "") { print "\nno peer ran: no ratios"; exit }
		printf "\nbest peer (lowest p99): %s, p99 %.2f ms, %.2f%% failed\n", best, bestp99,
		    reqs[best] ? 100 * fail[best] / reqs[best] : 0
		for (i = 1; i <= n; i++) {
			c = order[i]
			if (c !~ /^hourglass-/ || c == "hourglass-off") continue
			if (!(c in rounds)) { printf "%s: not run\n", c; continue }
			printf "%s: p99 %.2f x the best peer'\''s (target <= 0.25), extra origin load %+.1f%% (target <= 10%%), %.2f%% failed\n",
			    c, (bestp99 > 0 ? m("p99") / bestp99 : 0), 100 * (m("load") - 1),
			    reqs[c] ? 100 * fail[c] / reqs[c] : 0
		}
	}' "$d/status.txt" "$d/runs.tsv"
	[ -s "$d/anomalies.txt" ] && { echo; echo "anomalies:"; sed 's/^/   /' "$d/anomalies.txt"; }
	return 0
}

if [ "${1:-}" = summarize ]; then
	[ -d "${2:-}" ] || die "usage: bench/hedge.sh summarize RESULTS_DIR"
	summarize "$2"
	exit
fi
[ $# -eq 0 ] || die "usage: bench/hedge.sh [summarize RESULTS_DIR]"

for v in CONNS SECS ROUNDS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number of seconds"
[[ $CAPACITY_SECS =~ ^[0-9]+$ ]] || die "CAPACITY_SECS must be a whole number of seconds"
[ -z "$RATE" ] || [[ $RATE =~ ^[1-9][0-9]*$ ]] || die "RATE must be a positive integer"
[ -n "$RATE" ] || [ "$CAPACITY_SECS" -gt 0 ] || die "CAPACITY_SECS=0 needs a RATE"
[[ $TAIL =~ ^[0-9.]+/[0-9]+$ ]] || die "TAIL must be P/MS"
[[ $RETRY_AFTER =~ ^[1-9][0-9]*(ms|s)$ ]] || die "RETRY_AFTER must be a duration: 20ms, 1s"

# The runs: hourglass once per hedge setting.
VARIANTS=()
for name in $CONTENDERS; do
	case $name in
	hourglass)
		for h in $HEDGES; do VARIANTS+=("hourglass-$h"); done ;;
	nginx|nginx-retry|haproxy|haproxy-retry) VARIANTS+=("$name") ;;
	*) die "unknown contender $name (hourglass nginx nginx-retry haproxy haproxy-retry)" ;;
	esac
done

# ---------------------------------------------------------------- set-up

if [ "${NO_DEPS:-0}" != 1 ]; then
	tools/deps.sh wrk nginx haproxy || die "tools/deps.sh failed"
fi
for t in wrk nginx haproxy cc curl; do
	command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || die "$t is missing"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$HOURGLASS" ] && [ -x tests/origin/hourglass-origin ] ||
    die "$HOURGLASS or the test origin is missing: run make (or make bench-hedge)"
if grep -qa -e __asan_init -e __ubsan_handle "$HOURGLASS"; then
	die "$HOURGLASS is a sanitizer build: run make (or make bench-hedge) first"
fi

STAMP=$(date +%Y%m%d-%H%M%S)
R=$ROOT/bench/results/hedge-$STAMP
BIN=$R/bin
RUN=$(mktemp -d /tmp/hourglass-hedge.XXXXXX) || die "mktemp failed"
mkdir -p "$BIN" "$R/conf" "$R/logs" "$R/runs" || die "cannot create $R"

PIDS=()		# every process started, in start order

cleanup() {
	local i
	trap - EXIT INT TERM
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[i]}"
	done
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

ulimit -n "$(ulimit -Hn)" 2>/dev/null
cp "$HOURGLASS" "$BIN/hourglass" && cp tests/origin/hourglass-origin "$BIN/origin" ||
    die "cannot copy the binaries"
cc -O2 -Wall -Wextra -o "$BIN/rateclient" bench/rateclient.c || die "cannot build bench/rateclient.c"

if [ "$PIN" = 1 ]; then
	PIN_LOAD=(taskset -c 0)
	PIN_PROXY=(taskset -c 1)
else
	PIN_LOAD=()
	PIN_PROXY=()
fi
CLK_TCK=$(getconf CLK_TCK)

declare -A STATUS	# per variant: "ok", or why it did not run or what went wrong

# note VARIANT TEXT: something to report about a variant, added to the
# rest unless it was noted already.
note() {
	[[ "; ${STATUS[$1]:-}; " == *"; $2; "* ]] && return 0
	if [ "${STATUS[$1]:-ok}" = ok ]; then
		STATUS[$1]=$2
	else
		STATUS[$1]="${STATUS[$1]}; $2"
	fi
	say "!! $1: $2"
	echo "$1: $2" >> "$R/anomalies.txt"
}

# origin_pair NAME [ARGS...]: two test origins for a group, with ARGS;
# their pids and ports in O1PID O2PID OPORT OPORT2.
origin_pair() {
	local tag=$1 i pid port
	shift
	for i in 1 2; do
		rm -f "$RUN/$tag$i.port"
		"${PIN_LOAD[@]}" "$BIN/origin" --listen 127.0.0.1:0 --port-file "$RUN/$tag$i.port" \
		    --quiet "$@" --seed "$i" 2>> "$R/logs/origin-$tag$i.err" &
		pid=$!
		PIDS+=("$pid")
		wait_file "$RUN/$tag$i.port" || die "test origin $tag$i did not start"
		port=$(cat "$RUN/$tag$i.port")
		if [ "$i" = 1 ]; then O1PID=$pid OPORT=$port; else O2PID=$pid OPORT2=$port; fi
	done
	say "origins ($tag${*:+, $*}): pids $O1PID $O2PID on 127.0.0.1:$OPORT and :$OPORT2"
}

# origin_stats: "requests waited cancelled" summed over the two origins.
origin_stats() {
	{ curl -s --max-time 5 "http://127.0.0.1:$OPORT/stats"; curl -s --max-time 5 "http://127.0.0.1:$OPORT2/stats"; } |
	    awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); s[kv[1]] += kv[2] } }
		END { print s["requests"] + 0, s["waited"] + 0, s["cancelled"] + 0 }'
}

# variant_template VARIANT: the template of VARIANT's proxy, filled in
# with its own settings, in $R/conf/VARIANT.in, named by TMPL.  For a
# hourglass that refuses the hedge key: hedge = off runs without it, the
# others are not run (return 1).
TMPL=
variant_template() {
	local v=$1 out=$R/conf/$1.in err t drop
	TMPL=$out
	case $v in
	hourglass-*)
		sed "s|@HEDGE@|${v#hourglass-}|" bench/conf/hourglass-hedge.ini.in > "$out"
		render "$out" "$R/conf/$v-check.ini" 1 30s "" ""
		if ! err=$("$BIN/hourglass" -t -q -c "$R/conf/$v-check.ini" 2>&1); then
			err=$(head -n 1 <<< "$err" | sed 's/^[^ ]*:[0-9]*: //; s/ (keys: .*//')
			if [ "$v" != hourglass-off ]; then
				note "$v" "not run: configuration refused: $err"
				return 1
			fi
			note "$v" "run without the hedge keys: configuration refused: $err"
			sed -i '/^hedge/d' "$out"
		fi
		;;
	nginx|haproxy|nginx-retry|haproxy-retry)
		t=bench/conf/nginx-hedge.conf.in
		[[ $v == haproxy* ]] && t=bench/conf/haproxy-hedge.cfg.in
		drop='#retry$'
		[[ $v == *-retry ]] && drop='#plain$'
		sed -e "/$drop/d" -e "s|@RETRY_AFTER@|$RETRY_AFTER|g" "$t" > "$out"
		;;
	esac
}

# ---------------------------------------------------------------- capacity

# capacity: req/s of wrk (-c CONNS) through nginx in front of two origins
# without a tail, in CAP: what the machine gives at saturation.
capacity() {
	local out=$R/capacity.txt
	origin_pair cap
	variant_template nginx
	mv "$TMPL" "$R/conf/capacity.in"
	CONF_TEMPLATE=$R/conf/capacity.in start_contender nginx 30s capacity || return 1
	"${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:${PORT[nginx]}/" > /dev/null 2>&1
	"${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${CAPACITY_SECS}s" "http://127.0.0.1:${PORT[nginx]}/" > "$out" 2>&1
	stop_contender nginx
	stop_pid "$O1PID"
	stop_pid "$O2PID"
	CAP=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$out")
	[ -n "$CAP" ] && [ "$CAP" -gt 0 ]
}

CAP=-
if [ "$CAPACITY_SECS" -gt 0 ]; then
	capacity || die "the capacity probe failed (see $R/capacity.txt)"
	say "capacity: $CAP req/s through nginx, $CONNS connections, no tail"
fi
if [ -z "$RATE" ]; then
	RATE=$((CAP * 3 / 10 / 100 * 100))
	[ "$RATE" -gt 2000 ] && RATE=2000
	[ "$RATE" -ge 100 ] || die "capacity $CAP req/s: too low for this bench"
elif [ "$CAP" != - ] && [ $((RATE * 10)) -gt $((CAP * 3)) ]; then
	say "warning: RATE $RATE is over 30% of the capacity ($CAP req/s)"
	echo "RATE $RATE is over 30% of the measured capacity, $CAP req/s" >> "$R/anomalies.txt"
fi

{
	echo "date: $(date -Iseconds)"
	echo "host: $(uname -srm), $(nproc) CPU, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
	echo "load at start: $(cat /proc/loadavg)"
	echo "hourglass: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git status --porcelain -- lib daemon 2>/dev/null)" ] && echo ' (lib/ or daemon/ modified)'), binary $HOURGLASS $(sha1sum < "$HOURGLASS" | cut -c1-12)"
	echo "nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //')"
	echo "haproxy: $("$HAPROXY" -v 2>&1 | awk 'NR==1{print $3}')"
	echo "origins: two, --tail $TAIL (--seed 1 and 2); capacity: $CAP req/s (wrk -c$CONNS through nginx, no tail)"
	echo "RATE=$RATE CONNS=$CONNS SECS=$SECS WARMUP=$WARMUP ROUNDS=$ROUNDS RETRY_AFTER=$RETRY_AFTER PIN=$PIN CLK_TCK=$CLK_TCK"
	echo "runs: ${VARIANTS[*]}"
} > "$R/env.txt"
say "results in $R; rate $RATE req/s"

# ---------------------------------------------------------------- runs

echo "round contender requests ok non2xx errors late opened conns_max sendlag_p99_ms sendlag_max_ms p50_ms p90_ms p99_ms p999_ms max_ms mean_ms origin_requests origin_waited origin_cancelled origin_req_per_req cancelled_per_req cpu_us_req" \
    > "$R/runs.tsv"

# run_one ROUND VARIANT: a fresh proxy, the warm-up, the measured run.
run_one() {
	local r=$1 v=$2 kind=${2%%-*} tmpl s0 s1 c0 c1 line out=$R/runs/r$1-$2
	variant_template "$v" || return 0
	tmpl=$TMPL
	if ! CONF_TEMPLATE=$tmpl start_contender "$kind" 30s "$v-r$r"; then
		note "$v" "round $r: did not start (logs/$kind-$v-r$r.err)"
		return 1
	fi
	if [ "$WARMUP" -gt 0 ]; then
		"${PIN_LOAD[@]}" "$BIN/rateclient" "127.0.0.1:${PORT[$kind]}" / "$RATE" "$CONNS" \
		    "$WARMUP" > "$out-warmup.txt" 2>&1
	fi
	sleep 0.3
	s0=$(origin_stats) c0=$(read_cpu "${MPID[$kind]}")
	"${PIN_LOAD[@]}" "$BIN/rateclient" -o "$out.raw" "127.0.0.1:${PORT[$kind]}" / \
	    "$RATE" "$CONNS" "$SECS" > "$out.txt" 2>&1
	c1=$(read_cpu "${MPID[$kind]}")
	sleep 0.5	# the last cancelled tries reach the origins
	s1=$(origin_stats)
	echo "# origins (requests waited cancelled) before: $s0 after: $s1; cpu ticks (utime stime) of pid ${MPID[$kind]} before: $c0 after: $c1; CLK_TCK $CLK_TCK" >> "$out.txt"
	line=$(grep '^requests=' "$out.txt")
	if [ -z "$line" ]; then
		note "$v" "round $r: rateclient failed: $(tail -n 1 "$out.txt")"
	else
		# shellcheck disable=SC2086
		set -- $s0 $s1 $c0 $c1
		awk -v r="$r" -v v="$v" -v q0="$1" -v w0="$2" -v k0="$3" -v q1="$4" -v w1="$5" \
		    -v k1="$6" -v u0="$7" -v t0="$8" -v u1="$9" -v t1="${10}" -v hz="$CLK_TCK" '{
			for (i = 1; i <= NF; i++) { split($i, kv, "="); x[kv[1]] = kv[2] }
			n = x["requests"]
			printf "%d %s %d %d %d %d %d %d %d %s %s %s %s %s %s %s %s %d %d %d %.4f %.4f %.2f\n",
			    r, v, n, x["ok"], x["non2xx"], x["errors"], x["late"], x["opened"],
			    x["conns_max"], x["sendlag_p99"], x["sendlag_max"], x["p50"], x["p90"],
			    x["p99"], x["p999"], x["max"], x["mean"], q1 - q0, w1 - w0, k1 - k0,
			    n ? (q1 - q0) / n : 0, n ? (k1 - k0) / n : 0,
			    n ? (u1 - u0 + t1 - t0) * 1e6 / hz / n : 0
		}' <<< "$line" >> "$R/runs.tsv"
		say "r$r $v: $(tail -n 1 "$R/runs.tsv" | awk '{ printf "p50 %s p99 %s p99.9 %s max %s ms, failed %d, late %d, origin/req %s, %s us/req", $12, $14, $15, $16, $5 + $6, $7, $21, $23 }')"
	fi
	alive "${MPID[$kind]}" || note "$v" "round $r: died during the run"
	stop_contender "$kind"
}

origin_pair tail --tail "$TAIL"
n=${#VARIANTS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
	order=()
	for ((i = 0; i < n; i++)); do
		order+=("${VARIANTS[(i + r - 1) % n]}")
	done
	say "round $r/$ROUNDS, order ${order[*]}"
	for v in "${order[@]}"; do
		[[ ${STATUS[$v]:-ok} == "not run"* ]] && continue
		run_one "$r" "$v"
	done
done
for v in "${VARIANTS[@]}"; do
	echo "$v ${STATUS[$v]:-ok}"
done > "$R/status.txt"
echo "load at end: $(cat /proc/loadavg)" >> "$R/env.txt"
summarize "$R" | tee "$R/summary.txt"
say "raw results and summary.txt in $R"
