#!/usr/bin/env bash
# bench/tls.sh: the HTTPS part of the side-by-side bench (the method is in
# bench/README.md, "HTTPS").  bench/run.sh sources this file and calls
# part_tls (`make bench`, or the part alone: `make bench-tls`, `bench/run.sh
# tls`); bench/instr.sh sources it for tls_setup.  Run on its own,
#
#   bench/tls.sh                  the same as bench/run.sh tls
#   bench/tls.sh summarize DIR    the tables of a run's tls part again
#                                 (bench/summarize.sh calls it)
#
# Environment (defaults in brackets):
#   TLS_ROUNDS [5]        interleaved rounds
#   TLS_DURATION [5]      seconds per run
#   TLS_WARMUP [1]        seconds of unrecorded load per contender and scenario
#   TLS_HS_CONNS [4]      tlsclient's parallel connections, handshake scenarios
#   TLS_SCENARIOS ["100B-c50 16K-c50 hs-full hs-resume"]
#   TLS_PERF [1]          1: after the rounds, one more run per scenario and
#                         contender under perf (when perf works here): where
#                         the CPU goes by object and symbol, and the
#                         syscalls; 0: none
#   TLS_PERF_HZ [1999]    perf's sampling rate (cpu-clock)
#
# Every proxy terminates TLS 1.3 with the same ECDSA P-256 certificate, made
# for the run with openssl into the run's private directory (deleted at the
# end); the clients offer TLS_AES_128_GCM_SHA256 and X25519 only (wrk
# through OPENSSL_CONF, tlsclient by its code), and the proxies that have
# the keys are pinned to them too.  The origin side stays plain HTTP.

# Scenarios: keep-alive under wrk (path, connections), or a new connection
# per request under tlsclient (Connection: close; full handshakes, or
# resuming the previous connection's session).
declare -A TLS_SC_PATH=([100B-c50]=/ [16K-c50]=/bytes/16384 [hs-full]=/ [hs-resume]=/)
declare -A TLS_SC_CONN=([100B-c50]=50 [16K-c50]=50)
TLS_EXPECT="proto=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256 group=x25519"

# tls_setup DIR BINDIR: a certificate and key (ECDSA P-256, for localhost
# and 127.0.0.1) in DIR, the client configuration for wrk, and tlsclient
# built into BINDIR; sets TLS_CERT, TLS_KEY, TLS_CERTKEY (for render) and
# TLS_CNF.  Returns 1 on failure.
tls_setup() {
	local d=$1 bin=$2
	mkdir -p "$d" || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$d/key.pem" -out "$d/cert.pem" -days 2 -subj /CN=localhost \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" > "$d/openssl.log" 2>&1 ||
	    { cat "$d/openssl.log" >&2; return 1; }
	cat "$d/cert.pem" "$d/key.pem" > "$d/certkey.pem" || return 1
	chmod 600 "$d/key.pem" "$d/certkey.pem"
	# shellcheck disable=SC2034  # read by render (bench/lib.sh)
	TLS_CERT=$d/cert.pem TLS_KEY=$d/key.pem TLS_CERTKEY=$d/certkey.pem
	# OpenSSL reads this for wrk (which has no TLS options): TLS 1.3,
	# one suite, one group.
	TLS_CNF=$d/client.cnf
	cat > "$TLS_CNF" <<-'EOF'
	openssl_conf = bench_conf
	[bench_conf]
	ssl_conf = ssl_sect
	[ssl_sect]
	system_default = system_default_sect
	[system_default_sect]
	MinProtocol = TLSv1.3
	MaxProtocol = TLSv1.3
	Ciphersuites = TLS_AES_128_GCM_SHA256
	Groups = X25519
	EOF
	cc -O2 -Wall -Wextra -o "$bin/tlsclient" bench/tlsclient.c -lssl -lcrypto -lpthread
}

# tls_field LINE NAME: the value of NAME= in tlsclient's LINE.
tls_field() {
	local f
	for f in $1; do
		[ "${f%%=*}" = "$2" ] && { echo "${f#*=}"; return 0; }
	done
	echo 0
}

# tls_measure NAME SCEN SECS OUT: one run against NAME; prints "requests
# rate p50_ms p99_ms errors cpu_us user_us origin_us client_us resumed"
# (CPU in µs per request, which is per handshake in the hs- scenarios: the
# contender's utime+stime, its utime, the origin's, the client's).
tls_measure() {
	local name=$1 scen=$2 secs=$3 out=$4 pid=${MPID[$1]} c0 c1 o0 o1 line
	local TIMEFORMAT='%U %S' wt=0 req rate p50=- p99=- err cus res=-
	local port=${PORT[$1]} path=${TLS_SC_PATH[$2]}
	c0=$(read_cpu "$pid") o0=$(read_cpu "$OPID")
	case $scen in
	hs-*)
		local opt=()
		[ "$scen" = hs-resume ] && opt=(-r)
		timeout $((secs + 30)) "${PIN_LOAD[@]}" "$BIN/tlsclient" -c "$TLS_HS_CONNS" -d "$secs" "${opt[@]}" \
		    "$port" "$path" > "$out" 2>&1
		;;
	*)
		wt=$( { time OPENSSL_CONF=$TLS_CNF "${PIN_LOAD[@]}" wrk -t1 "-c${TLS_SC_CONN[$scen]}" \
		    "-d${secs}s" --latency "https://127.0.0.1:$port$path" > "$out" 2>&1; } 2>&1)
		;;
	esac
	c1=$(read_cpu "$pid") o1=$(read_cpu "$OPID")
	printf '# cpu ticks (utime stime) of pid %s before: %s after: %s; origin before: %s after: %s; CLK_TCK %s; wrk user+sys s: %s\n' \
	    "$pid" "$c0" "$c1" "$o0" "$o1" "$CLK_TCK" "$wt" >> "$out"
	case $scen in
	hs-*)
		line=$(grep '^requests=' "$out" | tail -n 1)
		req=$(tls_field "$line" requests)
		rate=$(tls_field "$line" hs_per_sec)
		err=$(( $(tls_field "$line" errors) + $(tls_field "$line" other) ))
		cus=$(tls_field "$line" client_cpu_us)
		res=$(tls_field "$line" resumed)
		;;
	*)
		# shellcheck disable=SC2046
		set -- $(wrk_parse "$out")
		req=$1 rate=$2 p50=$3 p99=$4 err=$(($5 + $6))
		cus=$(awk -v w="$wt" -v n="$req" 'BEGIN { split(w, a, " ");
		    printf "%.3f", (n > 0 ? (a[1] + a[2]) * 1e6 / n : 0) }')
		;;
	esac
	# shellcheck disable=SC2086
	awk -v req="$req" -v rate="$rate" -v p50="$p50" -v p99="$p99" -v err="$err" \
	    -v c0="$c0" -v c1="$c1" -v o0="$o0" -v o1="$o1" -v cus="$cus" -v res="$res" \
	    -v hz="$CLK_TCK" 'BEGIN {
		split(c0, a, " "); split(c1, b, " "); split(o0, x, " "); split(o1, y, " ")
		f = req > 0 ? 1e6 / hz / req : 0
		printf "%d %s %s %s %d %.3f %.3f %.3f %.3f %s\n", req, rate, p50, p99, err,
		    (b[1] - a[1] + b[2] - a[2]) * f, (b[1] - a[1]) * f,
		    (y[1] - x[1] + y[2] - x[2]) * f, cus, res
	}'
}

# tls_profile NAME SCEN: one more run of SCEN against NAME, under perf
# record (cpu-clock, user and kernel, with call chains) and perf stat (every
# syscall tracepoint), into tls/perf-SCEN-NAME.*: the samples' shares by
# object (.dso.txt) and by object and symbol (.sym.txt), the syscalls
# (.stat), the raw data (.data: perf report -i ...).  One row of
# tls_perf.tsv per object, and one with
# the syscalls per request; the summary scales the shares by the rounds'
# median CPU.
tls_profile() {
	local name=$1 scen=$2 base=$R/tls/perf-$2-$1 rec st row req
	perf record -q -e cpu-clock -F "$TLS_PERF_HZ" -g -p "${MPID[$name]}" \
	    -o "$base.data" > /dev/null 2> "$base.err" &
	rec=$!
	PIDS+=("$rec")
	perf stat -x, -e 'syscalls:sys_enter_*' -p "${MPID[$name]}" -o "$base.stat" 2>> "$base.err" &
	st=$!
	PIDS+=("$st")
	sleep 0.5
	row=$(tls_measure "$name" "$scen" "$TLS_DURATION" "$base.client.txt")
	kill -INT "$rec" "$st" 2>/dev/null
	wait "$rec" "$st" 2>/dev/null
	req=${row%% *}
	perf report -i "$base.data" --no-children --sort dso --stdio -g none \
	    > "$base.dso.txt" 2>> "$base.err"
	perf report -i "$base.data" --no-children --sort dso,sym --stdio -g none \
	    --percent-limit 0.3 > "$base.sym.txt" 2>> "$base.err"
	awk -v s="$scen" -v c="$name" '$1 ~ /%$/ && $1 + 0 > 0 {
		printf "%s %s dso %s %.2f\n", s, c, $2, $1 + 0 }' "$base.dso.txt" >> "$R/tls_perf.tsv"
	awk -F, -v s="$scen" -v c="$name" -v req="$req" '$3 ~ /^syscalls:sys_enter_/ && $1 + 0 > 0 {
		sub("syscalls:sys_enter_", "", $3); n[$3] = $1; t += $1 }
	END {
		if (req <= 0) exit
		l = ""
		for (k in n) if (n[k] / req >= 0.05) l = l sprintf("%.2f:%s\n", n[k] / req, k)
		printf "%s %s syscalls %.2f ", s, c, t / req
		m = split(l, a, "\n"); out = ""
		for (i = 1; i < m; i++) for (j = i + 1; j < m; j++)
			if (a[j] + 0 > a[i] + 0) { x = a[i]; a[i] = a[j]; a[j] = x }
		for (i = 1; i < m; i++) { split(a[i], f, ":"); out = out (i > 1 ? "," : "") f[2] "=" f[1] }
		print (out == "" ? "-" : out)
	}' "$base.stat" >> "$R/tls_perf.tsv"
	say "tls: profile $scen $name: $req requests under perf"
}

# tls_check NAME: what NAME negotiates (one full handshake) and whether it
# resumes (three connections, the last two resumed), into tls/params.txt;
# an anomaly otherwise.
tls_check() {
	local name=$1 full resumed
	full=$(timeout 30 "$BIN/tlsclient" -n 1 "${PORT[$name]}" / 2>&1 | tail -n 1)
	resumed=$(timeout 30 "$BIN/tlsclient" -r -n 3 "${PORT[$name]}" / 2>&1 | tail -n 1)
	echo "$name full: $full" >> "$R/tls/params.txt"
	echo "$name resume: $resumed" >> "$R/tls/params.txt"
	say "tls: $name: $(grep -o 'proto=.*' <<< "$full"), resumed $(tls_field "$resumed" resumed) of 2"
	if [[ $full != *"$TLS_EXPECT"* || $full != *" ok=1 "* ]]; then
		echo "tls: $name did not negotiate $TLS_EXPECT: $full" >> "$R/anomalies.txt"
	fi
	if [ "$(tls_field "$resumed" resumed)" != 2 ]; then
		echo "tls: $name resumed $(tls_field "$resumed" resumed) of 2 sessions: $resumed" >> "$R/anomalies.txt"
	fi
}

# part_tls: bench/run.sh's tls part.
part_tls() {
	local names=() order=() name scen r i n row scens dir=$R/tls
	TLS_ROUNDS=${TLS_ROUNDS:-5}
	TLS_DURATION=${TLS_DURATION:-5}
	TLS_WARMUP=${TLS_WARMUP:-1}
	TLS_HS_CONNS=${TLS_HS_CONNS:-4}
	TLS_PERF=${TLS_PERF:-1}
	TLS_PERF_HZ=${TLS_PERF_HZ:-1999}
	read -r -a scens <<< "${TLS_SCENARIOS:-100B-c50 16K-c50 hs-full hs-resume}"
	for scen in "${scens[@]}"; do
		[ -n "${TLS_SC_PATH[$scen]:-}" ] || die "unknown tls scenario '$scen' (${!TLS_SC_PATH[*]})"
	done
	mkdir -p "$dir"
	tls_setup "$RUN/tls" "$BIN" || die "tls: cannot make the certificate or build tlsclient"
	{
		echo "tls: TLS_ROUNDS=$TLS_ROUNDS TLS_DURATION=$TLS_DURATION TLS_WARMUP=$TLS_WARMUP TLS_HS_CONNS=$TLS_HS_CONNS scenarios: ${scens[*]}"
		echo "tls: $(openssl version); certificate $(openssl x509 -in "$TLS_CERT" -noout -text |
		    awk '/Public Key Algorithm/ { a = $NF } /NIST CURVE/ { c = $NF } END { print a, c }')"
		if [ -e /proc/net/tls_stat ]; then
			echo "tls: kTLS: the kernel offers it (/proc/net/tls_stat); not measured: no contender is set up for it"
		else
			echo "tls: kTLS: not offered by this kernel (no /proc/net/tls_stat): not measured"
		fi
	} >> "$R/env.txt"
	for name in $CONTENDERS; do
		case $name in floor|floor-l7) continue ;; esac	# no TLS
		CONF_KIND=-tls start_contender "$name" 30s tls &&
		    names+=("$name")
	done
	n=${#names[@]}
	[ "$n" -gt 0 ] || return 1
	for name in "${names[@]}"; do
		tls_check "$name"
	done
	say "tls: warm-up, ${TLS_WARMUP}s per contender and scenario"
	for scen in "${scens[@]}"; do
		for name in "${names[@]}"; do
			tls_measure "$name" "$scen" "$TLS_WARMUP" "$dir/warmup-$scen-$name.txt" > /dev/null
		done
	done
	echo "round scenario contender requests rate p50_ms p99_ms errors cpu_us_req user_us_req origin_us_req client_us_req resumed" \
	    > "$R/tls.tsv"
	for ((r = 1; r <= TLS_ROUNDS; r++)); do
		order=()
		for ((i = 0; i < n; i++)); do
			order+=("${names[(i + r - 1) % n]}")
		done
		say "tls: round $r/$TLS_ROUNDS, order ${order[*]}"
		for scen in "${scens[@]}"; do
			for name in "${order[@]}"; do
				alive "${MPID[$name]}" || continue
				row=$(tls_measure "$name" "$scen" "$TLS_DURATION" "$dir/r$r-$scen-$name.txt")
				echo "$r $scen $name $row" >> "$R/tls.tsv"
				[ "$(cut -d' ' -f5 <<< "$row")" = 0 ] ||
				    echo "tls round $r $scen $name: $(cut -d' ' -f5 <<< "$row") errors (tls/r$r-$scen-$name.txt)" >> "$R/anomalies.txt"
				printf 'bench:   %-9s %-10s %s\n' "$scen" "$name" \
				    "$(awk '{printf "%8.0f /s  %6.2f us/req  client %6.2f us/req  errors %d", $2, $6, $9, $5}' <<< "$row")" >&2
				check_alive "$name" tls
			done
		done
	done
	if [ "$TLS_PERF" = 1 ]; then
		if perf record -q -e cpu-clock -o "$RUN/perf-probe.data" true > /dev/null 2>&1 &&
		    perf stat -e syscalls:sys_enter_read true > /dev/null 2>&1; then
			: > "$R/tls_perf.tsv"
			for scen in "${scens[@]}"; do
				for name in "${names[@]}"; do
					alive "${MPID[$name]}" && tls_profile "$name" "$scen"
				done
			done
		else
			say "tls: perf (cpu-clock and syscall tracepoints) does not work here: no profiles"
			echo "tls: no profiles: perf does not work here" >> "$R/env.txt"
		fi
	fi
	for name in "${names[@]}"; do
		stop_contender "$name"
	done
}

# tls_summarize DIR: the tls part's table, from DIR/tls.tsv.
tls_summarize() {
	local d=$1
	[ -s "$d/tls.tsv" ] || return 0
	awk "$AWK_MEDIAN"'
	NR == 1 { next }
	{
		r = $1; s = $2; c = $3
		if (!(s in sseen)) { sseen[s] = 1; sorder[++ns] = s }
		if (!(c in cseen)) { cseen[c] = 1; corder[++nc] = c }
		if (!(r in rseen)) { rseen[r] = 1; rorder[++nr] = r }
		rate[s, c, r] = $5; cpu[s, c, r] = $9
		L_rate[s, c] = L_rate[s, c] " " $5
		if ($7 != "-") L_p99[s, c] = L_p99[s, c] " " $7
		L_cpu[s, c] = L_cpu[s, c] " " $9
		L_usr[s, c] = L_usr[s, c] " " $10
		L_org[s, c] = L_org[s, c] " " $11
		L_cli[s, c] = L_cli[s, c] " " $12
		req[s, c] += $4; err[s, c] += $8
		if ($13 != "-") { res[s, c] += $13; hasres[s, c] = 1 }
	}
	# better(V, s, c): the median over rounds of V[s,c,r] / the best of the
	# peers nginx and HAProxy (but c itself) in round r: the lowest CPU,
	# the highest rate.
	function better(which, s, c,   i, j, r, o, l, x, y, b) {
		l = ""
		for (i = 1; i <= nr; i++) {
			r = rorder[i]; b = ""
			for (j = 1; j <= nc; j++) {
				o = corder[j]
				if (o == c || o == "hourglass") continue
				y = which == "cpu" ? cpu[s, o, r] : rate[s, o, r]
				if (y == "" || y + 0 <= 0) continue
				if (b == "" || (which == "cpu" ? y + 0 < b + 0 : y + 0 > b + 0)) b = y
			}
			x = which == "cpu" ? cpu[s, c, r] : rate[s, c, r]
			if (x != "" && b != "") l = l " " x / b
		}
		return median(l)
	}
	END {
		printf "\n== HTTPS: TLS 1.3, TLS_AES_128_GCM_SHA256, X25519, ECDSA P-256; %d round(s), medians\n", nr
		printf "   100B-c50, 16K-c50: wrk -t1, 50 keep-alive connections; rate = req/s, CPU per request\n"
		printf "   hs-full, hs-resume: tlsclient, a new connection per request (Connection: close), without and\n"
		printf "   with session resumption; rate = handshakes/s, CPU per handshake (and its one request)\n"
		printf "   CPU = the contender'"'"'s own utime+stime (nginx: its worker); x better peer = median over\n"
		printf "   rounds of the ratio to the better of nginx and HAProxy (but the row itself) in the same round\n\n"
		printf "%-10s %-10s %9s %7s %8s %8s | %7s %7s | %8s %8s %8s %6s\n", "", "", "", "", "CPU", "user",
		    "x better peer", "", "origin", "client", "", ""
		printf "%-10s %-10s %9s %7s %8s %8s | %7s %7s | %8s %8s %8s %6s\n", "scenario", "contender",
		    "rate", "p99 ms", "us/req", "us/req", "CPU", "rate", "us/req", "us/req", "resumed", "errors"
		for (i = 1; i <= ns; i++) {
			s = sorder[i]
			for (j = 1; j <= nc; j++) {
				c = corder[j]
				if (L_rate[s, c] == "") continue
				printf "%-10s %-10s %9.0f %7s %8.2f %8.2f | %7s %7s | %8.2f %8.2f %8s %6d\n",
				    s, c, median(L_rate[s, c]), fmt(median(L_p99[s, c]), "%.2f"),
				    median(L_cpu[s, c]), median(L_usr[s, c]),
				    fmt(better("cpu", s, c), "%.2f"), fmt(better("rate", s, c), "%.2f"),
				    median(L_org[s, c]), median(L_cli[s, c]),
				    (hasres[s, c] && req[s, c] > 0 ? sprintf("%.0f%%", 100 * res[s, c] / req[s, c]) : "-"),
				    err[s, c]
			}
		}
	}' "$d/tls.tsv"
	if [ -s "$d/tls/params.txt" ]; then
		printf '\n   negotiated (tlsclient, one full handshake each; see tls/params.txt):\n'
		awk '$2 == "full:" { printf "   %-10s %s %s %s\n", $1, $(NF - 2), $(NF - 1), $NF }' "$d/tls/params.txt"
	fi
	[ -s "$d/tls_perf.tsv" ] || return 0
	awk "$AWK_MEDIAN"'
	# group(c, dso): the column an object goes to.
	function group(c, o) {
		if (o == c) return "own"
		if (o ~ /^libssl/) return "libssl"
		if (o ~ /^libcrypto/) return "libcrypto"
		if (o ~ /^libc[.-]/ || o ~ /^ld-linux/) return "libc"
		if (o ~ /^libevent/) return "libevent"
		if (o ~ /kernel/) return "kernel"
		return "other"
	}
	FILENAME ~ /tls.tsv$/ { if (FNR > 1) L_cpu[$2, $3] = L_cpu[$2, $3] " " $9; next }
	$3 == "dso" {
		k = $1 SUBSEP $2
		if (!(k in seen)) { seen[k] = 1; order[++n] = k }
		pct[k, group($2, $4)] += $5; tot[k] += $5
		next
	}
	$3 == "syscalls" { sc[$1, $2] = $4; top[$1, $2] = $5 }
	END {
		printf "\n== Where the CPU goes (one more run per row under perf record, cpu-clock): the rounds'"'"'\n"
		printf "   median CPU per request split by the share of perf'"'"'s samples in each object (own = the\n"
		printf "   contender'"'"'s binary, libc with ld.so); syscalls per request by perf stat, same run\n\n"
		printf "%-10s %-10s %8s | %7s %7s %9s %7s %8s %7s %7s | %7s  %s\n", "scenario", "contender",
		    "CPU us", "own", "libssl", "libcrypto", "libc", "libevent", "kernel", "other", "sys/req", "syscalls per request"
		split("own libssl libcrypto libc libevent kernel other", g, " ")
		for (i = 1; i <= n; i++) {
			split(order[i], f, SUBSEP)
			cpu = median(L_cpu[f[1], f[2]])
			printf "%-10s %-10s %8.2f |", f[1], f[2], cpu
			for (j = 1; j <= 7; j++) {
				w = j == 3 ? 9 : j == 5 ? 8 : 7
				x = pct[order[i], g[j]]
				printf " %*s", w, (x == "" ? "-" : sprintf("%.2f", cpu * x / 100))
			}
			printf " | %7s  %s\n", (sc[f[1], f[2]] == "" ? "-" : sc[f[1], f[2]]), top[f[1], f[2]]
		}
		printf "\n   (tls/perf-*.sym.txt has the symbols, tls/perf-*.data the call chains)\n"
	}' "$d/tls.tsv" "$d/tls_perf.tsv"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	AWK_MEDIAN=$(cat "$(dirname "$0")/median.awk")	# lib.sh's, alone
	case ${1:-} in
	'')
		exec "$(dirname "$0")/run.sh" tls
		;;
	summarize)
		[ -d "${2:-}" ] || { echo "usage: bench/tls.sh summarize RESULTS_DIR" >&2; exit 2; }
		tls_summarize "$2"
		;;
	*)
		echo "usage: bench/tls.sh [summarize RESULTS_DIR]" >&2
		exit 2
		;;
	esac
fi
