#!/usr/bin/env bash
# bench/instr.sh: instructions per proxied request, counted by callgrind
# (`make bench-instr`).  The method is described in bench/README.md.
#
#   bench/instr.sh [100B] [16K] [16K-chunked] [tls-100B] [tls-16K] [tls-hs]
#                  [tls-resume]                   (default: all)
#   bench/instr.sh summarize DIR                  (print a run's table again)
#
# Environment (defaults in brackets):
#   N1 [2000], N2 [12000]  the request counts of the two runs per contender;
#                          per request = (I(N2) - I(N1)) / (N2 - N1)
#   HS_N1 [200], HS_N2 [1200]  the same for tls-hs and tls-resume (one
#                          connection and handshake per request)
#   CONTENDERS ["floor floor-l7 hourglass nginx haproxy"]
#   HOURGLASS [./hourglass] the hourglass binary to count (another build, to
#                          compare commits)
#   NO_DEPS [0]            1: do not call tools/deps.sh
#
# Each contender runs under valgrind --tool=callgrind; the test origin and
# the client (seqclient; tlsclient for the tls- variants: bench/tls.sh) run
# outside it.  Every process started is recorded
# by PID and stopped by PID.  Raw results and summary.txt go to
# bench/results/instr-<date-time>/.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh
# shellcheck source=bench/tls.sh
. bench/tls.sh

say() { printf 'bench-instr: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# objects FILE: "object instructions" per object a callgrind FILE counts
# (its own instructions, not those of what it calls), by the object's file
# name: "hourglass", "libssl.so.3", ...  Names are given once and then
# referred to by number, on ob= lines (the object of the costs that
# follow) and on cob= lines (a callee's object); the cost line after a
# calls= line is the call's inclusive cost and is not counted.
objects() {
	awk '
	function obid(x,   id) {
		if (!match(x, /^[(][0-9]+[)]/)) return x
		id = substr(x, 1, RLENGTH)
		if (length(x) > RLENGTH + 1) name[id] = substr(x, RLENGTH + 2)
		return id
	}
	/^ob=/ { cur = obid(substr($0, 4)); next }
	/^cob=/ { obid(substr($0, 5)); next }
	/^calls=/ { skip = 1; next }
	/^[0-9+*-]/ { if (skip) { skip = 0; next }; s[cur] += $NF; next }
	END { for (o in s) { b = (o in name) ? name[o] : o; sub(/.*\//, "", b); print b, s[o] } }' "$1"
}

# summarize DIR: the table, from DIR/env.txt and DIR/instr.tsv, and the
# split by object from DIR/objects.tsv.
summarize() {
	local d=$1
	[ -s "$d/instr.tsv" ] || { say "no $d/instr.tsv"; return 1; }
	echo "== hourglass instructions per proxied request: $(basename "$d")"
	sed 's/^/   /' "$d/env.txt"
	awk '
	NR == 1 { next }
	{
		v = $1; c = $2
		if (!(v in vseen)) { vseen[v] = 1; vorder[++nv] = v }
		if (!(c in cseen)) { cseen[c] = 1; corder[++nc] = c }
		if (!((v, c) in lo) || $3 < nlo[v, c]) { nlo[v, c] = $3; lo[v, c] = $4 }
		if (!((v, c) in hi) || $3 > nhi[v, c]) {
			nhi[v, c] = $3; hi[v, c] = $4
			ok[v, c] = $5; chk[v, c] = $6; chunks[v, c] = $7
		}
	}
	function per(v, c) {
		if (!((v, c) in lo) || !((v, c) in hi) || nhi[v, c] == nlo[v, c] ||
		    lo[v, c] == "-" || hi[v, c] == "-") return ""
		return (hi[v, c] - lo[v, c]) / (nhi[v, c] - nlo[v, c])
	}
	# peer(v, c): the lower of nginx and HAProxy, but c itself.
	function peer(v, c,   b, x) {
		b = ""
		if (c != "nginx") { x = per(v, "nginx"); if (x != "") b = x }
		if (c != "haproxy") { x = per(v, "haproxy"); if (x != "" && (b == "" || x < b)) b = x }
		return b
	}
	function ratio(x, y) { return x == "" || y == "" || y <= 0 ? "-" : sprintf("%.2f", x / y) }
	function framing(v, c) {
		if (!((v, c) in hi) || ok[v, c] != nhi[v, c]) return "FAILED"
		if (chk[v, c] == 0) return "content-length"
		return sprintf("chunked, %.2f chunks", chunks[v, c] / chk[v, c])
	}
	END {
		printf "\n   instr/req = (I(N2) - I(N1)) / (N2 - N1): callgrind'"'"'s instruction count of the\n"
		printf "   proxy process (all threads, user space), one keep-alive connection, one request\n"
		printf "   at a time.  x peer = ratio to the better (lower) of nginx and HAProxy, but the row\n"
		printf "   itself.  framing = how the client received the responses of the N2 run.\n\n"
		printf "%-12s %-10s %10s %7s %7s  %-24s %14s %14s\n", "variant", "contender",
		    "instr/req", "x peer", "x l7", "framing", "I(N1)", "I(N2)"
		for (i = 1; i <= nv; i++) {
			v = vorder[i]
			for (j = 1; j <= nc; j++) {
				c = corder[j]
				if (!((v, c) in lo) && !((v, c) in hi)) continue
				x = per(v, c)
				printf "%-12s %-10s %10s %7s %7s  %-24s %14s %14s\n", v, c,
				    (x == "" ? "-" : sprintf("%.0f", x)), ratio(x, peer(v, c)),
				    (c == "floor-l7" ? "-" : ratio(x, per(v, "floor-l7"))),
				    framing(v, c), lo[v, c], hi[v, c]
			}
		}
	}' "$d/instr.tsv"
	[ -s "$d/objects.tsv" ] || return 0
	awk '
	# group(c, o): the column object o of contender c goes to.
	function group(c, o) {
		if (o == c) return "own"
		if (o ~ /^libssl/) return "libssl"
		if (o ~ /^libcrypto/) return "libcrypto"
		if (o ~ /^libc[.-]/ || o ~ /^ld-linux/) return "libc"
		if (o ~ /^libevent/) return "libevent"
		return "other"
	}
	{
		v = $1; c = $2; k = v SUBSEP c
		if (!(k in seen)) { seen[k] = 1; order[++n] = k }
		if (!(k in nlo) || $3 < nlo[k]) nlo[k] = $3
		if (!(k in nhi) || $3 > nhi[k]) nhi[k] = $3
		I[k, $3, group(c, $4)] += $5
	}
	END {
		printf "\n   by object: (I(N2) - I(N1)) / (N2 - N1) of the instructions in each object'"'"'s own\n"
		printf "   code (own = the contender'"'"'s binary; libc with ld.so)\n\n"
		printf "%-12s %-10s %9s %9s %9s %9s %9s %9s\n", "variant", "contender", "own",
		    "libssl", "libcrypto", "libc", "libevent", "other"
		split("own libssl libcrypto libc libevent other", g, " ")
		for (i = 1; i <= n; i++) {
			k = order[i]; split(k, f, SUBSEP)
			if (nhi[k] == nlo[k]) continue
			printf "%-12s %-10s", f[1], f[2]
			for (j = 1; j <= 6; j++) {
				x = (I[k, nhi[k], g[j]] - I[k, nlo[k], g[j]]) / (nhi[k] - nlo[k])
				printf " %9.0f", (x > -1 && x < 1 ? 0 : x)
			}
			printf "\n"
		}
	}' "$d/objects.tsv"
}

if [ "${1:-}" = summarize ]; then
	[ -d "${2:-}" ] || die "usage: bench/instr.sh summarize RESULTS_DIR"
	summarize "$2"
	exit
fi

N1=${N1:-2000}
N2=${N2:-12000}
CONTENDERS=${CONTENDERS:-floor floor-l7 hourglass nginx haproxy}
HOURGLASS=${HOURGLASS:-./hourglass}

HS_N1=${HS_N1:-200}
HS_N2=${HS_N2:-1200}

# tls-*: over TLS (bench/tls.sh): keep-alive (100B, 16K), a full handshake
# per request (hs) or a resumed one (resume); hourglass, nginx and HAProxy.
declare -A V_PATH=([100B]=/ [16K]=/bytes/16384 [16K-chunked]=/chunked/16384
    [tls-100B]=/ [tls-16K]=/bytes/16384 [tls-hs]=/ [tls-resume]=/)
VARIANTS=("$@")
[ ${#VARIANTS[@]} -gt 0 ] || VARIANTS=(100B 16K 16K-chunked tls-100B tls-16K tls-hs tls-resume)
for v in "${VARIANTS[@]}"; do
	[ -n "${V_PATH[$v]:-}" ] ||
	    die "unknown variant '$v' (100B 16K 16K-chunked tls-100B tls-16K tls-hs tls-resume)"
done
[[ $N1 =~ ^[1-9][0-9]*$ && $N2 =~ ^[1-9][0-9]*$ ]] && [ "$N2" -gt "$N1" ] ||
    die "N1 and N2 must be positive integers, N2 > N1"
[[ $HS_N1 =~ ^[1-9][0-9]*$ && $HS_N2 =~ ^[1-9][0-9]*$ ]] && [ "$HS_N2" -gt "$HS_N1" ] ||
    die "HS_N1 and HS_N2 must be positive integers, HS_N2 > HS_N1"

# ---------------------------------------------------------------- set-up

if [ "${NO_DEPS:-0}" != 1 ]; then
	tools/deps.sh valgrind nginx haproxy || die "tools/deps.sh failed"
fi
for t in valgrind nginx haproxy cc; do
	command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || die "$t is missing"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$HOURGLASS" ] && [ -x tests/origin/hourglass-origin ] ||
    die "$HOURGLASS or the test origin is missing: run make (or make bench-instr)"
if grep -qa -e __asan_init -e __ubsan_handle "$HOURGLASS"; then
	die "$HOURGLASS is a sanitizer build: run make (or make bench-instr) first"
fi

STAMP=$(date +%Y%m%d-%H%M%S)
R=$ROOT/bench/results/instr-$STAMP
BIN=$R/bin
RUN=$(mktemp -d /tmp/hourglass-instr.XXXXXX) || die "mktemp failed"
mkdir -p "$BIN" "$R/conf" "$R/logs" "$R/callgrind" "$R/client" || die "cannot create $R"

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

# Private copies, so that a rebuild during the run changes nothing.
cp "$HOURGLASS" "$BIN/hourglass" && cp tests/origin/hourglass-origin "$BIN/origin" ||
    die "cannot copy the binaries"
for t in floor seqclient; do
	cc -O2 -Wall -Wextra -o "$BIN/$t" "bench/$t.c" || die "cannot build bench/$t.c"
done
if [[ " $CONTENDERS " == *" floor-l7 "* ]]; then
	[ -x bench/floor_l7 ] || die "bench/floor_l7 is missing: run make bench-progs"
	[ bench/floor_l7 -nt bench/floor_l7.c ] ||
	    say "warning: bench/floor_l7 is older than bench/floor_l7.c: run make bench-progs"
	cp bench/floor_l7 "$BIN/floor-l7" || die "cannot copy bench/floor_l7"
fi

# hg_rev: the commit of the hourglass binary's tree, when it is in one.
hg_rev() {
	local dir
	dir=$(cd "$(dirname "$HOURGLASS")" && pwd)
	git -C "$dir" rev-parse --short HEAD 2>/dev/null || { echo '?'; return; }
	[ -n "$(git -C "$dir" status --porcelain -- lib daemon 2>/dev/null)" ] &&
	    echo ' (lib/ or daemon/ modified)'
}

{
	echo "date: $(date -Iseconds)"
	echo "host: $(uname -srm), $(nproc) CPU, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
	echo "load at start: $(cat /proc/loadavg)"
	echo "hourglass: $HOURGLASS at $(hg_rev | tr -d '\n'), binary $(sha1sum < "$HOURGLASS" | cut -c1-12)"
	echo "nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //')"
	echo "haproxy: $("$HAPROXY" -v 2>&1 | awk 'NR==1{print $3}')"
	echo "valgrind: $(valgrind --version)"
	[ -x "$BIN/floor-l7" ] && echo "floor-l7: binary $(sha1sum < "$BIN/floor-l7" | cut -c1-12)"
	echo "variants: ${VARIANTS[*]}; contenders: $CONTENDERS"
	echo "N1=$N1 N2=$N2 HS_N1=$HS_N1 HS_N2=$HS_N2"
} > "$R/env.txt"
say "results in $R"

# ---------------------------------------------------------------- helpers

OPID='' OPORT=''
start_origin() {
	rm -f "$RUN/origin.port"
	"$BIN/origin" --listen 127.0.0.1:0 --port-file "$RUN/origin.port" \
	    --quiet 2>> "$R/logs/origin.err" &
	OPID=$!
	PIDS+=("$OPID")
	wait_file "$RUN/origin.port" || die "the test origin did not start"
	OPORT=$(cat "$RUN/origin.port")
	say "test origin pid $OPID on 127.0.0.1:$OPORT"
}

CPID='' CPORT=''	# the contender under valgrind and its port

# start_counted NAME TAG: start NAME under callgrind (the templates
# bench/conf/NAME$CONF_KIND.*.in, as start_contender), its counts to
# callgrind/TAG.out; up to 60 s for it to listen.
start_counted() {
	local name=$1 tag=$2 port conf ndir err=$R/logs/$2.err i try
	local vg=(valgrind --tool=callgrind --callgrind-out-file="$R/callgrind/$tag.out"
	    --log-file="$R/logs/$tag.valgrind")
	for try in 1 2 3; do
		port=0
		case $name in
		floor|floor-l7)
			rm -f "$RUN/$name.port"
			"${vg[@]}" "$BIN/$name" 127.0.0.1:0 "127.0.0.1:$OPORT" \
			    "$RUN/$name.port" 2>> "$err" &
			;;
		hourglass)
			port=$(pick_port) || die "no free port"
			conf=$R/conf/hourglass.ini
			render "hourglass${CONF_KIND:-}.ini.in" "$conf" "$port" 30s "" ""
			"${vg[@]}" "$BIN/hourglass" -c "$conf" 2>> "$err" &
			;;
		nginx)
			# One process: master_process off, the rest as bench/run.sh.
			port=$(pick_port) || die "no free port"
			ndir=$RUN/nginx-$tag
			mkdir -p "$ndir/nginx-temp"
			conf=$R/conf/nginx-$tag.conf
			render "nginx${CONF_KIND:-}.conf.in" "$conf" "$port" 30s "$ndir" "$R/logs/$tag-error.log"
			sed -i 's/^master_process on;/master_process off;/' "$conf"
			grep -q '^master_process off;' "$conf" ||
			    die "nginx.conf.in: no 'master_process on;' line to turn off"
			"${vg[@]}" "$NGINX" -c "$conf" -p "$ndir" -e "$err" 2>> "$err" &
			;;
		haproxy)
			port=$(pick_port) || die "no free port"
			conf=$R/conf/haproxy.cfg
			render "haproxy${CONF_KIND:-}.cfg.in" "$conf" "$port" 30s "" ""
			"${vg[@]}" "$HAPROXY" -db -f "$conf" >> "$err" 2>&1 &
			;;
		*) die "unknown contender $name" ;;
		esac
		CPID=$!
		PIDS+=("$CPID")
		for i in $(seq 600); do
			alive "$CPID" || break
			if [ "$port" = 0 ]; then
				[ -s "$RUN/$name.port" ] && port=$(cat "$RUN/$name.port")
			elif listening "$port"; then
				CPORT=$port
				return 0
			fi
			sleep 0.1
		done
		stop_pid "$CPID" 60
		grep -qiE 'in use|cannot bind|could not bind|bind\(' "$err" 2>/dev/null || break
		say "$name: port $port was taken, trying another"
	done
	say "$name did not start; the end of $err:"
	tail -n 20 "$err" >&2
	return 1
}

# measure VARIANT NAME N: one counted run of N requests; one row of instr.tsv.
measure() {
	local v=$1 name=$2 n=$3 tag=$1-$2-$3 out ins line rc kind= client
	out=$R/client/$tag.txt
	case $v in tls-*) kind=-tls ;; esac
	if ! CONF_KIND=$kind start_counted "$name" "$tag"; then
		echo "$v $name $n - 0 0 0 0 -" >> "$R/instr.tsv"
		return 1
	fi
	case $v in
	tls-100B|tls-16K) client=("$BIN/tlsclient" -k -n "$n" "$CPORT" "${V_PATH[$v]}") ;;
	tls-hs) client=("$BIN/tlsclient" -n "$n" "$CPORT" "${V_PATH[$v]}") ;;
	tls-resume) client=("$BIN/tlsclient" -r -n "$n" "$CPORT" "${V_PATH[$v]}") ;;
	*) client=("$BIN/seqclient" "$CPORT" "${V_PATH[$v]}" "$n") ;;
	esac
	timeout 900 "${client[@]}" > "$out" 2>&1
	rc=$?
	# callgrind writes its counts when the process exits.
	stop_pid "$CPID" 60 || { say "!! $name did not stop on SIGTERM"; rc=1; }
	ins=$(awk '/^(totals|summary):/ { print $2; exit }' "$R/callgrind/$tag.out" 2>/dev/null)
	[ -n "$ins" ] || { ins=-; rc=1; }
	[ "$ins" = - ] || objects "$R/callgrind/$tag.out" | sed "s/^/$v $name $n /" >> "$R/objects.tsv"
	line=$(grep '^requests=' "$out")
	[ -n "$line" ] || line="requests=$n ok=0 other=0 clen=0 chunked=0 chunks=0 body_bytes=0 secs=-"
	echo "$v $name $n $ins $(sed 's/[a-z_]*=//g' <<< "$line" | cut -d' ' -f2,5-8)" >> "$R/instr.tsv"
	say "$v $name N=$n: $ins instructions; $line"
	[ "$rc" = 0 ] || { say "!! $v $name N=$n failed: $(tail -n 3 "$out")"; return 1; }
}

# ---------------------------------------------------------------- main

if [[ " ${VARIANTS[*]}" == *" tls-"* ]]; then
	tls_setup "$RUN/tls" "$BIN" || die "cannot make the certificate or build tlsclient"
fi
start_origin
echo "variant contender n instructions ok chunked chunks body_bytes secs" > "$R/instr.tsv"
fail=0
t=$SECONDS
for v in "${VARIANTS[@]}"; do
	n1=$N1 n2=$N2
	case $v in tls-hs|tls-resume) n1=$HS_N1 n2=$HS_N2 ;; esac
	for name in $CONTENDERS; do
		case $v-$name in tls-*-floor|tls-*-floor-l7) continue ;; esac	# no TLS
		measure "$v" "$name" "$n1" || fail=1
		measure "$v" "$name" "$n2" || fail=1
	done
done
say "$((SECONDS - t)) s"
summarize "$R" | tee "$R/summary.txt"
say "raw results and summary.txt in $R"
exit $fail
