# tests/upstream_lib.sh: helpers shared by the balancing, health, retry and
# deadline scenarios (tests/scenario/upstream_*.sh, deadline_*.sh).  Source
# it instead of tests/proxy_lib.sh, which it sources (so log_take, lf,
# hg_curl, fd_settle, expect_near... are at hand).  Black-box only: what a
# client sees, the access and error logs, each origin's event log and
# /proc/PID/fd.
source "$(dirname "${BASH_SOURCE[0]}")/proxy_lib.sh"

# up_origin NAME [ORIGIN ARGS...]: start one test origin on an ephemeral
# loopback port (or the --listen given in ARGS), with its event log in
# $T/NAME.events.  Sets NAME_PORT and NAME_PID.
up_origin() {
	local name=$1 pf pid listen=(--listen 127.0.0.1:0)
	shift
	pf="$T/$name.port"
	rm -f "$pf"
	case " $* " in *" --listen "*) listen=() ;; esac
	"$ORIGIN" "${listen[@]}" --port-file "$pf" --log "$T/$name.events" \
	    "$@" > "$T/$name.stderr" 2>&1 &
	pid=$!
	_pids+=("$pid")
	wait_file "$pf" || { fail "origin $name did not start"; cat "$T/$name.stderr"; return 1; }
	printf -v "${name}_PORT" '%s' "$(cat "$pf")"
	printf -v "${name}_PID" '%s' "$pid"
}

# up_blackhole NAME: an origin whose blackhole port is NAME_PORT (connects
# to it hang).  NAME_PID is that origin's.
up_blackhole() {
	local name=$1
	up_origin "${name}_host" --blackhole 0 --blackhole-port-file \
	    "$T/$name.bh" --quiet || return 1
	printf -v "${name}_PORT" '%s' "$(cat "$T/$name.bh")"
	printf -v "${name}_PID" '%s' "$(eval echo "\$${name}_host_PID")"
}

# up_dead NAME: a loopback port that refuses connections (an origin was
# started there and stopped).  Sets NAME_PORT.
up_dead() {
	local name=$1 pid
	up_origin "$name" --quiet || return 1
	pid=$(eval echo "\$${name}_PID")
	stop_pid "$pid"
}

# oreqs NAME [PREFIX]: how many requests origin NAME has read, optionally
# only those whose target starts with PREFIX.
oreqs() {
	[ -f "$T/$1.events" ] || { echo 0; return; }
	awk -v p="${2:-}" '$1 == "request" && index($3, p) == 1 { n++ }
	    END { print n + 0 }' "$T/$1.events"
}

# ug_up FILE [LINE...]: write a daemon config (one worker, access log in
# $ACCESS, logfmt, info level, and the lines of $UG_SERVER if set) whose
# other sections are the LINEs, start the daemon on it and note its
# descriptor count once it settles (FD0).
ug_up() {
	local f=$1
	shift
	{
		printf '[server]\nlisten = 127.0.0.1:0\nworkers = 1\n'
		[ -n "${UG_SERVER:-}" ] && printf '%s\n' "$UG_SERVER"
		printf 'access_log = %s\nlog_format = logfmt\nlog_level = info\n\n' "$ACCESS"
		printf '%s\n' "$@"
	} > "$f"
	start_hourglass "$f" || { sed 's/^/  config: /' "$f"; return 1; }
	sleep 0.2
	FD0=$(fd_count "$HG_PID")
	note "hourglass pid $HG_PID on port $HG_PORT, $FD0 descriptors at start"
}

# ups NAME KEY=VALUE... -- SERVER...: the lines of an [upstream NAME]
# section (printed one per line, for ug_up): pooled connections idle at most
# 300 ms so that descriptor counts settle; KEY=VALUE lines follow, then one
# "server = SERVER" per SERVER ("127.0.0.1:PORT [weight=N]").
ups() {
	local name=$1
	shift
	printf '%s\n' "[upstream $name]" "keepalive_idle = 300ms"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		printf '%s\n' "${1%%=*} = ${1#*=}"
		shift
	done
	[ $# -gt 0 ] && shift
	while [ $# -gt 0 ]; do printf 'server = %s\n' "$1"; shift; done
	echo
}

# errlog_count REGEX: how many lines of the daemon's error log match the
# extended REGEX.
errlog_count() { grep -cE -- "$1" "$HG_ERR" 2>/dev/null || true; }

# errlog_expect DESC N REGEX: the error log has exactly N lines matching
# REGEX (shown when it does not).
errlog_expect() {
	local got
	got=$(errlog_count "$3")
	if [ "$got" -eq "$2" ]; then
		ok "$1: $2 error-log line(s) /$3/"
	else
		fail "$1: $got error-log line(s) /$3/, want $2"
		sed 's/^/  err: /' "$HG_ERR" | tail -n 20
	fi
}

# rid LINE: the request id of an access-log line, 16 hex digits, as the
# error log writes it too ("req 00000000000000a3: ...").
rid() { lf id "$1"; }

# logged_ms LINE: the total_ms of an access-log line, as whole ms.
logged_ms() { ms_of "$(awk -v s="$(lf total_ms "$1")" 'BEGIN { printf "%f", s / 1000 }')"; }

# par_curl N TAG [CURL ARGS...]: N curls at once (bounded by -m 10 unless
# the args say otherwise); each writes "CODE MS" to $T/TAG.N.  Waits for all.
par_curl() {
	local n=$1 tag=$2 i w pids=()
	shift 2
	for i in $(seq "$n"); do
		(
			w=$(curl -s -m 10 -o /dev/null -w '%{http_code} %{time_total}' "$@")
			echo "${w% *} $(ms_of "${w#* }")" > "$T/$tag.$i"
		) &
		pids+=("$!")
	done
	for i in "${pids[@]}"; do wait "$i"; done
}

# expect_log DESC FIELD=VALUE...: each FIELD of $LOG1 has its VALUE.
expect_log() {
	local d=$1 kv
	shift
	for kv in "$@"; do
		expect_eq "$d: logged ${kv%%=*}" "$(lf "${kv%%=*}" "$LOG1")" "${kv#*=}"
	done
}
