#!/usr/bin/env bash
# TLS to upstreams ([upstream NAME] tls = yes), against the Python TLS
# origin tests/tools/tls_origin.py, which logs every handshake it takes
# (session_reused, version, sni, the client certificate's CN):
# - tls_ca = the test CA: 200, one handshake, no SNI to an IP address;
# - an expired certificate, a certificate for another name (IP address
#   mismatch), tls_sni naming a host the certificate does not (hostname
#   mismatch): 502 error:tls, the error log says why; with tls_verify = no the first two are taken;
# - tls_sni sends that name (the origin logs sni=a.test) and the
#   certificate is checked against it;
# - mTLS: an origin that requires a client certificate answers /whoami
#   with the CN of the one tls_certificate names; without one the
#   handshake fails: error:tls, over TLS 1.2 and over TLS 1.3 (where the
#   server's verdict arrives after the client's side of the handshake
#   is done);
# - a failed handshake is a connect failure: a POST (not idempotent) is
#   retried on the next server, and max_fails = 1 marks the failing server
#   down (hourglass_upstream_up 0);
# - pooled upstream TLS: 5 sequential requests make 1 handshake; once the
#   pooled connection has idled out (keepalive_idle 300ms) the next one
#   resumes the session (session_reused=1);
# - no descriptor is left behind.
source "$(dirname "$0")/../tls_lib.sh"

tls_pki || finish
origin_up || finish
tls_origin_up OK localhost || finish
tls_origin_up A a || finish
tls_origin_up EXP expired || finish
tls_origin_up WR wrong || finish
tls_origin_up MT localhost --client-ca "$CA" || finish
tls_origin_up MT12 localhost --client-ca "$CA" --max-tls 1.2 || finish

# ups NAME PORT... [-- LINE...]: an upstream section with tls = yes and
# tls_ca = the test CA, pooled connections idle 300 ms, never marked down
# unless a LINE says otherwise.
ups() {
	local name=$1 p
	shift
	printf '[upstream %s]\n' "$name"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		printf 'server = 127.0.0.1:%s\n' "$1"; shift
	done
	[ $# -gt 0 ] && shift
	printf 'tls = yes\ntls_ca = %s\nkeepalive = 8\nkeepalive_idle = 300ms\n' "$CA"
	for p in "$@"; do printf '%s\n' "$p"; done
	case " $* " in *"max_fails"*) ;; *) printf 'max_fails = 0\n' ;; esac
	printf '\n'
}
# route PREFIX UPSTREAM [LINE...]
route() {
	local p=$1 u=$2
	shift 2
	printf '[route %s]\nupstream = %s\n' "$p" "$u"
	printf '%s\n' "$@"
	printf '\n'
}
CLIENT="tls_certificate = $PKI/client.pem $PKI/client.key"
tls_up "$T/hg.ini" localhost \
	"$(ups ok "$OK_PORT")" \
	"$(ups exp "$EXP_PORT")" \
	"$(ups expnv "$EXP_PORT" -- 'tls_verify = no')" \
	"$(ups wr "$WR_PORT")" \
	"$(ups wrnv "$WR_PORT" -- 'tls_verify = no')" \
	"$(ups sni "$A_PORT" -- 'tls_sni = a.test')" \
	"$(ups sniwr "$OK_PORT" -- 'tls_sni = a.test')" \
	"$(ups mt "$MT_PORT")" \
	"$(ups mtc "$MT_PORT" -- "$CLIENT")" \
	"$(ups mt12 "$MT12_PORT")" \
	"$(ups mt12c "$MT12_PORT" -- "$CLIENT")" \
	"$(ups mix "$EXP_PORT" "$OK_PORT" -- 'max_fails = 1' 'fail_timeout = 30s')" \
	"$(ups mixmt "$MT_PORT" "$OK_PORT")" \
	"$(route /ok/ ok)" "$(route /exp/ exp)" "$(route /expnv/ expnv)" \
	"$(route /wr/ wr)" "$(route /wrnv/ wrnv)" "$(route /sni/ sni)" \
	"$(route /sniwr/ sniwr)" "$(route /mt/ mt)" "$(route /mtc/ mtc)" \
	"$(route /mt12/ mt12)" "$(route /mt12c/ mt12c)" \
	"$(route /mix/ mix 'retries = 1')" "$(route /mixmt/ mixmt 'retries = 1')" ||
	finish
U=http://127.0.0.1:$PLAIN_PORT

# get DESC PATH STATUS OUTCOME [CURL ARGS...]: a request through the plain
# listener: its status and its access-log line.
get() {
	local d=$1 p=$2 st=$3 oc=$4
	shift 4
	hg_curl "$@" "$U$p"
	expect_eq "$d: status" "$CODE" "$st"
	log_expect "$d" "$st" "$oc"
}

# tls_error DESC PATH WHY: 502 error:tls, and the error log names WHY.
tls_error() {
	local d=$1 p=$2 why=$3
	get "$d" "$p" 502 error:tls
	check "$d: the error log says why: $why" grep -qF -- "$why" "$HG_ERR"
}

note "tls = yes, tls_ca = the test CA"
get "GET /ok/" /ok/ 200 ok
expect_eq "  the origin's body" "$(cat "$T/body")" "hello from the tls origin"
expect_eq "  the origin took one handshake, TLS 1.3, no SNI to an address" \
	"$(grep '^handshake ' "$T/OK.events" | cut -d' ' -f3,4)" "version=TLSv1.3 sni=-"
expect_eq "  and no client certificate" "$(oev OK '^handshake .* cn=none$')" 1

note "certificates that do not verify"
tls_error "an expired certificate" /exp/ "certificate verify failed: certificate has expired"
expect_eq "  the origin saw hourglass refuse it" "$(oev EXP '^handshake_failed ')" 1
tls_error "a certificate for another name" /wr/ "certificate verify failed: IP address mismatch"
tls_error "tls_sni = a.test, the certificate is for localhost" /sniwr/ \
	"certificate verify failed: hostname mismatch"
expect_eq "  the origin was asked for a.test" "$(oev OK '^handshake_failed ')" 1
get "the expired certificate with tls_verify = no" /expnv/ 200 ok
get "the other name with tls_verify = no" /wrnv/ 200 ok
expect_eq "  no origin read a request it should not" \
	"$(oev EXP '^request /exp/') $(oev WR '^request /wr/')" "0 0"

note "tls_sni"
get "tls_sni = a.test to the a.test origin" /sni/ 200 ok
expect_eq "  the origin was asked for a.test" "$(oev A '^handshake .* sni=a\.test ')" 1

note "mTLS"
get "tls_certificate set: /whoami" /mtc/whoami 200 ok
expect_eq "  the origin saw the client certificate" "$(cat "$T/body")" client-one
get "the same over TLS 1.2" /mt12c/whoami 200 ok
expect_eq "  the origin saw the client certificate" "$(cat "$T/body")" client-one
tls_error "no client certificate, TLS 1.2" /mt12/whoami "TLS with 127.0.0.1:$MT12_PORT failed"
# Under TLS 1.3 the client's handshake is done before the server checks
# its certificate: the server's alert (certificate required) comes with
# the first read.  It is still the handshake that failed.
tls_error "no client certificate, TLS 1.3" /mt/whoami "TLS with 127.0.0.1:$MT_PORT failed"
expect_eq "  the origin refused both handshakes" \
	"$(oev MT '^handshake_failed ') $(oev MT12 '^handshake_failed ')" "1 1"

note "a failed handshake is a connect failure: retries and health"
get "POST to [expired, ok], retries = 1" /mix/ 200 ok -d 'a body'
expect_eq "  it took two tries" "$(lf tries "$LOG1")" 2
expect_eq "  the expired server is marked down" \
	"$(metric "hourglass_upstream_up{upstream=\"mix\",server=\"127.0.0.1:$EXP_PORT\"}")" 0
get "  the next POST" /mix/ 200 ok -d 'a body'
expect_eq "  goes to the healthy server at once" "$(lf tries "$LOG1")" 1
# TLS 1.3: the server refuses the missing certificate only after our side
# of the handshake ended and the request went out: a POST's body is gone
# and it is not retried; a GET is.  Round robin: the fresh group's first
# pick is the mTLS server, then the other, then the mTLS one again.
get "POST to [mTLS without a certificate, ok], retries = 1" /mixmt/ 502 error:tls -d 'a body'
expect_eq "  it took one try" "$(lf tries "$LOG1")" 1
get "  a GET" /mixmt/ 200 ok
expect_eq "  went to the other server" "$(lf tries "$LOG1")" 1
get "  the next GET" /mixmt/ 200 ok
expect_eq "  was refused by the mTLS server and retried" "$(lf tries "$LOG1")" 2

note "pooled upstream TLS connections"
sleep 0.5	# what the requests above pooled has idled out
hs0=$(oev OK '^handshake ')
closes=$(oev OK '^close$')
for i in 1 2 3 4 5; do
	hg_curl "$U/ok/?pool$i"
	[ "$CODE" = 200 ] || fail "pooled request $i: status $CODE"
done
log_take "5 sequential requests" 5
expect_eq "  5 requests reached the origin" "$(oev OK '^request /ok/\?pool')" 5
expect_eq "  over 1 new handshake" "$(oev OK '^handshake ')" $((hs0 + 1))
sleep 0.6	# keepalive_idle is 300ms
expect_eq "  the pooled connection was closed when it had idled 300 ms" \
	"$(oev OK '^close$')" $((closes + 1))
hg_curl "$U/ok/?resume"
expect_eq "a request after that: status" "$CODE" 200
log_take "  it" 1
expect_eq "  a new handshake" "$(oev OK '^handshake ')" $((hs0 + 2))
expect_eq "  which resumed the session" \
	"$(grep '^handshake ' "$T/OK.events" | tail -n 1 | cut -d' ' -f2)" session_reused=1

fd_settle "upstream TLS"
finish
