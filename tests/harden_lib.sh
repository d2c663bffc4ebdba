# tests/harden_lib.sh: helpers for the hardening scenarios
# (tests/scenario/harden_*.sh) and the soak (tests/soak/soak.sh).  Source it
# instead of tests/proxy_lib.sh, which it sources.  Black-box only: bytes on
# the wire, the access log, the error log, the origin's event log, /proc.
source "$(dirname "${BASH_SOURCE[0]}")/proxy_lib.sh"

TOOLS=$TOP/tests/tools

# need_tool NAME: fail (and return 1) unless tests/tools/NAME is built.
need_tool() {
	[ -x "$TOOLS/$1" ] && return 0
	fail "tests/tools/$1 is not built (make tests)"
	return 1
}

# origin_requests: how many requests the origin has read whole so far
# (its event log's `request` lines).
origin_requests() {
	local n
	n=$(grep -c '^request ' "$OEVENTS" 2>/dev/null)
	echo "${n:-0}"
}

# raw_exchange FILE REQUEST [SECONDS]: connect to the daemon, send REQUEST
# (a printf format: \r, \n, \0 and \xHH work) and read until the daemon
# closes or SECONDS (default 3) pass; what came back goes to FILE.  Sets
# RESP_LINE (the status line, without CR; empty if nothing came) and EOF_RC
# (0: the daemon closed; 124: still open when time ran out).  Our side is
# closed afterwards.
raw_exchange() {
	local f=$1 req=$2 secs=${3:-3}
	raw_open
	raw_send "$req"
	raw_wait_eof "$f" "$secs"
	raw_close
	RESP_LINE=$(status_line "$f")
}

# raw_exchange_parts FILE PAUSE_MS PART... : like raw_exchange, but sends
# each PART (a printf format) separately with PAUSE_MS between them, so
# that what came before is already on its way upstream.
raw_exchange_parts() {
	local f=$1 pause=$2 p
	shift 2
	raw_open
	for p in "$@"; do
		raw_send "$p"
		sleep "$(awk -v m="$pause" 'BEGIN { printf "%.3f", m / 1000 }')"
	done
	raw_wait_eof "$f" 3
	raw_close
	RESP_LINE=$(status_line "$f")
}

# origin_quiet_since N DESC: the origin has read no request whole since it
# had read N (checked after the log_take wait, so the proxy had its chance).
origin_quiet_since() {
	local now
	now=$(origin_requests)
	if [ "$now" -eq "$1" ]; then
		ok "$2: nothing reached the upstream"
	else
		fail "$2: the upstream read $((now - $1)) request(s)"
		tail -n 5 "$OEVENTS" | sed 's/^/  origin: /'
	fi
}

# proc_rss_kb PID: VmRSS in kB.
proc_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# sig_ignored PID SIGNO: whether the process ignores signal SIGNO.
sig_ignored() {
	local mask
	mask=$(awk '/^SigIgn:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
	[ -n "$mask" ] || return 1
	(( (16#$mask >> ($2 - 1)) & 1 ))
}

# hg_wrap_prlimit NOFILE: make the next start_hourglass run the daemon
# under `prlimit --nofile=NOFILE:NOFILE` (prlimit execs it, so HG_PID is
# the daemon's own PID).  hg_unwrap undoes it.
hg_wrap_prlimit() {
	local w=$T/hourglass-prlimit
	printf '#!/bin/sh\nexec prlimit --nofile=%s:%s -- %s "$@"\n' \
	    "$1" "$1" "$TOP/hourglass" > "$w"
	chmod +x "$w"
	HOURGLASS=$w
}
hg_unwrap() { HOURGLASS=$TOP/hourglass; }

# hg_stop_rc: SIGTERM the daemon and wait for it; sets HG_RC to its exit
# status (124 if it had to be killed after 10 s).
hg_stop_rc() {
	kill -TERM "$HG_PID" 2>/dev/null
	local n=200
	while [ $n -gt 0 ] && kill -0 "$HG_PID" 2>/dev/null; do
		sleep 0.05; n=$((n - 1))
	done
	if kill -0 "$HG_PID" 2>/dev/null; then
		kill -KILL "$HG_PID" 2>/dev/null
		wait "$HG_PID" 2>/dev/null
		HG_RC=124
	else
		wait "$HG_PID" 2>/dev/null
		HG_RC=$?
	fi
}

# count_matching FILE REGEX: lines of FILE matching REGEX (0 if none).
count_matching() {
	local n
	n=$(grep -c -E -- "$2" "$1" 2>/dev/null)
	echo "${n:-0}"
}

# hg_up_srv FILE SERVER_LINES [LINE...]: as hg_up, but SERVER_LINES
# ("key = value" lines, newline-separated) go into [server], replacing
# hg_config's own value of a key they name.
hg_up_srv() {
	local f=$1 srv=$2 k
	shift 2
	hg_config "$f" "$@"
	while IFS= read -r k; do
		k=${k%%=*}; k=${k%% }
		[ -n "$k" ] && sed -i "/^\\[server\\]/,/^\$/{/^$k *=/d}" "$f"
	done <<< "$srv"
	awk -v s="$srv" '{ print } /^\[server\]$/ && !done { print s; done = 1 }' \
	    "$f" > "$f.tmp" && mv "$f.tmp" "$f"
	start_hourglass "$f" || { sed 's/^/  config: /' "$f"; return 1; }
	sleep 0.2
	FD0=$(fd_count "$HG_PID")
	note "hourglass pid $HG_PID on port $HG_PORT, $FD0 descriptors at start"
}

# HOURGLASS_WRAP (e.g. "valgrind --error-exitcode=99 --leak-check=full"):
# until tests/lib.sh's start_hourglass takes it, the hardening scenarios
# run the daemon through a wrapper script that execs
# "$HOURGLASS_WRAP $TOP/hourglass ARGS" (same PID).  hg_stop_rc reports
# the exit status, so a wrapper's error exit shows there.
if [ -n "${HOURGLASS_WRAP:-}" ]; then
	printf '#!/bin/sh\nexec %s %s "$@"\n' "$HOURGLASS_WRAP" \
	    "$TOP/hourglass" > "$T/hourglass-wrap"
	chmod +x "$T/hourglass-wrap"
	HOURGLASS=$T/hourglass-wrap
	hg_unwrap() { HOURGLASS=$T/hourglass-wrap; }
fi

# hg_stop_ok DESC: stop the daemon with SIGTERM; it must exit 0 (under
# HOURGLASS_WRAP=valgrind... a memory error makes that 99).
hg_stop_ok() {
	hg_stop_rc
	expect_eq "$1: exit status on SIGTERM" "$HG_RC" 0
}
