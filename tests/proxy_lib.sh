# tests/proxy_lib.sh: helpers shared by the proxy scenario tests
# (tests/scenario/proxy_*.sh).  Source it instead of tests/lib.sh, which it
# sources.  Everything here is black-box: what a client sees on the wire,
# the access log, the origin's event log and /proc/PID/fd.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ACCESS=$T/access.log		# the daemon's access log
OEVENTS=$T/origin.events	# the origin's --log (accept/request/done/close)
LOG_SEEN=0			# access-log lines already accounted for
FD0=			# hourglass's descriptors right after start
BH_PORT=			# the origin's blackhole port
DEAD_PORT=			# a loopback port nothing listens on

# origin_up: start the test origin with a blackhole port and an event log.
# Sets ORIGIN_PID, ORIGIN_PORT and BH_PORT.
origin_up() {
	start_origin --blackhole 0 --blackhole-port-file "$T/bh.port" \
	    --log "$OEVENTS" || return 1
	BH_PORT=$(cat "$T/bh.port" 2>/dev/null)
	[ -n "$BH_PORT" ] || { fail "origin gave no blackhole port"; return 1; }
}

# dead_port_up: find a port that refuses connections: start a second origin,
# note its port and stop it.  Sets DEAD_PORT.
dead_port_up() {
	local pf="$T/dead.port"
	"$ORIGIN" --listen 127.0.0.1:0 --port-file "$pf" --quiet > /dev/null 2>&1 &
	local pid=$!
	_pids+=("$pid")
	wait_file "$pf" || { fail "second origin did not start"; return 1; }
	DEAD_PORT=$(cat "$pf")
	stop_pid "$pid"
}

# hg_config FILE [LINE...]: write a daemon config.  It listens on an
# ephemeral loopback port, logs to $ACCESS (logfmt), has retries = 0 (so one
# attempt shows its own outcome and timing), upstream servers that are never
# marked down (max_fails = 0) and pooled upstream connections that idle at
# most 300 ms (so that descriptor counts come back to the start value).
# Upstream o is the origin; bh is the blackhole and dead the refused port
# when those are known.  The LINEs follow "[timeouts]" (they may open other
# sections); then "[route /] upstream = o" unless HG_NO_ROOT_ROUTE=1.
hg_config() {
	local f=$1 u; shift
	{
		printf '[server]\nlisten = 127.0.0.1:0\nworkers = 1\n'
		printf 'access_log = %s\nlog_format = logfmt\nlog_level = info\n\n' "$ACCESS"
		for u in "o $ORIGIN_PORT" "bh $BH_PORT" "dead $DEAD_PORT"; do
			[ -n "${u#* }" ] || continue
			printf '[upstream %s]\nserver = 127.0.0.1:%s\nkeepalive = 8\n' \
			    "${u% *}" "${u#* }"
			printf 'keepalive_idle = 300ms\nmax_fails = 0\n\n'
		done
		printf '[timeouts]\nretries = 0\n'
		printf '%s\n' "$@"
		if [ "${HG_NO_ROOT_ROUTE:-0}" != 1 ]; then
			printf '\n[route /]\nupstream = o\n'
		fi
	} > "$f"
}

# hg_up FILE [LINE...]: write the config (hg_config) and start the daemon on
# it; note its descriptor count once it settles (FD0).
hg_up() {
	local f=$1
	hg_config "$@"
	start_hourglass "$f" || { sed 's/^/  config: /' "$f"; return 1; }
	sleep 0.2
	FD0=$(fd_count "$HG_PID")
	note "hourglass pid $HG_PID on port $HG_PORT, $FD0 descriptors at start"
}

# hg_alive DESC: fail unless the daemon is still running.
hg_alive() {
	if kill -0 "$HG_PID" 2>/dev/null; then return 0; fi
	fail "$1: hourglass is no longer running"
	tail -n 20 "$HG_ERR" | sed 's/^/  hourglass: /'
	return 1
}

# fd_settle DESC: the daemon holds no more descriptors than at start, after
# waiting up to 2.5 s for lingering closes (1 s linger after an error
# answer, 300 ms pool idle).
fd_settle() {
	local d=$1 n=50 c
	hg_alive "$d" || return 1
	while :; do
		c=$(fd_count "$HG_PID")
		[ "$c" -le "$FD0" ] && break
		n=$((n - 1))
		[ $n -le 0 ] && break
		sleep 0.05
	done
	if [ "$c" -le "$FD0" ] && hg_alive "$d"; then
		ok "$d: no leaked descriptors ($c, $FD0 at start)"
	else
		fail "$d: $c descriptors open after 2.5 s, $FD0 at start"
		ls -l "/proc/$HG_PID/fd" 2>/dev/null | sed 's/^/  fd: /'
	fi
}

# log_take DESC K: wait for exactly K new access-log lines (and no more,
# after a further 250 ms: the log flushes within ~50 ms).  Sets LOG_NEW to
# the new lines and LOG1 to the first of them; accounts for them.
log_take() {
	local d=$1 k=$2 have got
	[ "$k" -gt 0 ] && wait_lines "$ACCESS" $((LOG_SEEN + k))
	sleep 0.25
	have=$(wc -l < "$ACCESS" 2>/dev/null || echo 0)
	got=$((have - LOG_SEEN))
	LOG_NEW=$(tail -n +$((LOG_SEEN + 1)) "$ACCESS" 2>/dev/null)
	LOG1=$(printf '%s\n' "$LOG_NEW" | head -n 1)
	if [ "$got" -eq "$k" ]; then
		ok "$d: $k access-log line(s)"
	else
		fail "$d: $got access-log line(s), want $k"
		printf '%s\n' "$LOG_NEW" | sed 's/^/  log: /'
	fi
	LOG_SEEN=$have
}

# lf NAME LINE: the value of a logfmt field (bare values only).
lf() { printf '%s\n' "$2" | sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" | head -n 1; }

# log_expect DESC STATUS OUTCOME: one new access-log line with this status
# and outcome.
log_expect() {
	log_take "$1" 1
	expect_eq "$1: logged status" "$(lf status "$LOG1")" "$2"
	expect_eq "$1: logged outcome" "$(lf outcome "$LOG1")" "$3"
}

# ms_of SECONDS: "0.512345" -> 512
ms_of() { awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'; }

# hg_curl [CURL ARGS...]: curl through the daemon, body to $T/body, head
# to $T/head.  Sets CODE (status, 000 for none), MS (total time in ms) and
# RC (curl's exit status).  Bounded by -m 10 unless the args give another.
hg_curl() {
	local w
	w=$(curl -s -m 10 -o "$T/body" -D "$T/head" -w '%{http_code} %{time_total}' "$@")
	RC=$?
	CODE=${w% *}
	MS=$(ms_of "${w#* }")
}

# expect_near DESC GOT_MS WANT_MS: a deadline of WANT ms was seen to fire
# after GOT ms: never early (10 ms below WANT allow for the test's own clock
# reads, which start after the daemon's), and at most 120 ms late on a
# loaded machine.
expect_near() { expect_range "$1" "$2" $(($3 - 10)) $(($3 + 120)); }

# raw_open: connect fd 3 to the daemon.
raw_open() { exec 3<>"/dev/tcp/127.0.0.1/$HG_PORT"; }

# raw_send FORMAT [ARGS...]: printf to fd 3.  The daemon may have closed
# the connection already (a refused request): the write then fails with
# EPIPE and raw_send returns non-zero, instead of SIGPIPE killing the test
# before it can report.  (Only this subshell ignores SIGPIPE: the daemon
# must not inherit that.)
raw_send() { ( trap '' PIPE; printf "$@" >&3 ) 2>/dev/null; }

# raw_close: close fd 3.
raw_close() { exec 3<&- 3>&- 2>/dev/null; }

# raw_wait_eof FILE [SECONDS]: read fd 3 until the daemon closes (at most
# SECONDS, default 5), saving what came to FILE.  Sets EOF_AT (now_ms when
# reading ended) and EOF_RC (0: closed; 124: still open when time ran out).
raw_wait_eof() {
	timeout "${2:-5}" cat <&3 > "$1"
	EOF_RC=$?
	EOF_AT=$(now_ms)
	[ $EOF_RC -eq 124 ] || EOF_RC=0
}

# status_line FILE: the first line of a response, without the CR.
status_line() { head -n 1 "$1" | tr -d '\r'; }

# pattern N: the origin's body pattern, N bytes.
pattern() {
	yes '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-' |
	    head -c "$1"
}

# oevent WHAT PATH: the monotonic ms of the origin's last WHAT event for the
# request PATH (e.g. "close" "/hang?abort1"); empty if none.
oevent() { awk -v w="$1" -v p="$2" '$1 == w && $3 == p { t = $2 } END { if (t != "") print t }' "$OEVENTS"; }
