#!/bin/sh
# bench/summarize.sh DIR: print the summary tables of one bench run from the
# raw files bench/run.sh wrote into DIR (env.txt, throughput.tsv,
# memory.tsv, timer.tsv, syscalls.tsv, anomalies.txt).  run.sh calls it and
# keeps its output as DIR/summary.txt; it can be run again on any results
# folder.
set -u
d=${1:?usage: bench/summarize.sh RESULTS_DIR}
[ -d "$d" ] || { echo "summarize: no such directory: $d" >&2; exit 1; }

echo "== hourglass side-by-side bench: $(basename "$d")"
[ -f "$d/env.txt" ] && sed 's/^/   /' "$d/env.txt"

# Shared awk: median() and fmt().
MEDIAN=$(cat "$(dirname "$0")/median.awk")

if [ -s "$d/throughput.tsv" ]; then
	awk "$MEDIAN"'
	NR == 1 { next }
	{
		r = $1; s = $2; c = $3
		if (!(s in sseen)) { sseen[s] = 1; sorder[++ns] = s }
		if (!(c in cseen)) { cseen[c] = 1; corder[++nc] = c }
		if (!(r in rseen)) { rseen[r] = 1; rorder[++nr] = r }
		rps[s, c, r] = $5; cpu[s, c, r] = $10; p99[s, c, r] = $7
		L_rps[s, c] = L_rps[s, c] " " $5
		L_p50[s, c] = L_p50[s, c] " " $6
		L_p99[s, c] = L_p99[s, c] " " $7
		L_cpu[s, c] = L_cpu[s, c] " " $10
		L_usr[s, c] = L_usr[s, c] " " $11
		L_org[s] = L_org[s] " " $12
		L_wrk[s] = L_wrk[s] " " $13
		err[s, c] += $8 + $9
	}
	# paired(V, s, c, ref): the median over rounds of V[s,c,r] / V[s,ref,r].
	function paired(which, s, c, ref,   i, r, l, x, y) {
		if (c == ref) return ""
		l = ""
		for (i = 1; i <= nr; i++) {
			r = rorder[i]
			if (which == "cpu") { x = cpu[s, c, r]; y = cpu[s, ref, r] }
			else { x = rps[s, c, r]; y = rps[s, ref, r] }
			if (x != "" && y != "" && y + 0 > 0) l = l " " x / y
		}
		return median(l)
	}
	# better(V, s, c): the median over rounds of V[s,c,r] / the best value
	# of the peers, nginx and HAProxy, but c itself, in round r: the
	# highest req/s, the lowest CPU or p99.  This is the form of the
	# targets; the floor rows show how far any proxy could go.
	function better(which, s, c,   i, j, r, o, l, x, y, b) {
		l = ""
		for (i = 1; i <= nr; i++) {
			r = rorder[i]; b = ""
			for (j = 1; j <= nc; j++) {
				o = corder[j]
				if (o == c || o == "floor" || o == "floor-l7" || o == "hourglass")
					continue
				if (which == "cpu") y = cpu[s, o, r]
				else if (which == "p99") y = p99[s, o, r]
				else y = rps[s, o, r]
				if (y == "" || y + 0 <= 0) continue
				if (b == "" || (which == "rps" ? y + 0 > b + 0 : y + 0 < b + 0))
					b = y
			}
			if (which == "cpu") x = cpu[s, c, r]
			else if (which == "p99") x = p99[s, c, r]
			else x = rps[s, c, r]
			if (x != "" && b != "") l = l " " x / b
		}
		return median(l)
	}
	END {
		printf "\n== Throughput: wrk -t1 keep-alive, %d round(s), medians; CPU = the contender'"'"'s own utime+stime per request\n", nr
		printf "   (x REF = median over rounds of the paired ratio contender/REF, same round and scenario)\n\n"
		printf "%-10s %-10s %9s %7s %7s %8s %8s | %-23s | %-23s | %s\n", "", "", "", "", "",
		    "CPU", "user", "CPU us/req ratio", "req/s ratio", ""
		printf "%-10s %-10s %9s %7s %7s %8s %8s | %7s %7s %7s | %7s %7s %7s | %s\n", "scenario", "contender",
		    "req/s", "p50 ms", "p99 ms", "us/req", "us/req", "x floor", "x nginx", "x hapx",
		    "x floor", "x nginx", "x hapx", "errors"
		for (i = 1; i <= ns; i++) {
			s = sorder[i]
			for (j = 1; j <= nc; j++) {
				c = corder[j]
				if (L_rps[s, c] == "") continue
				printf "%-10s %-10s %9.0f %7.2f %7.2f %8.2f %8.2f | %7s %7s %7s | %7s %7s %7s | %d\n",
				    s, c, median(L_rps[s, c]), median(L_p50[s, c]), median(L_p99[s, c]),
				    median(L_cpu[s, c]), median(L_usr[s, c]),
				    fmt(paired("cpu", s, c, "floor"), "%.2f"),
				    fmt(paired("cpu", s, c, "nginx"), "%.2f"),
				    fmt(paired("cpu", s, c, "haproxy"), "%.2f"),
				    fmt(paired("rps", s, c, "floor"), "%.2f"),
				    fmt(paired("rps", s, c, "nginx"), "%.2f"),
				    fmt(paired("rps", s, c, "haproxy"), "%.2f"), err[s, c]
			}
		}
		printf "\n   x better peer = median over rounds of the ratio to the better of nginx and\n"
		printf "   HAProxy (but the row itself) in the same round: lowest CPU and p99, highest req/s\n\n"
		printf "%-10s %-10s %9s %9s %9s\n", "scenario", "contender", "CPU", "req/s", "p99"
		for (i = 1; i <= ns; i++) {
			s = sorder[i]
			for (j = 1; j <= nc; j++) {
				c = corder[j]
				if (L_rps[s, c] == "") continue
				printf "%-10s %-10s %9s %9s %9s\n", s, c,
				    fmt(better("cpu", s, c), "%.2f"),
				    fmt(better("rps", s, c), "%.2f"),
				    fmt(better("p99", s, c), "%.2f")
			}
		}
		printf "\n   CPU us/req of the test origin / of wrk (medians over all runs):\n  "
		for (i = 1; i <= ns; i++)
			printf "  %s %.2f / %s", sorder[i], median(L_org[sorder[i]]),
			    (L_wrk[sorder[i]] ~ /[0-9]/ ? sprintf("%.2f", median(L_wrk[sorder[i]])) : "-")
		printf "\n"
	}' "$d/throughput.tsv"
	# How each contender relayed the chunked scenario (run.sh checks it).
	if [ -s "$d/throughput/framing.txt" ]; then
		printf '\n   16Kch: GET /chunked/16384, 16 KiB the origin sends in 4 chunks of 4 KiB; as received\n'
		printf '   through each contender (3 responses, before the warm-up):\n  '
		awk '{
			for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			if (v["ok"] != v["requests"]) f = "FAILED"
			else if (v["chunked"] == 0) f = "content-length"
			else f = sprintf("chunked, %.2f chunks", v["chunks"] / v["chunked"])
			printf "  %s %s", $1, f
		} END { printf "\n" }' "$d/throughput/framing.txt"
	fi
fi

if [ -s "$d/memory.tsv" ]; then
	awk '
	NR == 1 { next }
	{
		n++; for (i = 1; i <= NF; i++) f[n, i] = $i
		per[n] = $3 > 0 ? ($8 - $7) / $3 : 0
	}
	END {
		printf "\n== Memory: idle keep-alive client connections (each sent one GET / and read the 100-byte reply)\n"
		printf "   KiB/conn = (RSS idle - RSS before) / ok; RSS of the contender process (nginx: its worker)\n\n"
		h = "%-10s %6s %6s %6s %5s %10s %10s %9s %10s %9s %6s %6s %6s\n"
		printf h, "contender", "conns", "ok", "failed", "shut", "RSS before", "RSS idle", "KiB/conn",
		    "RSS closed", "vs before", "fds", "fds", "fds"
		printf h, "", "", "", "", "", "KiB", "KiB", "", "KiB", "KiB", "before", "idle", "closed"
		for (i = 1; i <= n; i++)
			printf "%-10s %6d %6d %6d %5d %10d %10d %9.2f %10d %+9d %6d %6d %6d\n",
			    f[i, 1], f[i, 2], f[i, 3], f[i, 4] + f[i, 5], f[i, 6], f[i, 7], f[i, 8], per[i],
			    f[i, 9], f[i, 9] - f[i, 7], f[i, 10], f[i, 11], f[i, 12]
		printf "   (failed = failed or non-200; shut = idle connections the contender closed while held;\n"
		printf "   the floor keeps no user-space buffer on an idle pair: its row is the process baseline)\n"
	}' "$d/memory.tsv"
fi

if [ -s "$d/timer.tsv" ]; then
	tm=$(sed -n 's/.*TIMER_MS=\([0-9]*\).*/\1/p' "$d/env.txt" 2>/dev/null)
	# Columns are found by the header's names: an older timer.tsv (one run
	# per contender and mode, no round and no CPU columns) reads as round 1.
	awk -v tm="${tm:-200}" "$MEDIAN"'
	function num(v) { return v ~ /^-?[0-9]+(\.[0-9]*)?$/ }
	function get(name) { return (name in col) ? $col[name] : "-" }
	function add(key, name,   v) { v = get(name); if (num(v)) L[key, name] = L[key, name] " " v }
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; old = !("round" in col); next }
	NF < 3 { next }
	{
		r = old ? 1 : $col["round"]; c = get("contender"); m = get("mode"); k = c SUBSEP m
		if (!(c in cseen)) { cseen[c] = 1; corder[++nc] = c }
		if (!(m in mseen)) { mseen[m] = 1; morder[++nm] = m }
		if (!(r in rseen)) { rseen[r] = 1; rorder[++nr] = r }
		runs[k]++
		if (!((m, r) in mrseen)) { mrseen[m, r] = 1; mrounds[m]++ }
		for (i = 1; i <= ns; i++) S[k, sums[i]] += get(sums[i])
		for (i = 1; i <= nmed; i++) add(k, meds[i])
		v = get("p99_ms"); if (num(v)) { p99[c, m, r] = v; valid[k]++ }
	}
	BEGIN {
		ns = split("n s504 other closed noreply early", sums, " ")
		nmed = split("min_ms p50_ms p99_ms max_ms up_p50_ms up_p99_ms up_max_ms cpu_ms origin_cpu_ms", meds, " ")
	}
	# vs_peer(c, m): the median over rounds of c'"'"'s client p99 / the lower
	# client p99 of the other proxies in the same round and mode.
	function vs_peer(c, m,   i, j, r, l, best, o) {
		l = ""
		for (i = 1; i <= nr; i++) {
			r = rorder[i]
			if (!((c, m, r) in p99)) continue
			best = ""
			for (j = 1; j <= nc; j++) {
				o = corder[j]
				if (o == c || o == "floor" || o == "floor-l7" || !((o, m, r) in p99)) continue
				if (best == "" || p99[o, m, r] + 0 < best + 0) best = p99[o, m, r]
			}
			if (best != "" && best + 0 > 0) l = l " " p99[c, m, r] / best
		}
		return median(l)
	}
	function med(k, name, f) { return fmt(median(L[k, name]), f) }
	END {
		printf "\n== Timer accuracy: GET /hang through each proxy, upstream header timeout %s ms, %d round(s)\n", tm, nr
		printf "   client view: (request sent -> first byte of the reply or close) - timeout, ms, exact;\n"
		printf "   upstream view: (origin got the request -> proxy closed that upstream connection) - timeout,\n"
		printf "   from the origin'"'"'s event log in whole ms.  burst = all at once, spread = evenly over the window.\n"
		printf "   Medians over rounds, except n .. early: sums over rounds.  CPU ms = the proxy'"'"'s (nginx: its\n"
		printf "   worker'"'"'s) and its origin'"'"'s CPU time during the timerbench run (/proc/PID/task/*/schedstat).\n"
		printf "   p99 x better peer = median over rounds of the paired ratio client p99 / the lower client p99\n"
		printf "   of the other proxies, same round and mode\n"
		if (old) printf "   (an older timer.tsv: one run per proxy and mode, no CPU figures)\n"
		printf "\n"
		h = "%-10s %-7s %6s %6s %5s %6s %7s %5s | %7s %7s %7s %7s | %6s %6s %6s | %7s %7s | %s\n"
		printf "%-10s %-7s %6s %6s %5s %6s %7s %5s | %-31s | %-20s | %-15s | %s\n", "", "", "", "", "",
		    "", "", "", "client view, ms", "upstream view, ms", "CPU ms", "p99 x"
		printf h, "contender", "mode", "n", "504", "other", "closed", "noreply", "early", "min", "p50",
		    "p99", "max", "p50", "p99", "max", "proxy", "origin", "better peer"
		for (j = 1; j <= nm; j++) {
			m = morder[j]
			for (i = 1; i <= nc; i++) {
				c = corder[i]; k = c SUBSEP m
				if (!(k in runs)) continue
				note = ""
				if (valid[k] < mrounds[m])
					note = sprintf("   (results in %d of %d rounds)", valid[k], mrounds[m])
				printf h, c, m, S[k, "n"], S[k, "s504"], S[k, "other"], S[k, "closed"],
				    S[k, "noreply"], S[k, "early"], med(k, "min_ms", "%.2f"), med(k, "p50_ms", "%.2f"),
				    med(k, "p99_ms", "%.2f"), med(k, "max_ms", "%.2f"), med(k, "up_p50_ms", "%.3g"),
				    med(k, "up_p99_ms", "%.3g"), med(k, "up_max_ms", "%.3g"),
				    med(k, "cpu_ms", "%.1f"), med(k, "origin_cpu_ms", "%.1f"),
				    fmt(vs_peer(c, m), "%.2f") note
			}
		}
	}' "$d/timer.tsv"
fi

if [ -s "$d/syscalls.tsv" ]; then
	m=$(cat "$d/syscalls/method" 2>/dev/null || echo '?')
	awk -v method="$m" '
	NR == 1 { next }
	{ rows[++n] = $0; if ($1 == "floor") fl = $4 }
	END {
		printf "\n== Syscalls per request: 100-byte responses, 50 keep-alive connections, counted with %s\n", method
		printf "   (the total in one run, the breakdown in a second run; CPU and user from the first)\n\n"
		printf "%-10s %9s %10s %8s %8s %8s %8s  %s\n", "contender", "requests", "syscalls",
		    "per req", "x floor", "CPU us", "user us", "breakdown per request"
		for (i = 1; i <= n; i++) {
			split(rows[i], f, " ")
			printf "%-10s %9d %10d %8.2f %8s %8.2f %8.2f  %s\n", f[1], f[2], f[3], f[4],
			    (fl > 0 ? sprintf("%.2f", f[4] / fl) : "-"), f[5], f[6], f[7]
		}
	}' "$d/syscalls.tsv"
fi

# The tls part (bench/tls.sh).
[ -s "$d/tls.tsv" ] && bash "$(dirname "$0")/tls.sh" summarize "$d"

# Anything that went wrong.
{
	[ -s "$d/throughput.tsv" ] && awk 'NR > 1 && ($8 > 0 || $9 > 0 || $4 == 0) {
		printf "throughput round %s %s %s: %d non-2xx, %d socket errors, %d requests\n", $1, $2, $3, $8, $9, $4 }' \
	    "$d/throughput.tsv"
	[ -s "$d/memory.tsv" ] && awk 'NR > 1 && ($4 > 0 || $5 > 0 || $6 > 0 || $3 < $2) {
		printf "memory %s: %d of %d ok, %d failed, %d non-200, %d closed by the contender while idle\n", $1, $3, $2, $4, $5, $6 }' \
	    "$d/memory.tsv"
	[ -s "$d/timer.tsv" ] && awk 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	NF >= 3 && ($col["other"] > 0 || $col["closed"] > 0 || $col["noreply"] > 0) {
		printf "timer %s%s %s: %d other status, %d closed without a reply, %d no reply\n",
		    ("round" in col) ? "round " $col["round"] " " : "", $col["contender"], $col["mode"],
		    $col["other"], $col["closed"], $col["noreply"] }' \
	    "$d/timer.tsv"
	[ -s "$d/anomalies.txt" ] && cat "$d/anomalies.txt"
} > "$d/.anomalies" 2>/dev/null
if [ -s "$d/.anomalies" ]; then
	printf '\n== Anomalies\n'
	sed 's/^/   /' "$d/.anomalies"
fi
rm -f "$d/.anomalies"
