# bench/lib.sh: shell helpers that bench/run.sh, bench/tunnel.sh,
# bench/hedge.sh and bench/instr.sh share.  Sourced (bash).  The caller
# defines say() and die() and, for render(), OPORT (the origin's port).
# start_origin and start_contender (run.sh, tunnel.sh and hedge.sh;
# hedge.sh starts its own two origins) also use R (results), RUN (private
# run directory), BIN (private binaries), NGINX, HAPROXY, the arrays
# PIN_LOAD and PIN_PROXY, and CONF_KIND (the templates' suffix: "",
# "-tunnel", "-tls" or "-hedge"; HG_TEMPLATE, when set, names hourglass's instead,
# and CONF_TEMPLATE, when set, the one for any contender); they record what
# they start in PIDS, and the contender's port, process to stop and process
# to measure in PORT, MAIN and MPID.  With "-tls" (bench/tls.sh), TLS_CERT,
# TLS_KEY and TLS_CERTKEY name the certificate and key.

# The summaries' awk functions, median() and fmt() (bench/median.awk).
AWK_MEDIAN=$(cat "$(dirname "${BASH_SOURCE[0]}")/median.awk")

# alive PID: running and not a zombie.
alive() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}

# stop_pid PID [SECS]: SIGTERM, then SIGKILL after SECS (5) seconds; reap
# it if it is our child.  Returns 1 if it had to be killed.
stop_pid() {
	local p=$1 i rc=0
	alive "$p" || { wait "$p" 2>/dev/null; return 0; }
	kill -TERM "$p" 2>/dev/null
	for i in $(seq $((${2:-5} * 10))); do
		alive "$p" || break
		sleep 0.1
	done
	if alive "$p"; then
		kill -KILL "$p" 2>/dev/null
		rc=1
	fi
	wait "$p" 2>/dev/null
	return $rc
}

# wait_file FILE: up to 5 s for FILE to be non-empty.
wait_file() {
	local i
	for i in $(seq 100); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# pick_port: a loopback port from the ephemeral range that no TCP socket
# uses right now.
pick_port() {
	local lo hi p used i
	read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
	used=" $(awk 'FNR > 1 { split($2, a, ":"); printf "%s ", a[2] }' \
	    /proc/net/tcp /proc/net/tcp6 2>/dev/null) "
	for i in $(seq 200); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
		[[ $used == *" $(printf '%04X' "$p") "* ]] || { echo "$p"; return 0; }
	done
	return 1
}

# listening PORT: some socket listens on 127.0.0.1:PORT.
listening() {
	awk -v p="$(printf '0100007F:%04X' "$1")" \
	    'FNR > 1 && $2 == p && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp
}

# render TEMPLATE OUT PORT UPSTREAM_HEADER NGINX_DIR ERRLOG: a
# configuration from bench/conf/TEMPLATE (or TEMPLATE itself, an absolute
# path), in front of the origin at $OPORT (and a second one at $OPORT2,
# when set, for @ORIGIN_PORT2@).  @CERT@, @KEY@ and @CERTKEY@ (the -tls
# templates) become $TLS_CERT, $TLS_KEY and $TLS_CERTKEY.
render() {
	local t=$1
	[[ $t == /* ]] || t=bench/conf/$t
	sed -e "s|@PORT@|$3|g" -e "s|@ORIGIN_PORT@|$OPORT|g" \
	    -e "s|@ORIGIN_PORT2@|${OPORT2:-$OPORT}|g" \
	    -e "s|@UPSTREAM_HEADER@|$4|g" -e "s|@RUN@|$5|g" -e "s|@ERRLOG@|$6|g" \
	    -e "s|@CERT@|${TLS_CERT:-}|g" -e "s|@KEY@|${TLS_KEY:-}|g" \
	    -e "s|@CERTKEY@|${TLS_CERTKEY:-}|g" \
	    "$t" > "$2"
}

# read_cpu PID: "utime stime" in clock ticks (all threads of the process).
read_cpu() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo "0 0"; return 1; }
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo "${12} ${13}"
}

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

OPID='' OPORT=''
start_origin() {
	rm -f "$RUN/origin.port"
	"${PIN_LOAD[@]}" "$BIN/origin" --listen 127.0.0.1:0 --port-file "$RUN/origin.port" \
	    --quiet 2>> "$R/logs/origin.err" &
	OPID=$!
	PIDS+=("$OPID")
	wait_file "$RUN/origin.port" || die "the test origin did not start"
	OPORT=$(cat "$RUN/origin.port")
	say "test origin pid $OPID on 127.0.0.1:$OPORT"
}

# wait_ready PORT PID: up to 10 s for a 200 on GET / (over TLS, without
# checking the certificate, when CONF_KIND is -tls).
wait_ready() {
	local i code scheme=http
	[ "${CONF_KIND:-}" = -tls ] && scheme=https
	for i in $(seq 100); do
		alive "$2" || return 1
		code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 2 \
		    "$scheme://127.0.0.1:$1/" 2>/dev/null)
		[ "$code" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}

declare -A PORT MAIN MPID	# per contender: port, process to stop, process to measure

# start_contender NAME UPSTREAM_HEADER TAG: start NAME in front of the
# origin, from the templates bench/conf/NAME$CONF_KIND.*.in; its stderr
# goes to logs/NAME-TAG.err.
start_contender() {
	local name=$1 uh=$2 tag=$3 port main conf err ndir kid
	err=$R/logs/$name-$tag.err
	for _ in 1 2 3 4 5; do
		case $name in
		floor|floor-l7)
			rm -f "$RUN/$name.port"
			"${PIN_PROXY[@]}" "$BIN/$name" 127.0.0.1:0 "127.0.0.1:$OPORT" \
			    "$RUN/$name.port" 2>> "$err" &
			main=$!
			PIDS+=("$main")
			wait_file "$RUN/$name.port" && port=$(cat "$RUN/$name.port") || port=0
			;;
		hourglass)
			port=$(pick_port) || die "no free port"
			conf=$R/conf/hourglass-$tag.ini
			render "${CONF_TEMPLATE:-${HG_TEMPLATE:-hourglass${CONF_KIND:-}.ini.in}}" \
			    "$conf" "$port" "$uh" "" ""
			"${PIN_PROXY[@]}" "$BIN/hourglass" -c "$conf" 2>> "$err" &
			main=$!
			PIDS+=("$main")
			;;
		nginx)
			port=$(pick_port) || die "no free port"
			ndir=$RUN/nginx-$tag
			mkdir -p "$ndir/nginx-temp"
			conf=$R/conf/nginx-$tag.conf
			render "${CONF_TEMPLATE:-nginx${CONF_KIND:-}.conf.in}" "$conf" "$port" "$uh" \
			    "$ndir" "$R/logs/nginx-$tag-error.log"
			"${PIN_PROXY[@]}" "$NGINX" -c "$conf" -p "$ndir" -e "$err" 2>> "$err" &
			main=$!
			PIDS+=("$main")
			;;
		haproxy)
			port=$(pick_port) || die "no free port"
			conf=$R/conf/haproxy-$tag.cfg
			render "${CONF_TEMPLATE:-haproxy${CONF_KIND:-}.cfg.in}" "$conf" "$port" "$uh" "" ""
			"${PIN_PROXY[@]}" "$HAPROXY" -db -f "$conf" >> "$err" 2>&1 &
			main=$!
			PIDS+=("$main")
			;;
		*) die "unknown contender $name" ;;
		esac
		if [ "$port" != 0 ] && wait_ready "$port" "$main"; then
			PORT[$name]=$port
			MAIN[$name]=$main
			MPID[$name]=$main
			if [ "$name" = nginx ]; then
				# Measure the one worker; the master only waits.
				kid=$(cat "/proc/$main/task/$main/children" 2>/dev/null)
				[ -n "$kid" ] || kid=$(ps -o pid= --ppid "$main" 2>/dev/null)
				kid=$(echo $kid)
				[ -n "$kid" ] && [ "${kid// /}" = "$kid" ] ||
				    die "nginx: cannot find its one worker (got '$kid')"
				MPID[$name]=$kid
				PIDS+=("$kid")	# stopped after its master
			fi
			say "$name ($tag) pid ${MPID[$name]} on 127.0.0.1:$port"
			return 0
		fi
		stop_pid "$main"
		if grep -qiE 'in use|cannot bind|could not bind|bind\(' "$err" 2>/dev/null; then
			say "$name: port $port was taken, trying another"
			continue
		fi
		break
	done
	say "$name did not start; the end of $err:"
	tail -n 20 "$err" >&2
	return 1
}

stop_contender() {
	local name=$1
	[ -n "${MAIN[$name]:-}" ] || return 0
	stop_pid "${MAIN[$name]}"
	[ "${MPID[$name]}" != "${MAIN[$name]}" ] && stop_pid "${MPID[$name]}"
	unset "PORT[$name]" "MAIN[$name]" "MPID[$name]"
}
