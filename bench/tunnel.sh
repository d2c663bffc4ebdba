#!/usr/bin/env bash
# bench/tunnel.sh: the tunnel bench (`make bench-tunnel`): what a WebSocket
# tunnel costs each proxy, one worker each, in front of the test origin's
# /ws echo (bench/README.md, "Tunnels").
#
#   bench/tunnel.sh [idle] [echo]     (default: both)
#
# idle: per contender, its RSS before, with TUNNELS idle WebSocket tunnels
#       open (bench/tunnelclient.c, idle mode), and after they closed;
#       bytes per tunnel = (with - before) / TUNNELS; its descriptors, and
#       how long it took to give them back.
# echo: per round and contender, ECHO_CONNS connections echo ECHO_SIZE-byte
#       binary frames for ECHO_SECS seconds (echo mode); the proxy's CPU
#       (utime + stime of /proc/PID/stat) per message, and the origin's.
#
# Environment (defaults in brackets):
#   TUNNELS [5000] ECHO_CONNS [50] ECHO_SECS [5] ECHO_SIZE [1024]
#   ECHO_ROUNDS [3]       interleaved rounds of the echo part
#   CONTENDERS ["floor hourglass nginx haproxy"]; the floor is a byte relay
#                         (bench/floor.c): a WebSocket goes through it as is
#   PIN [0]               1: clients and origin on CPU 0, the contender on CPU 1
#   NO_DEPS [0]           1: do not call tools/deps.sh
#
# Quick check: TUNNELS=500 ECHO_SECS=2 ECHO_ROUNDS=1 bench/tunnel.sh
# bench/tunnel.sh summarize bench/results/tunnel-<stamp> prints a run's
# table again.
#
# A contender that cannot open the tunnels (a refused configuration, no
# 101) is reported as such, with the first failure tunnelclient saw, and
# the others go on.  Every process started is recorded by PID and stopped
# by PID on exit.  Raw results and summary.txt go to
# bench/results/tunnel-<date-time>/.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh

TUNNELS=${TUNNELS:-5000}
ECHO_CONNS=${ECHO_CONNS:-50}
ECHO_SECS=${ECHO_SECS:-5}
ECHO_SIZE=${ECHO_SIZE:-1024}
ECHO_ROUNDS=${ECHO_ROUNDS:-3}
CONTENDERS=${CONTENDERS:-floor hourglass nginx haproxy}
PIN=${PIN:-0}
CONF_KIND=-tunnel

say() { printf 'bench-tunnel: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# summarize DIR: the table, from DIR's status.txt, idle.tsv and echo.tsv
# (medians over rounds), and the ratios hourglass / the better of nginx and
# HAProxy.
summarize() {
	local d=$1
	[ -s "$d/status.txt" ] || { say "no $d/status.txt"; return 1; }
	echo "== hourglass tunnel bench: $(basename "$d")"
	sed 's/^/   /' "$d/env.txt"
	awk "$AWK_MEDIAN"'
	function best(v, lower,   b) {	# the better peer, nginx or HAProxy
		b = ""
		if (v["nginx"] != "") b = v["nginx"]
		if (v["haproxy"] != "" && (b == "" || (lower ? v["haproxy"] < b : v["haproxy"] > b)))
			b = v["haproxy"]
		return b
	}
	function ratio(x, y) { return x == "" || y == "" || y == 0 ? "-" : sprintf("%.2f", x / y) }
	FILENAME ~ /status.txt$/ { order[++n] = $1; st[$1] = substr($0, length($1) + 2); next }
	FILENAME ~ /idle.tsv$/ && FNR > 1 && $4 != "-" {
		bpt[$1] = $12; rss0[$1] = $4; rss1[$1] = $5; rss2[$1] = $6
		fd0[$1] = $7; fd1[$1] = $8; fd2[$1] = $9; back[$1] = $11; next
	}
	FILENAME ~ /echo.tsv$/ && FNR > 1 && $4 > 0 {
		L_rate[$2] = L_rate[$2] " " $5; L_cpu[$2] = L_cpu[$2] " " $7
		L_org[$2] = L_org[$2] " " $8; err[$2] += $6; next
	}
	END {
		printf "\n%-10s %9s %9s %9s %11s %9s %11s %10s %9s %9s\n", "contender", "RSS0 KiB",
		    "RSS1 KiB", "RSS2 KiB", "B/tunnel", "fds back", "echo msg/s", "us/msg", "origin", "errors"
		for (i = 1; i <= n; i++) {
			c = order[i]
			rate[c] = median(L_rate[c]); cpu[c] = median(L_cpu[c])
			if (bpt[c] == "" && rate[c] == "") {
				printf "%-10s %s\n", c, st[c]
				continue
			}
			printf "%-10s %9s %9s %9s %11s %9s %11s %10s %9s %9s\n", c,
			    rss0[c] == "" ? "-" : rss0[c], rss1[c] == "" ? "-" : rss1[c],
			    rss2[c] == "" ? "-" : rss2[c], bpt[c] == "" ? "-" : bpt[c],
			    back[c] == "" ? "-" : back[c] "s", rate[c] == "" ? "-" : sprintf("%.0f", rate[c]),
			    cpu[c] == "" ? "-" : sprintf("%.2f", cpu[c]),
			    L_org[c] == "" ? "-" : sprintf("%.2f", median(L_org[c])), err[c] + 0
			if (st[c] != "ok") printf "%-10s   (%s)\n", "", st[c]
		}
		print "\nB/tunnel: (RSS with the tunnels - RSS before) / tunnels; RSS2: after they closed;"
		print "fds back: seconds until the proxy held no more descriptors than before;"
		print "us/msg: the proxy'\''s CPU (utime + stime) per echoed message, median over rounds;"
		print "origin: the origin'\''s, for scale."
		for (c in bpt) if (c == "nginx" || c == "haproxy") pb[c] = bpt[c]
		for (c in cpu) if ((c == "nginx" || c == "haproxy") && cpu[c] != "") pc[c] = cpu[c]
		for (c in rate) if ((c == "nginx" || c == "haproxy") && rate[c] != "") pr[c] = rate[c]
		if (st["hourglass"] == "ok" && (bpt["hourglass"] != "" || cpu["hourglass"] != "")) {
			printf "\nhourglass / the better of nginx and HAProxy (below 1: hourglass does better,\n"
			printf "except for msg/s): B/tunnel %s, us/msg %s, msg/s %s\n",
			    ratio(bpt["hourglass"], best(pb, 1)), ratio(cpu["hourglass"], best(pc, 1)),
			    ratio(rate["hourglass"], best(pr, 0))
		} else if (order[1] != "")
			printf "\nhourglass: no ratios: %s\n", st["hourglass"] == "" ? "not run" : st["hourglass"]
	}' "$d/status.txt" "$d/idle.tsv" "$d/echo.tsv" 2>/dev/null
	[ -s "$d/anomalies.txt" ] && { echo; echo "anomalies:"; sed 's/^/   /' "$d/anomalies.txt"; }
	return 0
}

if [ "${1:-}" = summarize ]; then
	[ -d "${2:-}" ] || die "usage: bench/tunnel.sh summarize RESULTS_DIR"
	summarize "$2"
	exit
fi

PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(idle echo)
for p in "${PARTS[@]}"; do
	case $p in
	idle|echo) ;;
	*) echo "bench-tunnel: unknown part '$p' (idle echo)" >&2; exit 2 ;;
	esac
done
want() { local p; for p in "${PARTS[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

for v in TUNNELS ECHO_CONNS ECHO_SECS ECHO_SIZE ECHO_ROUNDS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done

# ---------------------------------------------------------------- set-up

if [ "${NO_DEPS:-0}" != 1 ]; then
	tools/deps.sh nginx haproxy || die "tools/deps.sh failed"
fi
for t in nginx haproxy cc curl; do
	command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || die "$t is missing"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x ./hourglass ] && [ -x tests/origin/hourglass-origin ] ||
    die "./hourglass or the test origin is missing: run make (or make bench-tunnel)"
if grep -qa -e __asan_init -e __ubsan_handle ./hourglass; then
	die "./hourglass is a sanitizer build: run make (or make bench-tunnel) first"
fi

STAMP=$(date +%Y%m%d-%H%M%S)
R=$ROOT/bench/results/tunnel-$STAMP
BIN=$R/bin
RUN=$(mktemp -d /tmp/hourglass-tunnel.XXXXXX) || die "mktemp failed"
mkdir -p "$BIN" "$R/conf" "$R/logs" "$R/idle" "$R/echo" || die "cannot create $R"

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

# Descriptors: each tunnel holds two in the proxy, one in the client and
# one in the origin.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ $((TUNNELS * 2 + 200)) -gt "$NOFILE" ]; then
	TUNNELS=$(((NOFILE - 200) / 2))
	say "descriptor limit $NOFILE (hard): TUNNELS lowered to $TUNNELS"
fi

cp ./hourglass "$BIN/hourglass" && cp tests/origin/hourglass-origin "$BIN/origin" ||
    die "cannot copy the binaries"
cc -O2 -Wall -Wextra -o "$BIN/floor" bench/floor.c || die "cannot build bench/floor.c"
cc -O2 -Wall -Wextra -o "$BIN/tunnelclient" bench/tunnelclient.c -lcrypto ||
    die "cannot build bench/tunnelclient.c"

if [ "$PIN" = 1 ]; then
	PIN_LOAD=(taskset -c 0)
	PIN_PROXY=(taskset -c 1)
else
	PIN_LOAD=()
	PIN_PROXY=()
fi
CLK_TCK=$(getconf CLK_TCK)

{
	echo "date: $(date -Iseconds)"
	echo "host: $(uname -srm), $(nproc) CPU, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
	echo "load at start: $(cat /proc/loadavg)"
	echo "hourglass: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), binary $(sha1sum < ./hourglass | cut -c1-12)"
	echo "nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //')"
	echo "haproxy: $("$HAPROXY" -v 2>&1 | awk 'NR==1{print $3}')"
	echo "parts: ${PARTS[*]}; contenders: $CONTENDERS"
	echo "TUNNELS=$TUNNELS ECHO_CONNS=$ECHO_CONNS ECHO_SECS=$ECHO_SECS ECHO_SIZE=$ECHO_SIZE ECHO_ROUNDS=$ECHO_ROUNDS PIN=$PIN NOFILE=$NOFILE CLK_TCK=$CLK_TCK"
} > "$R/env.txt"
say "results in $R"

declare -A STATUS	# per contender: "ok", or why it has no tunnels

# note_status NAME TEXT: a reason why a contender has no tunnels (or lost
# some), added to the others.
note_status() {
	if [ "${STATUS[$1]:-ok}" = ok ]; then
		STATUS[$1]=$2
	else
		STATUS[$1]="${STATUS[$1]}; $2"
	fi
	say "!! $1: $2"
	echo "$1: $2" >> "$R/anomalies.txt"
}

# hourglass_template: the hourglass template to start from.  A build
# without tunnels refuses tunnel_idle: that is reported, and it runs
# without the key, so that the bench shows what clients get from it.
hourglass_template() {
	local err
	render hourglass-tunnel.ini.in "$R/conf/hourglass-check.ini" 0 30s "" ""
	err=$("$BIN/hourglass" -t -q -c "$R/conf/hourglass-check.ini" 2>&1) && return 0
	note_status hourglass "configuration refused: $(head -n 1 <<< "$err" |
	    sed 's/^[^ ]*:[0-9]*: //; s/ (keys: .*//')"
	sed '/^tunnel_idle/d' bench/conf/hourglass-tunnel.ini.in > "$R/conf/hourglass-no-tunnel-keys.ini.in"
	HG_TEMPLATE=$R/conf/hourglass-no-tunnel-keys.ini.in
	say "hourglass: running it without tunnel_idle"
}

# start_all: every contender in front of the origin; NAMES gets those up.
NAMES=()
start_all() {
	local name
	for name in $CONTENDERS; do
		case $name in floor|hourglass|nginx|haproxy) ;; *) die "unknown contender $name" ;; esac
		[ "$name" = hourglass ] && hourglass_template
		if start_contender "$name" 30s tunnel; then
			NAMES+=("$name")
		else
			note_status "$name" "did not start (logs/$name-tunnel.err)"
		fi
	done
}

# tunnel_fail NAME OUT ERR WANTED: note (once) why tunnelclient could not
# open WANTED tunnels: how many it did, and its first failure.
tunnel_fail() {
	local first ok
	[[ ${STATUS[$1]:-ok} != *"tunnels opened"* ]] || return 0
	ok=$(awk '/^ready/ { print $2 }' "$2")
	first=$(sed -n 's/^tunnelclient: first failure: //p' "$3" | head -n 1)
	note_status "$1" "${ok:-0} of $4 tunnels opened${first:+, first failure: $first}"
}

# wait_fds PID N SECS: until PID holds at most N descriptors; prints the
# seconds it took, or "-" if it did not within SECS.
wait_fds() {
	local t0=$SECONDS i
	for i in $(seq $(($3 * 10))); do
		[ "$(fd_count "$1")" -le "$2" ] && { echo $((SECONDS - t0)); return 0; }
		sleep 0.1
	done
	echo -
}

# ---------------------------------------------------------------- parts

idle_one() {
	local name=$1 pid=${MPID[$1]} port=${PORT[$1]} out=$R/idle/$1.txt err=$R/idle/$1.err
	local rss0 rss1 rss2 fd0 fd1 fd2 ofd0 ofd1 cpid ready i ok back closed
	# A few tunnels first, so that one-time set-up is not counted.
	"${PIN_LOAD[@]}" "$BIN/tunnelclient" -t 10 echo "127.0.0.1:$port" 10 1 \
	    > "$R/idle/$name-warmup.txt" 2>&1
	sleep 1
	rss0=$(rss_kib "$pid") fd0=$(fd_count "$pid") ofd0=$(fd_count "$OPID")
	"${PIN_LOAD[@]}" "$BIN/tunnelclient" -t 60 idle "127.0.0.1:$port" "$TUNNELS" \
	    > "$out" 2> "$err" &
	cpid=$!
	PIDS+=("$cpid")
	ready=
	for i in $(seq 1200); do
		ready=$(grep '^ready' "$out" 2>/dev/null)
		[ -n "$ready" ] && break
		alive "$cpid" || break
		sleep 0.1
	done
	ok=$(awk '/^ready/ { print $2 }' "$out")
	if [ "${ok:-0}" != "$TUNNELS" ]; then
		if [ -n "$ready" ]; then
			tunnel_fail "$name" "$out" "$err" "$TUNNELS"
		else
			note_status "$name" "tunnelclient idle did not get through its handshakes: $(tail -n 1 "$err")"
		fi
		stop_pid "$cpid"
		echo "$name $TUNNELS ${ok:-0} - - - - - - - - -" >> "$R/idle.tsv"
		return 1
	fi
	sleep 2
	rss1=$(rss_kib "$pid") fd1=$(fd_count "$pid") ofd1=$(fd_count "$OPID")
	stop_pid "$cpid"	# SIGTERM: it closes every tunnel and prints "closed"
	closed=$(grep '^closed' "$out")
	[[ $closed == "closed $TUNNELS peer_closed=0" ]] ||
	    note_status "$name" "tunnels closed early: $closed"
	back=$(wait_fds "$pid" "$fd0" 10)
	sleep 2
	rss2=$(rss_kib "$pid") fd2=$(fd_count "$pid")
	alive "$pid" || note_status "$name" "died during the idle part"
	echo "$name $TUNNELS $ok $rss0 $rss1 $rss2 $fd0 $fd1 $fd2 $((ofd1 - ofd0)) $back $(awk \
	    -v a="$rss0" -v b="$rss1" -v n="$TUNNELS" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')" \
	    >> "$R/idle.tsv"
	say "idle: $name: $ready; RSS $rss0 -> $rss1 -> $rss2 KiB, fds $fd0 -> $fd1 -> $fd2 (back in ${back}s), origin +$((ofd1 - ofd0)) tunnels"
}

part_idle() {
	local name
	echo "contender tunnels opened rss_before_kib rss_idle_kib rss_after_kib fds_before fds_idle fds_after origin_tunnels fds_back_secs bytes_per_tunnel" \
	    > "$R/idle.tsv"
	for name in "${NAMES[@]}"; do
		[ "${STATUS[$name]:-ok}" = ok ] || [ "$name" = hourglass ] || continue
		idle_one "$name"
	done
}

echo_one() {
	local r=$1 name=$2 pid=${MPID[$2]} out=$R/echo/r$1-$2.txt c0 c1 o0 o1 line
	c0=$(read_cpu "$pid") o0=$(read_cpu "$OPID")
	"${PIN_LOAD[@]}" "$BIN/tunnelclient" -t 10 -s "$ECHO_SIZE" echo \
	    "127.0.0.1:${PORT[$name]}" "$ECHO_CONNS" "$ECHO_SECS" > "$out" 2>&1
	c1=$(read_cpu "$pid") o1=$(read_cpu "$OPID")
	echo "# cpu ticks (utime stime) of pid $pid before: $c0 after: $c1; origin before: $o0 after: $o1; CLK_TCK $CLK_TCK" >> "$out"
	line=$(grep '^echo ' "$out")
	if [ -z "$line" ] || ! grep -q '^ready '"$ECHO_CONNS"' ' "$out"; then
		tunnel_fail "$name" "$out" "$out" "$ECHO_CONNS"
		return 1
	fi
	# shellcheck disable=SC2086
	set -- $c0 $c1 $o0 $o1
	awk -v r="$r" -v name="$name" -v hz="$CLK_TCK" -v u0="$1" -v s0="$2" -v u1="$3" -v s1="$4" \
	    -v ou0="$5" -v os0="$6" -v ou1="$7" -v os1="$8" '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		m = v["messages"]
		f = m > 0 ? 1e6 / hz / m : 0
		printf "%d %s %d %d %s %d %.3f %.3f\n", r, name, v["conns"], m, v["msgs_per_s"],
		    v["errors"], (u1 - u0 + s1 - s0) * f, (ou1 - ou0 + os1 - os0) * f
	}' <<< "$line" >> "$R/echo.tsv"
	say "echo: r$r $name: $(tail -n 1 "$R/echo.tsv" | awk '{ printf "%s msg/s, %s errors, %s us/msg (origin %s)", $5, $6, $7, $8 }')"
	alive "$pid" || note_status "$name" "died during the echo part"
}

part_echo() {
	local r i n order name
	echo "round contender conns messages msgs_per_s errors cpu_us_msg origin_us_msg" > "$R/echo.tsv"
	n=${#NAMES[@]}
	for ((r = 1; r <= ECHO_ROUNDS; r++)); do
		order=()
		for ((i = 0; i < n; i++)); do
			order+=("${NAMES[(i + r - 1) % n]}")
		done
		say "echo: round $r/$ECHO_ROUNDS, order ${order[*]}"
		for name in "${order[@]}"; do
			# A contender without tunnels is tried once, in round 1.
			[[ ${STATUS[$name]:-ok} != *"tunnels opened"* ]] || [ "$r" = 1 ] || continue
			echo_one "$r" "$name"
		done
	done
}

# ---------------------------------------------------------------- main

start_origin
start_all
[ ${#NAMES[@]} -gt 0 ] || die "no contender started"
touch "$R/idle.tsv" "$R/echo.tsv"
for p in idle echo; do
	want $p || continue
	t=$SECONDS
	part_$p
	say "$p part: $((SECONDS - t)) s"
done
for name in $CONTENDERS; do
	echo "$name ${STATUS[$name]:-ok}"
done > "$R/status.txt"
summarize "$R" | tee "$R/summary.txt"
say "raw results and summary.txt in $R"
