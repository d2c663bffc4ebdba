#!/usr/bin/env bash
# bench/run.sh: the side-by-side benchmark (`make bench`).  The method is
# described in bench/README.md.
#
#   bench/run.sh [throughput] [memory] [timer] [syscalls] [tls]    (default: all)
#
# Environment (defaults in brackets):
#   ROUNDS [5]            interleaved rounds of the throughput part
#   DURATION [5]          seconds per wrk run
#   WARMUP [1]            seconds of unrecorded wrk per contender and scenario
#   IDLE_CONNS [5000]     idle keep-alive connections of the memory part
#   TIMER_CONNS [1000]    /hang requests per timer mode
#   TIMER_SPREAD_MS [2000] the spread mode's window
#   TIMER_MS [200]        the upstream header timeout of the timer part
#   TIMER_ROUNDS [3]      interleaved rounds of the timer part (burst + spread
#                         per proxy and round, a fresh proxy and origin each)
#   SYSCALL_DURATION [5]  seconds of wrk per syscall count
#   CONTENDERS ["floor hourglass nginx haproxy"]; floor-l7 (bench/floor_l7,
#                         built by make bench-progs) runs only when named here
#   SCENARIOS ["100B-c50 100B-c200 16K-c50 16K-c200 16Kch-c50"] of the
#                         throughput part
#   PIN [0]               1: wrk and the origin on CPU 0, the contender on CPU 1
#   NO_DEPS [0]           1: do not call tools/deps.sh
#   TLS_* (the tls part)  in bench/tls.sh (`make bench-tls` runs that part alone)
#
# Quick check: ROUNDS=1 DURATION=2 IDLE_CONNS=500 TIMER_ROUNDS=1 bench/run.sh
#
# Every process it starts is recorded by PID and stopped by PID on exit.
# Raw results and summary.txt go to bench/results/<date-time>/.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh
# shellcheck source=bench/tls.sh
. bench/tls.sh

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
IDLE_CONNS=${IDLE_CONNS:-5000}
TIMER_CONNS=${TIMER_CONNS:-1000}
TIMER_SPREAD_MS=${TIMER_SPREAD_MS:-2000}
TIMER_MS=${TIMER_MS:-200}
TIMER_ROUNDS=${TIMER_ROUNDS:-3}
SYSCALL_DURATION=${SYSCALL_DURATION:-5}
CONTENDERS=${CONTENDERS:-floor hourglass nginx haproxy}
SCENARIOS=${SCENARIOS:-100B-c50 100B-c200 16K-c50 16K-c200 16Kch-c50}
PIN=${PIN:-0}

PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(throughput memory timer syscalls tls)
for p in "${PARTS[@]}"; do
	case $p in
	throughput|memory|timer|syscalls|tls) ;;
	*) echo "bench: unknown part '$p' (throughput memory timer syscalls tls)" >&2; exit 2 ;;
	esac
done
want() { local p; for p in "${PARTS[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
[[ $TIMER_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "TIMER_ROUNDS must be a positive integer"

# Scenarios of the throughput part.  16Kch: the origin sends 16 KiB in 4
# chunks of 4 KiB (tests/origin/origin_routes.c).
declare -A SC_PATH=([100B-c50]=/ [100B-c200]=/ [16K-c50]=/bytes/16384 [16K-c200]=/bytes/16384
    [16Kch-c50]=/chunked/16384)
declare -A SC_CONN=([100B-c50]=50 [100B-c200]=200 [16K-c50]=50 [16K-c200]=200 [16Kch-c50]=50)
read -r -a SCENS <<< "$SCENARIOS"
for scen in "${SCENS[@]}"; do
	[ -n "${SC_PATH[$scen]:-}" ] || die "unknown scenario '$scen' (${!SC_PATH[*]})"
done

# ---------------------------------------------------------------- set-up

if [ "${NO_DEPS:-0}" != 1 ]; then
	tools/deps.sh wrk nginx haproxy || die "tools/deps.sh failed"
fi
for t in wrk nginx haproxy cc curl; do
	command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] ||
	    die "$t is missing"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x ./hourglass ] && [ -x tests/origin/hourglass-origin ] ||
    die "./hourglass or the test origin is missing: run make (or make bench)"
# A sanitizer build (left by make SANITIZE=... check) runs several times
# slower: measuring it would say nothing about hourglass.
if grep -qa -e __asan_init -e __ubsan_handle ./hourglass; then
	die "./hourglass is a sanitizer build: run make (or make bench) first"
fi

STAMP=$(date +%Y%m%d-%H%M%S)
R=$ROOT/bench/results/$STAMP
BIN=$R/bin
RUN=$(mktemp -d /tmp/hourglass-bench.XXXXXX) || die "mktemp failed"
mkdir -p "$BIN" "$R/conf" "$R/logs" || die "cannot create $R"

PIDS=()		# every process started, in start order

cleanup() {
	local i
	trap - EXIT INT TERM
	exec 9>&- 2>/dev/null
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[i]}"
	done
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

# Soft descriptor limit up to the hard one, for every process started here.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ $((IDLE_CONNS * 2 + 100)) -gt "$NOFILE" ]; then
	IDLE_CONNS=$(((NOFILE - 100) / 2))
	say "descriptor limit $NOFILE: IDLE_CONNS lowered to $IDLE_CONNS"
fi

# Private copies, so that a rebuild during the run changes nothing.
cp ./hourglass "$BIN/hourglass" && cp tests/origin/hourglass-origin "$BIN/origin" ||
    die "cannot copy the binaries"
for t in floor idleconn timerbench seqclient; do
	cc -O2 -Wall -Wextra -o "$BIN/$t" "bench/$t.c" || die "cannot build bench/$t.c"
done
# floor-l7 needs libevent, llhttp and the daemon's flags: make builds it.
if [[ " $CONTENDERS " == *" floor-l7 "* ]]; then
	[ -x bench/floor_l7 ] || die "bench/floor_l7 is missing: run make bench-progs"
	[ bench/floor_l7 -nt bench/floor_l7.c ] ||
	    say "warning: bench/floor_l7 is older than bench/floor_l7.c: run make bench-progs"
	cp bench/floor_l7 "$BIN/floor-l7" || die "cannot copy bench/floor_l7"
fi

if [ "$PIN" = 1 ]; then
	PIN_LOAD=(taskset -c 0)		# wrk, the origin and the load tools
	PIN_PROXY=(taskset -c 1)	# the contender
else
	PIN_LOAD=()
	PIN_PROXY=()
fi
CLK_TCK=$(getconf CLK_TCK)

{
	echo "date: $(date -Iseconds)"
	echo "host: $(uname -srm), $(nproc) CPU, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
	echo "memory: $(awk '/^MemTotal/{print $2 " kB"}' /proc/meminfo)"
	echo "load at start: $(cat /proc/loadavg)"
	echo "hourglass: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -n "$(git status --porcelain -- lib daemon 2>/dev/null)" ] && echo ' (lib/ or daemon/ modified)'), binary $(sha1sum < ./hourglass | cut -c1-12)"
	echo "nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //')"
	echo "haproxy: $("$HAPROXY" -v 2>&1 | awk 'NR==1{print $3}')"
	echo "wrk: $(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?')"
	[ -x "$BIN/floor-l7" ] && echo "floor-l7: binary $(sha1sum < "$BIN/floor-l7" | cut -c1-12)"
	echo "parts: ${PARTS[*]}; contenders: $CONTENDERS"
	want throughput && echo "scenarios: $SCENARIOS"
	echo "ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP IDLE_CONNS=$IDLE_CONNS TIMER_CONNS=$TIMER_CONNS TIMER_SPREAD_MS=$TIMER_SPREAD_MS TIMER_MS=$TIMER_MS TIMER_ROUNDS=$TIMER_ROUNDS SYSCALL_DURATION=$SYSCALL_DURATION PIN=$PIN NOFILE=$NOFILE CLK_TCK=$CLK_TCK"
} > "$R/env.txt"
say "results in $R"

# ---------------------------------------------------------------- helpers
# (start_origin, start_contender and the /proc readers are in bench/lib.sh)

# wrk_parse FILE: "requests rps p50_ms p99_ms non2xx sockerr" from wrk's output.
wrk_parse() {
	awk '
	function ms(v) {
		if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
		if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
		if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
		if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
		return v + 0
	}
	/requests in/ { req = $1 }
	/^Requests\/sec:/ { rps = $2 }
	/^ +50% / { p50 = ms($2) }
	/^ +99% / { p99 = ms($2) }
	/Non-2xx or 3xx responses:/ { bad = $NF }
	/Socket errors:/ { gsub(",", ""); serr = $4 + $6 + $8 + $10 }
	END {
		if (req == "") req = 0
		printf "%d %s %.3f %.3f %d %d\n", req, (rps == "" ? 0 : rps), p50, p99, bad, serr
	}' "$1"
}

# run_wrk NAME SCEN SECONDS OUT: one wrk run against NAME; prints
# "requests rps p50 p99 non2xx sockerr cpu_us user_us origin_us wrk_us"
# (CPU in µs per request: the contender's utime+stime, its utime, the
# origin's utime+stime, wrk's user+sys).
run_wrk() {
	local name=$1 scen=$2 secs=$3 out=$4 pid=${MPID[$1]} c0 c1 o0 o1
	local TIMEFORMAT='%U %S' wt
	c0=$(read_cpu "$pid") o0=$(read_cpu "$OPID")
	wt=$( { time "${PIN_LOAD[@]}" wrk -t1 "-c${SC_CONN[$scen]}" "-d${secs}s" --latency \
	    "http://127.0.0.1:${PORT[$name]}${SC_PATH[$scen]}" > "$out" 2>&1; } 2>&1)
	c1=$(read_cpu "$pid") o1=$(read_cpu "$OPID")
	printf '# cpu ticks (utime stime) of pid %s before: %s after: %s; origin before: %s after: %s; CLK_TCK %s; wrk user+sys s: %s\n' \
	    "$pid" "$c0" "$c1" "$o0" "$o1" "$CLK_TCK" "$wt" >> "$out"
	# shellcheck disable=SC2046,SC2086  # word splitting wanted
	set -- $(wrk_parse "$out") $c0 $c1 $o0 $o1 $wt
	# $1 req $2 rps $3 p50 $4 p99 $5 bad $6 serr $7 u0 $8 s0 $9 u1 $10 s1
	# $11-$14 the same for the origin, $15 $16 wrk's user and sys seconds
	awk -v req="$1" -v rps="$2" -v p50="$3" -v p99="$4" -v bad="$5" -v serr="$6" \
	    -v u0="$7" -v s0="$8" -v u1="$9" -v s1="${10}" -v ou0="${11}" -v os0="${12}" \
	    -v ou1="${13}" -v os1="${14}" -v wu="${15:-0}" -v ws="${16:-0}" -v hz="$CLK_TCK" 'BEGIN {
		f = req > 0 ? 1e6 / hz / req : 0
		printf "%d %s %.3f %.3f %d %d %.3f %.3f %.3f %.3f\n", req, rps, p50, p99, bad, serr,
		    (u1 - u0 + s1 - s0) * f, (u1 - u0) * f, (ou1 - ou0 + os1 - os0) * f,
		    (req > 0 ? (wu + ws) * 1e6 / req : 0)
	}'
}

# check_alive NAME PART: note a contender that died during PART.
check_alive() {
	local name=$1
	alive "${MPID[$name]}" && return 0
	say "!! $name (pid ${MPID[$name]}) died during the $2 part"
	echo "$name died during $2; end of its log:" >> "$R/anomalies.txt"
	tail -n 20 "$R/logs/$name-"*.err >> "$R/anomalies.txt" 2>/dev/null
	return 1
}

# check_framing NAME PATH: how NAME relays the origin's chunked PATH, as
# seqclient receives 3 responses (throughput/framing.txt); an anomaly
# unless they came chunked.
check_framing() {
	local name=$1 line
	line=$("$BIN/seqclient" "${PORT[$name]}" "$2" 3 2>&1 | tail -n 1)
	echo "$name $2 $line" >> "$R/throughput/framing.txt"
	say "throughput: $name relays $2 as: $line"
	[[ $line == *" ok=3 "*" chunked=3 "* ]] && return 0
	echo "throughput: $name did not relay $2 chunked: $line" >> "$R/anomalies.txt"
	return 1
}

# ---------------------------------------------------------------- parts

part_throughput() {
	local names=() order=() name scen r i n row dir=$R/throughput
	mkdir -p "$dir"
	for name in $CONTENDERS; do
		start_contender "$name" 30s tp && names+=("$name")
	done
	n=${#names[@]}
	[ "$n" -gt 0 ] || return 1
	for scen in "${SCENS[@]}"; do
		[[ ${SC_PATH[$scen]} == /chunked/* ]] || continue
		for name in "${names[@]}"; do
			check_framing "$name" "${SC_PATH[$scen]}"
		done
	done
	say "throughput: warm-up, ${WARMUP}s per contender and scenario"
	for scen in "${SCENS[@]}"; do
		for name in "${names[@]}"; do
			run_wrk "$name" "$scen" "$WARMUP" "$dir/warmup-$scen-$name.txt" > /dev/null
		done
	done
	echo "round scenario contender requests rps p50_ms p99_ms non2xx sockerr cpu_us_req user_us_req origin_us_req wrk_us_req" \
	    > "$R/throughput.tsv"
	for ((r = 1; r <= ROUNDS; r++)); do
		order=()
		for ((i = 0; i < n; i++)); do
			order+=("${names[(i + r - 1) % n]}")
		done
		say "throughput: round $r/$ROUNDS, order ${order[*]}"
		for scen in "${SCENS[@]}"; do
			for name in "${order[@]}"; do
				alive "${MPID[$name]}" || continue
				row=$(run_wrk "$name" "$scen" "$DURATION" "$dir/r$r-$scen-$name.txt")
				echo "$r $scen $name $row" >> "$R/throughput.tsv"
				printf 'bench:   %-9s %-10s %s\n' "$scen" "$name" \
				    "$(awk '{printf "%8.0f req/s  p99 %6.2f ms  %6.2f us/req", $2, $4, $7}' <<< "$row")" >&2
				check_alive "$name" throughput
			done
		done
	done
	for name in "${names[@]}"; do
		stop_contender "$name"
	done
}

part_memory() {
	local name rss0 rss1 rss2 fd0 fd1 fd2 ready ipid dir=$R/memory i
	mkdir -p "$dir"
	echo "contender conns ok failed non200 peer_closed rss_before_kib rss_idle_kib rss_after_kib fds_before fds_idle fds_after open_secs" \
	    > "$R/memory.tsv"
	for name in $CONTENDERS; do
		# floor-l7 is a CPU reference: its idle pair is the floor's plus
		# two parsers, and it is not measured here.
		[ "$name" = floor-l7 ] && continue
		start_contender "$name" 30s mem || continue
		# A little traffic first, so that one-time set-up is not counted.
		"${PIN_LOAD[@]}" wrk -t1 -c10 -d1s "http://127.0.0.1:${PORT[$name]}/" \
		    > "$dir/$name-warmup.txt" 2>&1
		sleep 1
		rss0=$(rss_kib "${MPID[$name]}") fd0=$(fd_count "${MPID[$name]}")
		rm -f "$RUN/ctl"
		mkfifo "$RUN/ctl"
		"${PIN_LOAD[@]}" "$BIN/idleconn" "${PORT[$name]}" "$IDLE_CONNS" 100 / \
		    < "$RUN/ctl" > "$dir/$name-idleconn.txt" 2>&1 &
		ipid=$!
		PIDS+=("$ipid")
		exec 9> "$RUN/ctl"
		ready=
		for i in $(seq 1200); do
			ready=$(grep '^ready' "$dir/$name-idleconn.txt" 2>/dev/null)
			[ -n "$ready" ] && break
			alive "$ipid" || break
			sleep 0.1
		done
		if [ -z "$ready" ]; then
			say "memory: $name: idleconn did not finish: $(cat "$dir/$name-idleconn.txt")"
			exec 9>&-
			stop_pid "$ipid"
			stop_contender "$name"
			continue
		fi
		sleep 2
		rss1=$(rss_kib "${MPID[$name]}") fd1=$(fd_count "${MPID[$name]}")
		exec 9>&-
		wait "$ipid" 2>/dev/null
		sleep 2
		rss2=$(rss_kib "${MPID[$name]}") fd2=$(fd_count "${MPID[$name]}")
		check_alive "$name" memory
		awk -v name="$name" -v n="$IDLE_CONNS" -v r0="$rss0" -v r1="$rss1" -v r2="$rss2" \
		    -v f0="$fd0" -v f1="$fd1" -v f2="$fd2" '
		{
			for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		}
		/^closing/ { pc = v["peer_closed"] }
		/^ready/ { ok = v["ok"]; fl = v["failed"]; nb = v["non200"]; secs = v["secs"] }
		END {
			print name, n, ok, fl, nb, pc + 0, r0, r1, r2, f0, f1, f2, secs
		}' "$dir/$name-idleconn.txt" >> "$R/memory.tsv"
		say "memory: $name: $ready; RSS $rss0 -> $rss1 -> $rss2 KiB, fds $fd0 -> $fd1 -> $fd2"
		stop_contender "$name"
	done
}

# origin_view EVENTS FROM: from the origin's event log (lines after line
# FROM), the proxy's own lateness: "upstream closed" minus "request
# received" minus the timeout, per /hang request; prints "p50 p99 max" in ms
# (the log has whole milliseconds, so each figure is within about 1 ms).
origin_view() {
	awk -v from="$2" -v tm="$TIMER_MS" 'NR > from && $3 == "/hang" {
		if ($1 == "request") req[$4] = $2
		else if ($1 == "close" && ($4 in req)) { print $2 - req[$4] - tm; delete req[$4] }
	}' "$1" | sort -n | awk '{ v[++n] = $1 } END {
		if (n == 0) { print "- - -"; exit }
		i50 = int((n - 1) * 0.5) + 1; i99 = int((n - 1) * 0.99 + 0.5) + 1
		print v[i50], v[i99], v[n]
	}'
}

# sched_ns PID: the CPU time PID's threads have run, in ns: the sum of the
# first field of /proc/PID/task/*/schedstat (/proc/PID/schedstat is the main
# thread's alone, and hourglass runs its worker in a second thread); "-" when
# none can be read.  A thread on a CPU right now has its current slice
# counted only when it leaves the CPU.
sched_ns() {
	local f v t=0 n=0
	for f in /proc/"$1"/task/*/schedstat; do
		read -r v _ 2>/dev/null < "$f" || continue
		t=$((t + v)) n=$((n + 1))
	done
	if [ "$n" -gt 0 ]; then echo "$t"; else echo -; fi
}

# ns_ms BEFORE AFTER: the difference in ms, or "-".
ns_ms() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-") print "-"; else printf "%.2f\n", (b - a) / 1e6 }'
}

# timer_run R NAME MODE: one timerbench run against NAME (running, in front
# of the private origin $OPID), one row of timer.tsv.
timer_run() {
	local r=$1 name=$2 mode=$3 spread=0 line from ov c0 c1 o0 o1 cpu ocpu
	local base=$R/timer/r$r-$name
	[ "$mode" = burst ] || spread=$TIMER_SPREAD_MS
	from=$(wc -l < "$base-origin.events")
	c0=$(sched_ns "${MPID[$name]}") o0=$(sched_ns "$OPID")
	line=$("${PIN_LOAD[@]}" "$BIN/timerbench" "${PORT[$name]}" "$TIMER_CONNS" \
	    "$spread" "$TIMER_MS" /hang "$base-$mode.raw")
	c1=$(sched_ns "${MPID[$name]}") o1=$(sched_ns "$OPID")
	cpu=$(ns_ms "$c0" "$c1") ocpu=$(ns_ms "$o0" "$o1")
	if [[ $line != n=* ]]; then
		say "!! timer: round $r $name $mode: timerbench failed: $line"
		echo "timer round $r $name $mode: timerbench failed: $line" >> "$R/anomalies.txt"
		line="n=0 s504=0 other=0 closed=0 noreply=0 early=0 min=- p50=- p99=- max=-"
	fi
	sleep 0.5	# the last upstream closes reach the log
	ov=$(origin_view "$base-origin.events" "$from")
	{
		echo "$line upstream: $ov cpu_ms: $cpu origin_cpu_ms: $ocpu"
		echo "# schedstat ns of pid ${MPID[$name]} before: $c0 after: $c1; origin pid $OPID before: $o0 after: $o1"
	} > "$base-$mode.txt"
	say "timer: r$r $name $mode: $line; upstream p50 p99 max: $ov; CPU ms: $cpu, origin $ocpu"
	echo "$r $name $mode $(sed 's/[a-z0-9]*=//g' <<< "$line") $ov $cpu $ocpu" >> "$R/timer.tsv"
}

part_timer() {
	local names=() order=() name mode r i n opid_main=$OPID oport_main=$OPORT dir=$R/timer
	mkdir -p "$dir"
	for name in $CONTENDERS; do
		case $name in floor|floor-l7) ;; *) names+=("$name") ;; esac	# no timeouts
	done
	n=${#names[@]}
	[ "$n" -gt 0 ] || return 0
	echo "round contender mode n s504 other closed noreply early min_ms p50_ms p99_ms max_ms up_p50_ms up_p99_ms up_max_ms cpu_ms origin_cpu_ms" \
	    > "$R/timer.tsv"
	for ((r = 1; r <= TIMER_ROUNDS; r++)); do
		order=()
		for ((i = 0; i < n; i++)); do
			order+=("${names[(i + r - 1) % n]}")
		done
		say "timer: round $r/$TIMER_ROUNDS, order ${order[*]}"
		for name in "${order[@]}"; do
			# A private origin that logs its events, for the upstream view.
			rm -f "$RUN/torigin.port"
			"${PIN_LOAD[@]}" "$BIN/origin" --listen 127.0.0.1:0 --port-file "$RUN/torigin.port" \
			    --log "$dir/r$r-$name-origin.events" --quiet 2>> "$R/logs/origin-timer.err" &
			OPID=$!
			PIDS+=("$OPID")
			wait_file "$RUN/torigin.port" || die "the timer origin did not start"
			OPORT=$(cat "$RUN/torigin.port")
			if start_contender "$name" "${TIMER_MS}ms" "timer-r$r"; then
				for mode in burst spread; do
					timer_run "$r" "$name" "$mode"
					check_alive "$name" timer || break
					sleep 0.5
				done
				stop_contender "$name"
			fi
			stop_pid "$OPID"
		done
	done
	OPID=$opid_main OPORT=$oport_main
}

part_syscalls() {
	local name method pp row total sys dir=$R/syscalls
	mkdir -p "$dir"
	if perf stat -e raw_syscalls:sys_enter true > /dev/null 2>&1; then
		method=perf
	elif command -v strace > /dev/null 2>&1; then
		method=strace
	else
		say "syscalls: neither perf (with tracepoints) nor strace works here: skipped"
		return 0
	fi
	echo "$method" > "$dir/method"
	echo "contender requests syscalls syscalls_per_req cpu_us_req user_us_req top" > "$R/syscalls.tsv"
	for name in $CONTENDERS; do
		start_contender "$name" 30s sys || continue
		run_wrk "$name" 100B-c50 "$WARMUP" "$dir/$name-warmup.txt" > /dev/null
		# 1: the total only, the least disturbing count.
		if [ $method = perf ]; then
			perf stat -x, -o "$dir/$name-total.perf" -e raw_syscalls:sys_enter \
			    -p "${MPID[$name]}" 2> "$dir/$name-perf.err" &
		else
			strace -c -f -o "$dir/$name-total.strace" -p "${MPID[$name]}" 2> "$dir/$name-strace.err" &
		fi
		pp=$!
		PIDS+=("$pp")
		sleep 0.5
		row=$(run_wrk "$name" 100B-c50 "$SYSCALL_DURATION" "$dir/$name-total-wrk.txt")
		kill -INT "$pp" 2>/dev/null
		wait "$pp" 2>/dev/null
		if [ $method = perf ]; then
			total=$(awk -F, '/raw_syscalls:sys_enter/ { print $1 }' "$dir/$name-total.perf")
		else
			total=$(awk '$NF == "total" { print $4 }' "$dir/$name-total.strace")
		fi
		# 2: which syscalls, in a second run (counting each one costs more).
		if [ $method = perf ]; then
			perf stat -x, -o "$dir/$name-each.perf" -e 'syscalls:sys_enter_*' \
			    -p "${MPID[$name]}" 2>> "$dir/$name-perf.err" &
			pp=$!
			PIDS+=("$pp")
			sleep 0.5
			sys=$(run_wrk "$name" 100B-c50 "$SYSCALL_DURATION" "$dir/$name-each-wrk.txt")
			kill -INT "$pp" 2>/dev/null
			wait "$pp" 2>/dev/null
			sys=$(awk -F, -v req="${sys%% *}" '$3 ~ /^syscalls:sys_enter_/ && $1 + 0 > 0 {
				sub("syscalls:sys_enter_", "", $3); print $1 / req, $3 }' "$dir/$name-each.perf" |
			    sort -rn | awk '$1 >= 0.01 { printf "%s%s=%.2f", (n++ ? "," : ""), $2, $1 }')
		else
			sys=$(awk -v req="${row%% *}" '$NF != "total" && $4 ~ /^[0-9]+$/ { print $4 / req, $NF }' \
			    "$dir/$name-total.strace" | sort -rn |
			    awk '$1 >= 0.01 { printf "%s%s=%.2f", (n++ ? "," : ""), $2, $1 }')
		fi
		check_alive "$name" syscalls
		set -- $row
		awk -v n="$name" -v req="$1" -v tot="${total:-0}" -v cpu="$7" -v usr="$8" -v top="${sys:--}" \
		    'BEGIN { printf "%s %d %d %.2f %.3f %.3f %s\n", n, req, tot, (req > 0 ? tot / req : 0), cpu, usr, top }' \
		    >> "$R/syscalls.tsv"
		say "syscalls: $name: $(tail -n 1 "$R/syscalls.tsv")"
		stop_contender "$name"
	done
}

# ---------------------------------------------------------------- main

start_origin
for p in throughput memory timer syscalls tls; do
	want $p || continue
	t=$SECONDS
	part_$p
	say "$p part: $((SECONDS - t)) s"
done
# The origin's own CPU per request is part of the throughput rows.
bench/summarize.sh "$R" | tee "$R/summary.txt"
say "raw results and summary.txt in $R"
