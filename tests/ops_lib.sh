# tests/ops_lib.sh: helpers for the operations scenarios
# (tests/scenario/ops_*.sh): systemd notify, socket activation, reload,
# drain and log reopening.  Source it instead of tests/proxy_lib.sh, which
# it sources (and which sources tests/lib.sh).  Black-box: what a client,
# an operator or systemd sees.  Only perl-base is assumed for the systemd
# side (no python, no systemd running).
source "$(dirname "${BASH_SOURCE[0]}")/proxy_lib.sh"

HG_WORKERS=${HG_WORKERS:-2}	# workers in every ops_config file
NLOG=$T/notify.log		# the datagrams systemd would have received

# up_ms: milliseconds of /proc/uptime (10 ms resolution), the clock the
# notify receiver stamps its lines with.
up_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }

# wait_grep FILE REGEX [TRIES]: wait (up to TRIES*50ms, default 5 s) until
# a line of FILE matches the extended REGEX.
wait_grep() {
	local f=$1 re=$2 n=${3:-100}
	while [ $n -gt 0 ]; do
		grep -Eq -- "$re" "$f" 2>/dev/null && return 0
		sleep 0.05; n=$((n - 1))
	done
	return 1
}

# wait_count FILE REGEX COUNT [TRIES]: wait until at least COUNT lines of
# FILE match REGEX.
wait_count() {
	local f=$1 re=$2 want=$3 n=${4:-100}
	while [ $n -gt 0 ]; do
		[ "$(grep -Ec -- "$re" "$f" 2>/dev/null)" -ge "$want" ] && return 0
		sleep 0.05; n=$((n - 1))
	done
	return 1
}

# free_port: print a loopback TCP port that was free a moment ago.
free_port() {
	perl -MSocket -e '
		socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
		bind($s, pack_sockaddr_in(0, inet_aton("127.0.0.1"))) or die "bind: $!";
		my ($p) = unpack_sockaddr_in(getsockname($s));
		print "$p\n";'
}

# ops_config FILE [LINE...]: hg_config, with workers = $HG_WORKERS.
ops_config() {
	local f=$1
	hg_config "$@"
	sed -i "s/^workers = 1\$/workers = $HG_WORKERS/" "$f"
}

# hg_started: wait until the daemon says it started (every worker built
# and listening) and until each worker logged its first listener.
hg_started() {
	wait_grep "$HG_ERR" 'hourglass .* started' || {
		fail "hourglass did not log 'started'"; tail -n 20 "$HG_ERR"; return 1; }
	wait_count "$HG_ERR" 'listening on' "$HG_WORKERS" ||
	    { fail "fewer than $HG_WORKERS 'listening on' lines"; return 1; }
}

# ops_up FILE [LINE...]: write the config (ops_config), start the daemon
# and wait until it has started.  Sets HG_PID, HG_PORT, HG_ERR; LOG_SEEN=0.
ops_up() {
	local f=$1
	ops_config "$@"
	LOG_SEEN=0
	start_hourglass "$f" || { sed 's/^/  config: /' "$f"; return 1; }
	hg_started || return 1
	note "hourglass pid $HG_PID ($HG_WORKERS workers) on port $HG_PORT"
}

# hg_reload DESC WHAT: send SIGHUP and wait until the daemon logged the
# reload's end: WHAT is "reloaded" or "reload refused".  The count of such
# lines before the signal is remembered, so each call waits for a new one.
hg_reload() {
	local d=$1 what=$2 before
	before=$(grep -c -- "$what" "$HG_ERR")
	kill -HUP "$HG_PID"
	if wait_count "$HG_ERR" "$what" $((before + 1)); then
		ok "$d: the daemon logged '$what'"
	else
		fail "$d: no new '$what' line"; tail -n 20 "$HG_ERR" | sed 's/^/  hourglass: /'
		return 1
	fi
}

# hg_stop_wait [SIGNAL]: send SIGTERM (or SIGNAL) and wait (up to 10 s) for
# the daemon to exit.  Sets HG_RC (its exit status, or "running") and
# HG_EXIT_AT (now_ms when seen gone).
hg_stop_wait() {
	local sig=${1:-TERM} n=200
	kill -"$sig" "$HG_PID"
	while [ $n -gt 0 ] && kill -0 "$HG_PID" 2>/dev/null &&
	    [ "$(awk '{print $3}' "/proc/$HG_PID/stat" 2>/dev/null)" != Z ]; do
		sleep 0.02; n=$((n - 1))
	done
	HG_EXIT_AT=$(now_ms)
	if [ $n -le 0 ]; then HG_RC=running; return 1; fi
	wait "$HG_PID"; HG_RC=$?
}

# bg_curl NAME [CURL ARGS...]: curl in the background (bounded by -m 10);
# when it ends, $T/NAME.res holds "CODE RC BYTES END_MS" and $T/NAME.body
# the body.  Sets BG_PID.
bg_curl() {
	local name=$1; shift
	(
		w=$(curl -s -m 10 -o "$T/$name.body" -w '%{http_code} %{size_download}' "$@")
		rc=$?
		echo "${w% *} $rc ${w#* } $(now_ms)" > "$T/$name.res.tmp"
		mv "$T/$name.res.tmp" "$T/$name.res"
	) &
	BG_PID=$!
	_pids+=("$BG_PID")
}

# bg_result NAME: wait (up to 12 s) for a bg_curl to end; sets BG_CODE,
# BG_RC, BG_BYTES and BG_END (now_ms at its end).
bg_result() {
	local r
	wait_file "$T/$1.res" 240 || { BG_CODE=none BG_RC=none BG_BYTES=0 BG_END=0; return 1; }
	r=$(cat "$T/$1.res")
	read -r BG_CODE BG_RC BG_BYTES BG_END <<< "$r"
}

# raw_get PATH: send "GET PATH HTTP/1.1" (keep-alive) on fd 3 (raw_open)
# and read the response: RAW_STATUS (the status code, empty when none
# came within 3 s), RAW_BODY (a Content-Length body).
raw_get() {
	local line len=0
	RAW_STATUS= RAW_BODY=
	raw_send 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' "$1" || return 1
	IFS= read -r -t 3 line <&3 || return 1
	line=${line%$'\r'}
	RAW_STATUS=$(printf '%s\n' "$line" | awk '{print $2}')
	while IFS= read -r -t 3 line <&3; do
		line=${line%$'\r'}
		[ -z "$line" ] && break
		case ${line,,} in content-length:*) len=${line#*:}; len=${len// /} ;; esac
	done
	[ "$len" -gt 0 ] && read -r -N "$len" -t 3 RAW_BODY <&3
	return 0
}

# notify_up: bind a datagram socket for sd_notify, as systemd's would be,
# and log each datagram as one line "UPTIME_MS TEXT" to $NLOG, newlines
# in the datagram shown as "|".  Sets NOTIFY_SOCK (export it as
# NOTIFY_SOCKET for the daemon) and NOTIFY_PID.
notify_up() {
	NOTIFY_SOCK=$T/notify.sock
	: > "$NLOG"
	perl -MSocket -MIO::Socket::UNIX -e '
		my ($path, $out) = @ARGV;
		my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path)
		    or die "notify socket $path: $!\n";
		open(my $f, ">>", $out) or die "$out: $!\n";
		select($f); $| = 1;
		while (defined $s->recv(my $d, 65536)) {
			open(my $u, "<", "/proc/uptime") or die;
			my ($up) = split " ", scalar <$u>; close $u;
			$d =~ s/\n+$//; $d =~ s/\n/|/g;
			printf "%d %s\n", $up * 1000, $d;
		}' "$NOTIFY_SOCK" "$NLOG" 2> "$T/notify.err" &
	NOTIFY_PID=$!
	_pids+=("$NOTIFY_PID")
	local n=100
	while [ $n -gt 0 ] && [ ! -S "$NOTIFY_SOCK" ]; do sleep 0.05; n=$((n - 1)); done
	[ -S "$NOTIFY_SOCK" ] || { fail "notify receiver did not bind"; cat "$T/notify.err"; return 1; }
}

# notify_seq: the lifecycle messages of $NLOG in order (READY, RELOADING,
# STOPPING; STATUS and WATCHDOG left out), space-separated.
notify_seq() {
	awk '{ sub(/^[0-9]+ /, ""); n = split($0, f, "|");
	       for (i = 1; i <= n; i++)
		       if (f[i] ~ /^(READY|RELOADING|STOPPING)=/) printf "%s ", f[i] }' "$NLOG" |
	    sed 's/ $//'
}

# activate_perl PORTFILE CMD...: socket activation without systemd: bind a
# listening socket on 127.0.0.1:0 as fd 3, write its port to PORTFILE, set
# LISTEN_FDS=1 and LISTEN_PID to this process, and exec CMD (same PID).
# Run it in the background (`activate_perl ... &`): it execs, so $! is
# the daemon.
activate_perl() {
	exec perl -MSocket -MPOSIX -e '
		BEGIN { $^F = 10 }	# descriptors up to 10 survive exec
		my $pf = shift;
		socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
		setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1);
		bind($s, pack_sockaddr_in(0, inet_aton("127.0.0.1"))) or die "bind: $!\n";
		listen($s, 128) or die "listen: $!\n";
		my ($p) = unpack_sockaddr_in(getsockname($s));
		if (fileno($s) != 3) { POSIX::dup2(fileno($s), 3) or die "dup2: $!\n"; close $s; }
		open(my $f, ">", "$pf.tmp") or die; print $f "$p\n"; close $f;
		rename("$pf.tmp", $pf) or die;
		$ENV{LISTEN_FDS} = 1; $ENV{LISTEN_PID} = $$;
		delete $ENV{LISTEN_FDNAMES};
		exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n";' "$@"
}

# log_for TARGET: wait (up to 5 s) for the access-log line of the request
# for TARGET (give each request a unique query string); LOGL is that line
# (the last such), empty if none.
log_for() {
	LOGL=
	local n=100
	while [ $n -gt 0 ] && ! grep -Fq -- " target=$1 " "$ACCESS" 2>/dev/null; do
		sleep 0.05; n=$((n - 1))
	done
	LOGL=$(grep -F -- " target=$1 " "$ACCESS" | tail -n 1)
	[ -n "$LOGL" ]
}

# log_expect_for DESC TARGET STATUS OUTCOME: that line has this status and
# outcome.
log_expect_for() {
	if ! log_for "$2"; then fail "$1: no access-log line for $2"; return 1; fi
	expect_eq "$1: logged status" "$(lf status "$LOGL")" "$3"
	expect_eq "$1: logged outcome" "$(lf outcome "$LOGL")" "$4"
}
