# tests/tunnel_lib.sh: helpers for the tunnel scenarios
# (tests/scenario/tunnel_*.sh).  Source it instead of tests/ops_lib.sh,
# which it sources.  The clients are python3 scripts (tests/wslib.py and
# tests/tunnel_lib.py) run by tun_py; the shell side reads what they measured
# and checks the access log, the origin's event log, /metrics and /proc.
source "$(dirname "${BASH_SOURCE[0]}")/ops_lib.sh"

export TUN_VALS=$T/vals		# where tunnel_lib.py's put() writes
MPORT=				# the daemon's metrics port
TLS_PORT=			# its TLS listener's port, with TUN_TLS=1

# tun_cert: a throwaway self-signed P-256 certificate for localhost and
# 127.0.0.1 in $T/cert.pem and $T/cert.key (never committed).
tun_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/cert.key" -out "$T/cert.pem" -days 2 -subj "/CN=localhost" \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" > "$T/openssl.log" 2>&1 ||
	    { fail "openssl req"; cat "$T/openssl.log"; return 1; }
}

# tun_up FILE [LINE...]: hg_up, with a metrics listener, TUN_SERVER (more
# [server] lines, \n between them) and with TUN_TLS=1 a second listener,
# TLS, on $T/cert.pem (tun_cert).  Sets HG_PID, HG_PORT (plain), TLS_PORT,
# MPORT, HG_ERR and FD0.
tun_up() {
	local f=$1 extra="metrics_listen = 127.0.0.1:0${TUN_SERVER:+\n$TUN_SERVER}"
	hg_config "$@"
	[ "${TUN_TLS:-0}" = 1 ] &&
	    extra="$extra\nlisten = 127.0.0.1:0 tls\ntls_certificate = $T/cert.pem $T/cert.key"
	sed -i "s|^workers = 1\$|workers = 1\n$extra|" "$f"
	start_hourglass "$f" || { sed 's/^/  config: /' "$f"; return 1; }
	TLS_PORT=
	if [ "${TUN_TLS:-0}" = 1 ]; then
		# The listeners are logged in the order of the file.
		TLS_PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\)$/\1/p' "$HG_ERR" |
		    sed -n 2p)
		[ -n "$TLS_PORT" ] || { fail "no second listener"; return 1; }
	fi
	MPORT=$(sed -n 's/.*metrics on .*:\([0-9][0-9]*\)$/\1/p' "$HG_ERR" | head -n 1)
	[ -n "$MPORT" ] || { fail "no 'metrics on' line"; return 1; }
	sleep 0.2
	FD0=$(fd_count "$HG_PID")
	note "hourglass pid $HG_PID on port $HG_PORT${TLS_PORT:+ (TLS $TLS_PORT)}, $FD0 descriptors at start"
}

# tun_py DESC SCRIPT [ARGS...]: py_checks; then the KEY=VALUE lines the
# script wrote with put() become shell variables.
tun_py() {
	: > "$TUN_VALS"
	py_checks "$@"
	# shellcheck disable=SC1090
	source "$TUN_VALS"
}

# tun_log DESC TARGET STATUS OUTCOME: the access-log line of TARGET (LOGL)
# has this status and outcome.
tun_log() { log_expect_for "$@"; }

# tun_field NAME: an integer field of LOGL (total_ms=812.345 -> 812).
tun_field() { local v; v=$(lf "$1" "$LOGL"); echo "${v%%.*}"; }

# tun_bytes DESC IN OUT: LOGL's bytes_in and bytes_out.
tun_bytes() {
	expect_eq "$1: logged bytes_in (what the client sent)" "$(tun_field bytes_in)" "$2"
	expect_eq "$1: logged bytes_out (what the client got)" "$(tun_field bytes_out)" "$3"
}

# metric SERIES: the value of one series of /metrics, e.g.
# 'hourglass_tunnels_total{outcome="ok"}'; empty when absent.
metric() {
	curl -s -m 5 "http://127.0.0.1:$MPORT/metrics" |
	    awk -v s="$1" 'index($0, s " ") == 1 { print $NF }'
}

# metric_wait DESC SERIES VALUE: the series reaches VALUE within 2 s.
metric_wait() {
	local v n=40
	while :; do
		v=$(metric "$2")
		[ "$v" = "$3" ] && break
		n=$((n - 1)); [ $n -le 0 ] && break
		sleep 0.05
	done
	expect_eq "$1: $2" "$v" "$3"
}

# origin_closed DESC TARGET: the origin logged that its peer (hourglass)
# closed the connection of TARGET (its `close` event), within 2 s.
origin_closed() {
	local n=40
	while [ -z "$(oevent close "$2")" ] && [ $n -gt 0 ]; do
		sleep 0.05; n=$((n - 1))
	done
	if [ -n "$(oevent close "$2")" ]; then
		ok "$1: the origin saw its connection closed"
	else
		fail "$1: the origin never saw its connection for $2 closed"
		grep -F " $2 " "$OEVENTS" | sed 's/^/  origin: /'
	fi
}
