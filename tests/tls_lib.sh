# tests/tls_lib.sh: helpers for the TLS scenarios (tests/scenario/tls_*.sh).
# Source it instead of tests/ops_lib.sh, which it sources (with
# tests/proxy_lib.sh and tests/lib.sh).  Black-box: what curl, openssl
# s_client and the scripted client tests/tools/tls_client.py see, the access
# and error logs, /metrics, and the event log of the TLS upstream
# tests/tools/tls_origin.py.  Every certificate and key is made here, in
# $T, by the openssl command, and goes with $T.
source "$(dirname "${BASH_SOURCE[0]}")/ops_lib.sh"

HG_WORKERS=1
PKI=$T/pki			# the throwaway CA and certificates
CA=$PKI/ca.pem
TLS_ORIGIN=$TOP/tests/tools/tls_origin.py
TLS_CLIENT=$TOP/tests/tools/tls_client.py
TLS_PORT=			# the daemon's TLS listener (also HG_PORT)
PLAIN_PORT=			# its plain listener
MPORT=				# its metrics listener

# tls_leaf NAME SUBJECT SAN [START END]: a P-256 certificate signed by the
# test CA, in $PKI/NAME.pem with its key in $PKI/NAME.key.  SAN is an
# openssl subjectAltName value, or "client" for a client certificate
# (extendedKeyUsage clientAuth, no SAN).  START and END (YYMMDDHHMMSSZ)
# set the validity; by default it runs from an hour ago for 2 days.
tls_leaf() {
	local name=$1 subj=$2 san=$3 start=${4:-} end=${5:-} ext
	if [ "$san" = client ]; then
		ext="extendedKeyUsage = clientAuth"
	else
		ext="subjectAltName = $san
extendedKeyUsage = serverAuth"
	fi
	printf '[%s]\nbasicConstraints = CA:FALSE\n%s\n' "$name" "$ext" >> "$PKI/ca.cnf"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$PKI/$name.key" -out "$PKI/$name.csr" -subj "$subj" \
	    > "$PKI/openssl.log" 2>&1 &&
	openssl ca -batch -config "$PKI/ca.cnf" -cert "$CA" -keyfile "$PKI/ca.key" \
	    -in "$PKI/$name.csr" -out "$PKI/$name.pem" -extensions "$name" -notext \
	    -startdate "${start:-$(date -u -d '-1 hour' +%y%m%d%H%M%SZ)}" \
	    -enddate "${end:-$(date -u -d '+2 days' +%y%m%d%H%M%SZ)}" \
	    >> "$PKI/openssl.log" 2>&1 ||
	    { fail "openssl: certificate $name"; cat "$PKI/openssl.log"; return 1; }
}

# tls_pki: the test CA and its certificates:
#   localhost  CN=localhost, DNS:localhost and IP:127.0.0.1
#   a, b       CN=a.test / CN=b.test, that name only
#   wild       CN=wild.test, DNS:*.wild.test
#   wrong      CN=wrong.test, DNS:wrong.test (the wrong name for 127.0.0.1)
#   expired    as localhost, but valid from 3 days ago to yesterday
#   client     CN=client-one, a client certificate
tls_pki() {
	mkdir -p "$PKI/db"
	: > "$PKI/db/index.txt"
	echo 1000 > "$PKI/db/serial"
	cat > "$PKI/ca.cnf" <<-EOF
	[ca]
	default_ca = test_ca
	[test_ca]
	database = $PKI/db/index.txt
	serial = $PKI/db/serial
	new_certs_dir = $PKI/db
	default_md = sha256
	policy = any
	unique_subject = no
	[any]
	commonName = supplied
	EOF
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$PKI/ca.key" -out "$CA" -days 3 -subj "/CN=hourglass test CA" \
	    -addext "basicConstraints = critical, CA:TRUE" \
	    -addext "keyUsage = critical, keyCertSign, cRLSign" \
	    > "$PKI/openssl.log" 2>&1 ||
	    { fail "openssl: the CA"; cat "$PKI/openssl.log"; return 1; }
	tls_leaf localhost /CN=localhost "DNS:localhost, IP:127.0.0.1" &&
	tls_leaf a /CN=a.test DNS:a.test &&
	tls_leaf b /CN=b.test DNS:b.test &&
	tls_leaf wild /CN=wild.test "DNS:*.wild.test" &&
	tls_leaf wrong /CN=wrong.test DNS:wrong.test &&
	tls_leaf expired /CN=localhost "DNS:localhost, IP:127.0.0.1" \
	    "$(date -u -d '-3 days' +%y%m%d%H%M%SZ)" "$(date -u -d '-1 day' +%y%m%d%H%M%SZ)" &&
	tls_leaf client /CN=client-one client
}

# tls_config FILE CERTS [LINE...]: hg_config (tests/proxy_lib.sh), with a
# TLS listener first and the plain one second, metrics on a free port, and
# one tls_certificate line per name of CERTS (space-separated: "localhost
# a" serves $PKI/localhost.pem first).
tls_config() {
	local f=$1 certs=$2
	shift 2
	hg_config "$f" "$@"
	awk -v certs="$certs" -v pki="$PKI" '
		/^listen = 127\.0\.0\.1:0$/ && !done {
			print "listen = 127.0.0.1:0 tls"; print
			n = split(certs, c, " ")
			for (i = 1; i <= n; i++)
				printf "tls_certificate = %s/%s.pem %s/%s.key\n", pki, c[i], pki, c[i]
			print "metrics_listen = 127.0.0.1:0"
			done = 1; next
		}
		{ print }' "$f" > "$f.tmp" && mv "$f.tmp" "$f"
}

# tls_start FILE: start the daemon on a tls_config file; sets HG_PID,
# HG_PORT and TLS_PORT (the TLS listener), PLAIN_PORT, MPORT and FD0.
tls_start() {
	local f=$1
	LOG_SEEN=$(cat "$ACCESS" 2>/dev/null | wc -l)
	start_hourglass "$f" || { sed 's/^/  config: /' "$f"; return 1; }
	wait_count "$HG_ERR" 'listening on' 2 && wait_grep "$HG_ERR" 'metrics on' ||
	    { fail "hourglass did not open its listeners"; cat "$HG_ERR"; return 1; }
	TLS_PORT=$HG_PORT
	PLAIN_PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\)$/\1/p' "$HG_ERR" | sed -n 2p)
	MPORT=$(sed -n 's/.*metrics on .*:\([0-9][0-9]*\)$/\1/p' "$HG_ERR" | head -n 1)
	sleep 0.2
	FD0=$(fd_count "$HG_PID")
	note "hourglass pid $HG_PID: tls on $TLS_PORT, plain on $PLAIN_PORT, metrics on $MPORT, $FD0 descriptors"
}

# tls_up FILE CERTS [LINE...]: tls_config and tls_start.
tls_up() {
	tls_config "$@" && tls_start "$1"
}

# metric SERIES: the value of one series of /metrics (its name and labels
# exactly as written), 0 if it is not there.
metric() {
	local v
	v=$(curl -s -m 5 "http://127.0.0.1:$MPORT/metrics" |
	    awk -v s="$1" '$1 == s { print $2; exit }')
	echo "${v:-0}"
}

# tls_fails REASON: hourglass_tls_handshake_failures_total for REASON.
tls_fails() { metric "hourglass_tls_handshake_failures_total{reason=\"$1\"}"; }

# tls_ok: hourglass_tls_handshakes_total.
tls_ok() { metric hourglass_tls_handshakes_total; }

# tcurl [CURL ARGS...]: as hg_curl (body to $T/body, emptied first; head
# to $T/head; CODE, RC, MS), and MS_APP, the ms until the TLS handshake
# was done (0 for plain HTTP), and MS_TTFB, until the first response byte.
# A deadline that starts with the request is seen at MS - MS_APP.
tcurl() {
	local w a s t
	: > "$T/body"
	w=$(curl -s -m 10 -o "$T/body" -D "$T/head" \
	    -w '%{http_code} %{time_appconnect} %{time_starttransfer} %{time_total}' "$@")
	RC=$?
	read -r CODE a s t <<< "$w"
	MS=$(ms_of "$t")
	MS_APP=$(ms_of "$a")
	MS_TTFB=$(ms_of "$s")
}

# https_curl PATH [CURL ARGS...]: tcurl to https://localhost:TLS_PORT
# PATH, verified against the test CA (localhost resolves to 127.0.0.1).
https_curl() {
	local p=$1; shift
	tcurl --cacert "$CA" --resolve "localhost:$TLS_PORT:127.0.0.1" \
	    "$@" "https://localhost:$TLS_PORT$p"
}

# tls_client OUT [ARGS...]: run tests/tools/tls_client.py against the TLS
# listener (--port TLS_PORT --ca CA unless ARGS give --port), bounded by
# 30 s; its event lines go to OUT.
tls_client() {
	local out=$1; shift
	local port=(--port "$TLS_PORT")
	case " $* " in *" --port "*) port=() ;; esac
	timeout 30 python3 "$TLS_CLIENT" "${port[@]}" "$@" > "$out" 2> "$out.err"
	TC_RC=$?
	[ -s "$out.err" ] && sed 's/^/  tls_client: /' "$out.err"
	return 0
}

# ev OUT WORD [N]: the Nth (default first) event line of a tls_client run
# that starts with WORD; ev_ms the same line's milliseconds.
ev() { awk -v w="$2" -v n="${3:-1}" '$1 == w && ++k == n { print; exit }' "$1"; }
ev_ms() { ev "$@" | awk '{ print $2 }'; }

# ev_field LINE KEY: the value of KEY=VALUE in an event line.
ev_field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# served CERTOPTS...: the subject of the certificate the TLS listener
# serves to `openssl s_client CERTOPTS` (e.g. -servername a.test, or
# -noservername), on one line ("CN = a.test").
served() {
	timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" "$@" \
	    < /dev/null 2> /dev/null |
	    openssl x509 -noout -subject -nameopt oneline 2> /dev/null |
	    sed 's/^subject=//'
}

# served_serial CERTOPTS...: the serial of that certificate.
served_serial() {
	timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" "$@" \
	    < /dev/null 2> /dev/null |
	    openssl x509 -noout -serial 2> /dev/null | sed 's/^serial=//'
}

# tls_origin_up NAME CERT [ARGS...]: start tests/tools/tls_origin.py with
# $PKI/CERT.pem; sets NAME_PORT and NAME_PID, and its events go to
# $T/NAME.events (see tls_origin.py).
tls_origin_up() {
	local name=$1 cert=$2 pf=$T/$1.port pid
	shift 2
	python3 "$TLS_ORIGIN" --port-file "$pf" --cert "$PKI/$cert.pem" \
	    --key "$PKI/$cert.key" --log "$T/$name.events" "$@" \
	    > "$T/$name.out" 2>&1 &
	pid=$!
	_pids+=("$pid")
	wait_file "$pf" || { fail "tls_origin $name did not start"; cat "$T/$name.out"; return 1; }
	printf -v "${name}_PORT" '%s' "$(cat "$pf")"
	printf -v "${name}_PID" '%s' "$pid"
}

# oev NAME REGEX: how many lines of tls_origin NAME's event log match.
oev() { count_lines "$T/$1.events" "$2"; }

# count_lines FILE REGEX: lines of FILE matching the extended REGEX.
count_lines() {
	local n
	n=$(grep -c -E -- "$2" "$1" 2>/dev/null)
	echo "${n:-0}"
}
