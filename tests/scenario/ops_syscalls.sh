#!/usr/bin/env bash
# The unit's seccomp filter and address families, without systemd running:
# every system call the daemon makes, traced with strace through a whole
# life (two workers, a plain and a TLS listener, a plain and a TLS
# upstream, a refused upstream, a failed handshake, /metrics, sd_notify
# with the watchdog, SIGHUP, SIGUSR1, SIGTERM), is allowed by the
# SystemCallFilter= lines of systemd/hourglass.service and denied by none;
# every socket it opens is of a family RestrictAddressFamilies= allows.
# Under the unit a denied call fails with EPERM (SystemCallErrorNumber=):
# nothing crashes, something silently stops working, hence this test.
source "$(dirname "$0")/../ops_lib.sh"

UNIT=$TOP/systemd/hourglass.service
command -v strace > /dev/null 2>&1 ||
    { fail "strace is not installed (make check installs it)"; finish; }
command -v systemd-analyze > /dev/null 2>&1 ||
    { fail "systemd-analyze is not installed (make check installs systemd)"; finish; }
# A container may forbid ptrace: then nothing can be traced here.
if ! strace -f -qq -o /dev/null true > "$T/strace.try" 2>&1; then
	note "SKIP: strace cannot trace here ($(head -n 1 "$T/strace.try")): the unit's system-call filter was not checked"
	finish
fi

# expand NAME...: the system calls of each name, @groups expanded
# (systemd-analyze syscall-filter lists a group's calls and subgroups).
expand() {
	local n
	for n in "$@"; do
		case $n in
		@*)
			systemd-analyze syscall-filter "$n" > "$T/group" 2>&1 ||
			    { fail "systemd-analyze syscall-filter $n"; cat "$T/group"; continue; }
			# shellcheck disable=SC2046
			expand $(awk 'NR > 1 && NF && $1 !~ /^#/ { print $1 }' "$T/group")
			;;
		*) echo "$n" ;;
		esac
	done
}

# The unit's filter: lines without ~ allow (their union), lines with ~ deny.
# shellcheck disable=SC2046
expand $(sed -n 's/^SystemCallFilter=\([^~].*\)$/\1/p' "$UNIT") | sort -u > "$T/allow"
# shellcheck disable=SC2046
expand $(sed -n 's/^SystemCallFilter=~\(.*\)$/\1/p' "$UNIT") | sort -u > "$T/deny"
check "the unit allows a list of calls ($(wc -l < "$T/allow"))" test "$(wc -l < "$T/allow")" -ge 200
check "the unit denies a list of calls ($(wc -l < "$T/deny"))" test "$(wc -l < "$T/deny")" -ge 40
check "  among them setrlimit (@resources) and chroot (@privileged)" \
	bash -c "grep -qx setrlimit '$T/deny' && grep -qx chroot '$T/deny'"
families=$(sed -n 's/^RestrictAddressFamilies=//p' "$UNIT")
check "the unit restricts address families ($families)" test -n "$families"

# mkcert NAME: a throwaway self-signed P-256 certificate for NAME.example.
mkcert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -out "$T/$1.pem" -days 2 -subj "/CN=$1.example" \
	    -addext "subjectAltName=DNS:$1.example" > "$T/openssl.log" 2>&1 ||
	    { fail "openssl req for $1"; cat "$T/openssl.log"; finish; }
}
mkcert a

origin_up || finish
dead_port_up || finish

# A second daemon, not traced: the TLS upstream of the first.
BP=$(free_port)
cat > "$T/b.ini" <<EOT
[server]
listen = 127.0.0.1:$BP tls
tls_certificate = $T/a.pem $T/a.key
access_log = off

[upstream o]
server = 127.0.0.1:$ORIGIN_PORT

[route /]
upstream = o
EOT
start_hourglass "$T/b.ini" || finish

# The traced daemon.
PP=$(free_port); TP=$(free_port); MP=$(free_port)
cat > "$T/hg.ini" <<EOT
[server]
listen = 127.0.0.1:$PP
listen = 127.0.0.1:$TP tls
tls_certificate = $T/a.pem $T/a.key
workers = 2
access_log = $T/access.log
metrics_listen = 127.0.0.1:$MP

[upstream o]
server = 127.0.0.1:$ORIGIN_PORT

[upstream s]
server = 127.0.0.1:$BP
tls = yes
tls_ca = $T/a.pem
tls_sni = a.example

[upstream dead]
server = 127.0.0.1:$DEAD_PORT

[route /]
upstream = o

[route /echo/]
upstream = s

[route /dead/]
upstream = dead
EOT
notify_up || finish
# LeakSanitizer cannot run under ptrace (a sanitizer build would exit 1
# at the end): the leak check is the other tests' job.
NOTIFY_SOCKET=$NOTIFY_SOCK WATCHDOG_USEC=400000 \
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
    strace -f -qq -o "$T/trace" "$HOURGLASS" -c "$T/hg.ini" > /dev/null 2> "$T/hg.err" &
ST_PID=$!; _pids+=("$ST_PID")
HG_ERR=$T/hg.err
wait_grep "$NLOG" 'READY=1' 200 || { fail "no READY=1 under strace"; cat "$HG_ERR"; finish; }
HG_PID=$(cat "/proc/$ST_PID/task/$ST_PID/children" 2>/dev/null | awk '{ print $1 }')
check "the traced process is hourglass" test "$(readlink "/proc/${HG_PID:-0}/exe")" = "$(readlink -f "$HOURGLASS")"
_pids+=("$HG_PID")

hg_curl "http://127.0.0.1:$PP/"
expect_eq "plain listener, plain upstream" "$CODE" 200
CODE=$(curl -s -m 5 -o /dev/null -w '%{http_code}' --cacert "$T/a.pem" \
    --resolve "a.example:$TP:127.0.0.1" "https://a.example:$TP/")
expect_eq "TLS listener" "$CODE" 200
hg_curl "http://127.0.0.1:$PP/echo/x"
expect_eq "TLS upstream" "$CODE" 200
check "  the second daemon saw it come over TLS" grep -qi "^x-forwarded-proto: https" "$T/body"
hg_curl "http://127.0.0.1:$PP/dead/x"
expect_eq "refused upstream" "$CODE" 502
curl -s -m 5 -o /dev/null "http://127.0.0.1:$TP/"
note "plain HTTP to the TLS listener (a failed handshake): curl exit $?"
curl -s -m 5 -o "$T/metrics" "http://127.0.0.1:$MP/metrics"
check "/metrics answered" grep -q '^hourglass_tls_handshakes_total ' "$T/metrics"
hg_reload "SIGHUP" "reloaded"
kill -USR1 "$HG_PID"
wait_grep "$HG_ERR" 'access log reopened' || fail "SIGUSR1: no 'access log reopened'"
hg_curl "http://127.0.0.1:$PP/?after"
expect_eq "a request after the reload and the reopen" "$CODE" 200
sleep 0.5	# a few watchdog and status rounds
# strace exits with its tracee's status.
kill -TERM "$HG_PID"
n=200; while [ $n -gt 0 ] && kill -0 "$ST_PID" 2>/dev/null; do sleep 0.05; n=$((n - 1)); done
if kill -0 "$ST_PID" 2>/dev/null; then
	fail "SIGTERM: the traced daemon still runs after 10 s"
else
	wait "$ST_PID"
	expect_eq "SIGTERM: the traced daemon exits 0" "$?" 0
fi
check "WATCHDOG=1 was sent" grep -q ' WATCHDOG=1$' "$NLOG"

# The calls made: "PID name(" lines ("<... name resumed>" repeats a name).
awk '{ s = $2; if (sub(/\(.*/, "", s) && s ~ /^[a-z0-9_]+$/) print s }' "$T/trace" |
    sort -u > "$T/used"
n_used=$(wc -l < "$T/used")
check "strace saw the daemon's calls ($n_used distinct)" test "$n_used" -ge 30
check "  among them accept4, epoll_wait and sendmsg" \
	bash -c "grep -qx accept4 '$T/used' && grep -qx epoll_wait '$T/used' && grep -qx sendmsg '$T/used'"
bad=$(comm -23 "$T/used" "$T/allow" | tr '\n' ' ')
expect_eq "calls outside the unit's allow list" "$bad" ""
bad=$(comm -12 "$T/used" "$T/deny" | tr '\n' ' ')
expect_eq "calls the unit denies" "$bad" ""
fams=$(sed -n 's/^[0-9]* socket(\(AF_[A-Z0-9]*\),.*/\1/p' "$T/trace" | sort -u | tr '\n' ' ')
note "socket families used: $fams"
bad=
for f in $fams; do
	case " $families " in *" $f "*) ;; *) bad="$bad$f " ;; esac
done
expect_eq "socket families outside RestrictAddressFamilies=" "$bad" ""

finish
