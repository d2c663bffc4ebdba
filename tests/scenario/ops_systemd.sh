#!/usr/bin/env bash
# systemd, without systemd running: socket activation (the passed socket is
# served and the file's listen lines are ignored, across reloads too), and
# the unit files verify with systemd-analyze, the service scoring at most
# 1.5 in its security analysis.
source "$(dirname "$0")/../ops_lib.sh"

origin_up || finish

# A file whose listen line cannot be bound here (TEST-NET-1 is no local
# address): alone, the daemon refuses to start on it.
ops_config "$T/sa.ini"
sed -i 's/^listen = 127.0.0.1:0$/listen = 192.0.2.1:8080/' "$T/sa.ini"
check "the file listens on 192.0.2.1:8080 only" \
	test "$(grep -c '^listen' "$T/sa.ini")/$(grep -c '^listen = 192.0.2.1:8080$' "$T/sa.ini")" = 1/1
"$HOURGLASS" -c "$T/sa.ini" > /dev/null 2> "$T/nosa.err" &
pid=$!; _pids+=("$pid")
n=100; while [ $n -gt 0 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; n=$((n - 1)); done
wait "$pid"; rc=$?
expect_eq "without socket activation that file fails to start (exit 1)" "$rc" 1
check "  and it says why" grep -q 'listen 192.0.2.1:8080: Cannot assign requested address' "$T/nosa.err"

# sa_checks DESC PORT: the daemon (HG_PID, log HG_ERR) serves through the
# passed socket on PORT, with two workers, across a reload.
sa_checks() {
	local d=$1 port=$2 codes= i
	check "$d: it says a socket was passed" \
		grep -q 'socket activation: 1 listening sockets passed' "$HG_ERR"
	check "$d: it did not bind the file's address" \
		bash -c "! grep -q '192.0.2' '$HG_ERR'"
	for i in 1 2 3 4 5 6; do
		hg_curl "http://127.0.0.1:$port/?sa$i"; codes="$codes$CODE "
	done
	expect_eq "$d: six connections through the passed socket" "$codes" "200 200 200 200 200 200 "
	# A reload with another unbindable listen line keeps the passed socket.
	sed 's/^listen = 192.0.2.1:8080$/listen = 192.0.2.2:8081/' "$T/sa.ini" > "$T/live.ini"
	hg_reload "$d: reload" "reloaded"
	sleep 0.1
	hg_curl "http://127.0.0.1:$port/?sa-reloaded"
	expect_eq "$d: after a reload, still served through the passed socket" "$CODE" 200
	check "$d: the reload neither bound nor dropped a listener" \
		bash -c "! grep -Eq 'listening on 192|no longer listening' '$HG_ERR'"
	hg_stop_wait
	expect_eq "$d: SIGTERM: exit status" "$HG_RC" 0
	hg_curl "http://127.0.0.1:$port/?sa-after"
	expect_eq "$d: after exit the port refuses (curl exit 7)" "$RC" 7
}

note "socket activation with a passed fd 3 (perl, LISTEN_FDS=1, LISTEN_PID=\$\$)"
cp "$T/sa.ini" "$T/live.ini"
HG_ERR=$T/sa.err
activate_perl "$T/sa.port" "$HOURGLASS" -c "$T/live.ini" > /dev/null 2> "$HG_ERR" &
HG_PID=$!; _pids+=("$HG_PID")
if wait_file "$T/sa.port" && hg_started; then
	P=$(cat "$T/sa.port")
	expect_eq "the activated process is hourglass itself (same PID)" \
		"$(readlink "/proc/$HG_PID/exe")" "$(readlink -f "$HOURGLASS")"
	sa_checks "passed fd" "$P"
else
	fail "hourglass did not start on a passed socket"; cat "$HG_ERR"
fi

if command -v systemd-socket-activate > /dev/null 2>&1; then
	note "socket activation with systemd-socket-activate"
	cp "$T/sa.ini" "$T/live.ini"
	P=$(free_port)
	HG_ERR=$T/ssa.err
	systemd-socket-activate -l "127.0.0.1:$P" "$HOURGLASS" -c "$T/live.ini" \
	    > /dev/null 2> "$HG_ERR" &
	HG_PID=$!; _pids+=("$HG_PID")
	if wait_grep "$HG_ERR" "Listening on 127.0.0.1:$P"; then
		# The first connection starts the daemon, which then serves it.
		hg_curl "http://127.0.0.1:$P/?first"
		expect_eq "systemd-socket-activate: the connection that started it is served" "$CODE" 200
		hg_started && sa_checks "systemd-socket-activate" "$P"
	else
		fail "systemd-socket-activate did not listen on 127.0.0.1:$P"; cat "$HG_ERR"
	fi
else
	fail "systemd-socket-activate is not installed (make check installs systemd)"
fi

# The units, as `make install` writes them, verify cleanly.
if command -v systemd-analyze > /dev/null 2>&1; then
	mkdir -p "$T/units"
	sed -e "s|@BINDIR@|$TOP|g" -e "s|@SYSCONFDIR@|$T/etc|g" \
	    "$TOP/systemd/hourglass.service" > "$T/units/hourglass.service"
	cp "$TOP/systemd/hourglass.socket" "$T/units/hourglass.socket"
	check "no @...@ left in the installed unit" bash -c "! grep -q '@[A-Z]*@' '$T/units/hourglass.service'"
	check "ExecStart runs the built binary" grep -q "^ExecStart=$TOP/hourglass -c " "$T/units/hourglass.service"
	for u in hourglass.service hourglass.socket; do
		(cd "$T/units" && systemd-analyze verify "./$u") > "$T/verify.$u" 2>&1
		rc=$?
		expect_eq "systemd-analyze verify $u: exit" "$rc" 0
		if grep -q 'hourglass' "$T/verify.$u"; then
			fail "systemd-analyze verify $u complains about the unit"
			sed 's/^/  verify: /' "$T/verify.$u"
		else
			ok "systemd-analyze verify $u: no warning about the unit"
		fi
	done
	check "the socket unit starts hourglass.service" \
		grep -q '^Service=hourglass.service$' "$T/units/hourglass.socket"
	check "the service is Type=notify" grep -q '^Type=notify$' "$T/units/hourglass.service"
	check "the service reloads with SIGHUP" grep -q '^ExecReload=.*kill -HUP \$MAINPID' "$T/units/hourglass.service"
	check "the service has a watchdog (WatchdogSec=)" grep -Eq '^WatchdogSec=[1-9]' "$T/units/hourglass.service"
	check "only the main process may notify" grep -q '^NotifyAccess=main$' "$T/units/hourglass.service"
	check "the unit keeps AF_UNIX for sd_notify" \
		grep -Eq '^RestrictAddressFamilies=.*AF_UNIX' "$T/units/hourglass.service"
	# The hardening score: systemd-analyze security, offline (systemd 250
	# and later), at most 1.5 ("exposure level", 0 best, 10 worst).
	if systemd-analyze --help 2>/dev/null | grep -q -- '--offline'; then
		(cd "$T/units" && systemd-analyze security --offline=yes --no-pager \
		    ./hourglass.service) > "$T/security" 2>&1
		score=$(sed -n 's/.*Overall exposure level for hourglass.service: \([0-9.]*\).*/\1/p' \
		    "$T/security")
		if [ -z "$score" ]; then
			fail "systemd-analyze security printed no overall exposure level"
			sed 's/^/  security: /' "$T/security"
		elif awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }'; then
			ok "systemd-analyze security: exposure $score (at most 1.5)"
		else
			fail "systemd-analyze security: exposure $score, over 1.5"
			grep '✗' "$T/security" | sed 's/^/  security: /'
		fi
		# The same bound through the tool's own threshold (exposure x 10).
		(cd "$T/units" && systemd-analyze security --offline=yes --threshold=15 \
		    ./hourglass.service) > /dev/null 2>&1
		expect_eq "systemd-analyze security --threshold=15: exit" "$?" 0
	else
		note "SKIP: this systemd-analyze ($(systemd-analyze --version | head -n 1)) has no --offline: the security score was not measured"
	fi
else
	fail "systemd-analyze is not installed (make check installs systemd): the units were not verified"
fi

finish
