# tests/lib.sh: helpers for black-box scenario tests.  Source it from a
# tests/scenario/*.sh script.  Every process started here is recorded by PID
# and stopped by PID when the script exits.  Loopback only.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOURGLASS=$TOP/hourglass
ORIGIN=$TOP/tests/origin/hourglass-origin
T=$(mktemp -d "${TMPDIR:-/tmp}/hg-test.XXXXXX")
_pids=()
_failures=0

_cleanup() {
	local p
	for p in "${_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	local n=50
	[ -n "${HOURGLASS_WRAP:-}" ] && n=400
	for p in "${_pids[@]}"; do
		for _ in $(seq $n); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		if [ $? -eq 99 ]; then
			echo "FAIL: process $p exited 99: the wrapper found errors"
			_exit_rc=1
		fi
	done
	rm -rf "$T"
	[ "${_exit_rc:-0}" -eq 0 ] || exit 1
}
trap _cleanup EXIT

# note MSG...: print a progress line.
note() { echo "# $*"; }

# fail MSG...: record a failure and go on.
fail() { echo "FAIL: $*"; _failures=$((_failures + 1)); }

# ok MSG...: record a passed assertion.
ok() { echo "ok: $*"; }

# check DESC CMD...: run CMD; ok if it succeeds, fail otherwise.
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }

# expect_eq DESC GOT WANT
expect_eq() { if [ "$2" = "$3" ]; then ok "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi; }

# expect_match DESC TEXT REGEX
expect_match() { if [[ $2 =~ $3 ]]; then ok "$1"; else fail "$1: '$2' does not match /$3/"; fi; }

# expect_range DESC VALUE LO HI  (integers, inclusive)
expect_range() {
	if [ "$2" -ge "$3" ] && [ "$2" -le "$4" ]; then ok "$1 ($2 in [$3,$4])"
	else fail "$1: $2 not in [$3,$4]"; fi
}

# finish: exit with the script's verdict.  Call it last.
finish() {
	if [ $_failures -eq 0 ]; then echo "all assertions passed"; exit 0; fi
	echo "$_failures assertion(s) failed"; exit 1
}

# now_ms: monotonic-enough milliseconds for timing windows.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# wait_file FILE [TRIES]: wait (up to TRIES*50ms) until FILE is non-empty.
wait_file() {
	local f=$1 n=${2:-100}
	while [ $n -gt 0 ]; do [ -s "$f" ] && return 0; sleep 0.05; n=$((n - 1)); done
	return 1
}

# start_origin [ARGS...]: start the test origin on an ephemeral loopback port.
# Sets ORIGIN_PID and ORIGIN_PORT.
start_origin() {
	local pf="$T/origin.port.$RANDOM"
	"$ORIGIN" --listen 127.0.0.1:0 --port-file "$pf" "$@" > "$T/origin.log" 2>&1 &
	ORIGIN_PID=$!
	_pids+=("$ORIGIN_PID")
	wait_file "$pf" || { fail "origin did not start"; cat "$T/origin.log"; return 1; }
	ORIGIN_PORT=$(cat "$pf")
}

# py_checks DESC SCRIPT [ARGS...]: run a python3 script (Debian's python3,
# with tests/ on its path for wslib.py) for at most 60 s.  Each line it
# prints that starts with "ok: " or "FAIL: " is an assertion (wslib.check,
# wslib.expect); other lines are shown; a crash or a timeout is a failure.
py_checks() {
	local desc=$1 py=/usr/bin/python3 out rc line
	shift
	[ -x "$py" ] || py=$(command -v python3) || { fail "$desc: no python3"; return 1; }
	out=$(PYTHONPATH=$TOP/tests timeout 60 "$py" "$@" 2>&1)
	rc=$?
	while IFS= read -r line; do
		case $line in
		"ok: "*) ok "${line#ok: }" ;;
		"FAIL: "*) fail "${line#FAIL: }" ;;
		*) echo "$line" ;;
		esac
	done <<< "$out"
	[ $rc -eq 0 ] || fail "$desc: python3 exited $rc"
}

# fd_count PID: the number of open descriptors of a process.
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# stop_pid PID: stop one process we started and wait for it.  Under a
# HOURGLASS_WRAP tool it may take longer, and exit 99 (valgrind's
# --error-exitcode) is a failure.
stop_pid() {
	local n=100 rc
	[ -n "${HOURGLASS_WRAP:-}" ] && n=400
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq $n); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	rc=$?
	[ $rc -eq 99 ] && fail "process $1 exited 99: the wrapper found errors"
	return $rc
}

# start_hourglass CONFIG_FILE [ARGS...]: start the daemon; its listen lines
# should use port 0.  Sets HG_PID and HG_PORT (the first listener's port)
# and HG_ERR (its error log).  Waits until it is listening.
start_hourglass() {
	local conf=$1; shift
	HG_ERR="$T/hourglass.err.$RANDOM"
	# HOURGLASS_WRAP runs the daemon under a tool, e.g. valgrind (same PID).
	# shellcheck disable=SC2086
	${HOURGLASS_WRAP:-} "$HOURGLASS" -c "$conf" "$@" > "$T/hourglass.out" \
	    2> "$HG_ERR" &
	HG_PID=$!
	_pids+=("$HG_PID")
	local n=200
	while [ $n -gt 0 ]; do
		grep -q 'listening on' "$HG_ERR" 2>/dev/null && break
		kill -0 "$HG_PID" 2>/dev/null || break
		sleep 0.05; n=$((n - 1))
	done
	HG_PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\)$/\1/p' "$HG_ERR" | head -n 1)
	if [ -z "$HG_PORT" ]; then
		fail "hourglass did not start"; cat "$HG_ERR"; return 1
	fi
}

# outcomes FILE: the outcome= values of an access log, one per line.
outcomes() { sed -n 's/.* outcome=\([^ ]*\).*/\1/p' "$1"; }

# wait_lines FILE N: wait (up to 5 s) until FILE has at least N lines.
wait_lines() {
	local f=$1 want=$2 n=100
	while [ $n -gt 0 ]; do
		[ "$(wc -l < "$f" 2>/dev/null || echo 0)" -ge "$want" ] && return 0
		sleep 0.05; n=$((n - 1))
	done
	return 1
}
