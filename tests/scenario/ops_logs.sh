#!/usr/bin/env bash
# Log rotation with workers = 2: after the access log is renamed, lines go
# on into the renamed file until SIGUSR1, after which every worker writes
# to a new file under the configured name.  The logrotate snippet is
# accepted by logrotate and, run for real, rotates a live daemon's log.
source "$(dirname "$0")/../ops_lib.sh"

origin_up || finish
ops_up "$T/hg.ini" || finish
U=http://127.0.0.1:$HG_PORT

# reqs TAG N: N requests, each on its own connection (so both workers take
# some), for targets /?TAG1 .. /?TAGN; sets CODES.
reqs() {
	local i
	CODES=
	for i in $(seq "$2"); do
		hg_curl "$U/?$1$i"; CODES="$CODES$CODE "
	done
}
# lines_of FILE TAG: how many access-log lines of FILE are for /?TAG*.
lines_of() { grep -c -- " target=/?$2" "$1" 2>/dev/null || true; }
# wait_lines_of FILE TAG N: until FILE has N such lines (up to 5 s).
wait_lines_of() {
	local n=100
	while [ $n -gt 0 ] && [ "$(lines_of "$1" "$2")" -lt "$3" ]; do
		sleep 0.05; n=$((n - 1))
	done
}

reqs before 6
wait_lines_of "$ACCESS" before 6
expect_eq "six requests logged" "$(lines_of "$ACCESS" before)" 6

note "rename the log, then SIGUSR1"
mv "$ACCESS" "$ACCESS.1"
# Until SIGUSR1 the daemon still has the renamed file open.
reqs between 4
wait_lines_of "$ACCESS.1" between 4
expect_eq "before SIGUSR1, lines go on into the renamed file" \
	"$(lines_of "$ACCESS.1" between)" 4
check "before SIGUSR1, no new file" test ! -e "$ACCESS"
before=$(grep -c 'access log reopened' "$HG_ERR")
kill -USR1 "$HG_PID"
wait_count "$HG_ERR" 'access log reopened' $((before + 1)) ||
    fail "no 'access log reopened' after SIGUSR1"
n=100; while [ $n -gt 0 ] && [ ! -e "$ACCESS" ]; do sleep 0.02; n=$((n - 1)); done
check "SIGUSR1 creates the file again" test -e "$ACCESS"
sleep 0.1
# 12 connections: each worker takes some (an even hash puts all 12 on one
# worker once in 2048 runs); a worker that kept the old file would log
# there.
reqs after 12
expect_eq "twelve requests after SIGUSR1" "$CODES" "$(printf '200 %.0s' $(seq 12))"
wait_lines_of "$ACCESS" after 12
expect_eq "their lines are in the new file" "$(lines_of "$ACCESS" after)" 12
expect_eq "none went to the renamed file" "$(lines_of "$ACCESS.1" after)" 0
expect_eq "the renamed file keeps its lines (6 + 4)" "$(wc -l < "$ACCESS.1")" 10
expect_eq "the new file has only the new lines" "$(wc -l < "$ACCESS")" 12
# Every line is whole: nothing was cut or interleaved by the switch.
bad=$(cat "$ACCESS" "$ACCESS.1" | grep -cv '^time=.* total_ms=[0-9.]* tls=[-A-Za-z0-9.]*$' || true)
expect_eq "every line is whole" "$bad" 0

# logrotate: the snippet exists; logrotate accepts it, and run for real on
# a copy aimed at this daemon (its postrotate sending SIGUSR1 by PID rather
# than through systemctl) it rotates the log and the daemon follows.
LR=$TOP/conf/logrotate.hourglass
check "conf/logrotate.hourglass exists" test -s "$LR"
check "its postrotate sends SIGUSR1" grep -q 'systemctl kill .*--signal=SIGUSR1 hourglass.service' "$LR"
if command -v logrotate > /dev/null 2>&1; then
	install -m 644 "$LR" "$T/lr.conf"	# as make install would
	logrotate -d -s "$T/lr.state" "$T/lr.conf" > "$T/lr.out" 2>&1
	expect_eq "logrotate -d: exit" "$?" 0
	if grep -qi 'error' "$T/lr.out"; then
		fail "logrotate -d reports errors"; sed 's/^/  logrotate: /' "$T/lr.out"
	else
		ok "logrotate -d: no errors"
	fi
	note "logrotate, for real: reload to log under \$T/logs, then rotate"
	mkdir -p "$T/logs"
	sed -i "s|^access_log = .*|access_log = $T/logs/access.log|" "$T/hg.ini"
	hg_reload "reload with a new access_log" "reloaded"
	sleep 0.1
	reqs lr 4
	wait_lines_of "$T/logs/access.log" lr 4
	expect_eq "after the reload, lines go to the new access_log" \
		"$(lines_of "$T/logs/access.log" lr)" 4
	sed -e "s|/var/log/hourglass/\*\.log|$T/logs/*.log|" \
	    -e "s|systemctl kill .*|kill -USR1 $HG_PID|" "$LR" > "$T/lr2.conf"
	chmod 644 "$T/lr2.conf"
	before=$(grep -c 'access log reopened' "$HG_ERR")
	logrotate -f -s "$T/lr.state" "$T/lr2.conf" > "$T/lr2.out" 2>&1
	expect_eq "logrotate -f: exit" "$?" 0
	check "logrotate renamed the log to access.log.1" test -s "$T/logs/access.log.1"
	if wait_count "$HG_ERR" 'access log reopened' $((before + 1)); then
		ok "its postrotate made the daemon reopen"
	else
		fail "no reopen after logrotate"; sed 's/^/  logrotate: /' "$T/lr2.out"
	fi
	n=100; while [ $n -gt 0 ] && [ ! -e "$T/logs/access.log" ]; do sleep 0.02; n=$((n - 1)); done
	sleep 0.1
	reqs post 6
	wait_lines_of "$T/logs/access.log" post 6
	expect_eq "after logrotate, new lines are in access.log" \
		"$(lines_of "$T/logs/access.log" post)" 6
	expect_eq "  and access.log.1 has the lines from before" \
		"$(lines_of "$T/logs/access.log.1" lr)/$(lines_of "$T/logs/access.log.1" post)" 4/0
else
	fail "logrotate is not installed (make check installs it): the snippet was not run"
fi

t=$(now_ms)
hg_stop_wait
expect_eq "SIGTERM: exit status" "$HG_RC" 0
expect_range "an idle daemon exits promptly (ms)" $((HG_EXIT_AT - t)) 0 500
finish
