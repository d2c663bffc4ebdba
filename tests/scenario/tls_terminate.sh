#!/usr/bin/env bash
# TLS termination, as a client sees it (throwaway CA and certificates made
# here with the openssl command):
# - curl --cacert over TLS 1.3 and, with --tls-max 1.2, TLS 1.2: 200, the
#   access log says tls=TLSv1.3 / tls=TLSv1.2, the origin is told
#   X-Forwarded-Proto: https (and http on the plain listener beside it,
#   whatever the client claimed), the handshake metric counts each one;
# - ALPN: a client offering h2 and http/1.1 gets http/1.1; one offering
#   only h2 gets none, never h2, and still its handshake;
# - SNI between three certificates (localhost first, a.test, *.wild.test):
#   each name gets its own, case aside; the wildcard covers one label only;
#   no SNI and an unknown name get the first;
# - session resumption from openssl s_client -sess_in, with a TLS 1.3 PSK
#   ticket and a TLS 1.2 ticket: "Reused";
# - 4 MiB to a slow reader and 3 MB uploads (plain and chunked) arrive
#   whole;
# - no descriptor is left behind.
source "$(dirname "$0")/../tls_lib.sh"

tls_pki || finish
origin_up || finish
tls_up "$T/hg.ini" "localhost a wild" || finish

note "termination: curl --cacert, TLS 1.3"
hs0=$(tls_ok)
https_curl "/echo?t13"
expect_eq "GET /echo over TLS: status" "$CODE" 200
expect_eq "  curl exit" "$RC" 0
check "  the origin was told X-Forwarded-Proto: https" \
	grep -qx $'X-Forwarded-Proto: https\r' "$T/body"
expect_eq "  once" "$(grep -ci '^x-forwarded-proto:' "$T/body")" 1
log_expect "GET /echo over TLS" 200 ok
expect_eq "  logged tls" "$(lf tls "$LOG1")" TLSv1.3
expect_eq "  logged target" "$(lf target "$LOG1")" "/echo?t13"
expect_eq "hourglass_tls_handshakes_total counted it" "$(tls_ok)" $((hs0 + 1))

note "a client's own X-Forwarded-Proto is replaced"
https_curl "/echo?spoof13" -H 'X-Forwarded-Proto: http'
expect_eq "over TLS, claiming http: status" "$CODE" 200
expect_eq "  the origin sees only https" \
	"$(grep -i '^x-forwarded-proto:' "$T/body" | tr -d '\r')" "X-Forwarded-Proto: https"
log_take "over TLS, claiming http" 1
hg_curl -H 'X-Forwarded-Proto: https' "http://127.0.0.1:$PLAIN_PORT/echo?plain"
expect_eq "the plain listener beside it, claiming https: status" "$CODE" 200
expect_eq "  the origin sees only http" \
	"$(grep -i '^x-forwarded-proto:' "$T/body" | tr -d '\r')" "X-Forwarded-Proto: http"
log_expect "the plain listener" 200 ok
expect_eq "  logged tls=-" "$(lf tls "$LOG1")" "-"

note "TLS 1.2"
https_curl "/?t12" --tlsv1.2 --tls-max 1.2
expect_eq "curl --tlsv1.2 --tls-max 1.2: status" "$CODE" 200
log_expect "TLS 1.2" 200 ok
expect_eq "  logged tls" "$(lf tls "$LOG1")" TLSv1.2

note "ALPN"
timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername localhost \
    -CAfile "$CA" -verify_hostname localhost -alpn h2,http/1.1 < /dev/null > "$T/alpn.out" 2>&1
check "s_client -alpn h2,http/1.1: ALPN protocol http/1.1" grep -qx 'ALPN protocol: http/1.1' "$T/alpn.out"
check "  the certificate verified for localhost" grep -q 'Verify return code: 0 (ok)' "$T/alpn.out"
timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername localhost \
    -CAfile "$CA" -alpn h2 < /dev/null > "$T/alpn2.out" 2>&1
check "s_client -alpn h2: no ALPN negotiated" grep -qx 'No ALPN negotiated' "$T/alpn2.out"
check "  never h2" bash -c "! grep -q 'ALPN protocol: h2' '$T/alpn2.out'"
check "  and the handshake went through" grep -q '^New, TLSv1.3' "$T/alpn2.out"

note "SNI picks the certificate"
expect_eq "SNI a.test: the a.test certificate" "$(served -servername a.test)" "CN = a.test"
expect_eq "SNI A.Test: the same (names are case-blind)" "$(served -servername A.Test)" "CN = a.test"
expect_eq "SNI localhost: the first certificate" "$(served -servername localhost)" "CN = localhost"
expect_eq "SNI x.wild.test: the wildcard" "$(served -servername x.wild.test)" "CN = wild.test"
expect_eq "SNI y.x.wild.test: a wildcard is one label: the first" \
	"$(served -servername y.x.wild.test)" "CN = localhost"
expect_eq "SNI wild.test: not under the wildcard: the first" \
	"$(served -servername wild.test)" "CN = localhost"
expect_eq "SNI unknown.test: the first" "$(served -servername unknown.test)" "CN = localhost"
expect_eq "no SNI (-noservername): the first" "$(served -noservername)" "CN = localhost"
hg_curl --cacert "$CA" --resolve "a.test:$TLS_PORT:127.0.0.1" "https://a.test:$TLS_PORT/?a"
expect_eq "curl https://a.test verifies its certificate: status" "$CODE $RC" "200 0"
hg_curl --cacert "$CA" --resolve "x.wild.test:$TLS_PORT:127.0.0.1" "https://x.wild.test:$TLS_PORT/?w"
expect_eq "curl https://x.wild.test verifies the wildcard: status" "$CODE $RC" "200 0"
hg_curl --cacert "$CA" --resolve "unknown.test:$TLS_PORT:127.0.0.1" "https://unknown.test:$TLS_PORT/?u"
expect_eq "curl https://unknown.test gets the first certificate and refuses it (exit 60)" "$RC" 60
log_take "the SNI requests (2 whole)" 2
expect_eq "no handshake failed so far" \
	"$(tls_fails protocol) $(tls_fails certificate) $(tls_fails timeout)" "0 0 0"

note "session resumption (openssl s_client -sess_out, then -sess_in)"
# sclient_get NAME ARGS...: GET /?NAME with Connection: close through
# s_client (it reads until hourglass closes, the tickets included).
sclient_get() {
	local n=$1; shift
	printf 'GET /?%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$n" |
	    timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername localhost \
	    -CAfile "$CA" -ign_eof "$@" > "$T/$n.out" 2>&1
}
for v in 1.3 1.2; do
	opt=; [ $v = 1.2 ] && opt=-tls1_2
	sclient_get "full$v" $opt -sess_out "$T/sess$v"
	check "TLS $v: a full handshake first" grep -q "^New, TLSv$v" "$T/full$v.out"
	check "  and its response" grep -q '^HTTP/1.1 200 OK' "$T/full$v.out"
	hs0=$(tls_ok)
	sclient_get "again$v" $opt -sess_in "$T/sess$v"
	check "TLS $v: -sess_in: the session is reused" grep -q "^Reused, TLSv$v" "$T/again$v.out"
	check "  and its response" grep -q '^HTTP/1.1 200 OK' "$T/again$v.out"
	expect_eq "  a resumed handshake counts as a handshake" "$(tls_ok)" $((hs0 + 1))
	log_take "TLS $v resumption" 2
	expect_eq "  logged tls" "$(lf tls "$(printf '%s\n' "$LOG_NEW" | tail -n 1)")" "TLSv$v"
done

note "large bodies both ways (the TLS carrier's partial writes and queue)"
pattern 4194304 > "$T/want"
https_curl /bytes/4194304 --limit-rate 8M
expect_eq "4 MiB to a client reading at 8 MB/s: status, exit" "$CODE $RC" "200 0"
check "  every byte, in order" cmp -s "$T/body" "$T/want"
head -c 3000000 /dev/urandom > "$T/up"
https_curl /echo --data-binary @"$T/up" -H 'Content-Type: application/octet-stream'
expect_eq "3 MB uploaded to /echo: status, exit" "$CODE $RC" "200 0"
check "  echoed whole" cmp -s <(tail -c 3000000 "$T/body") "$T/up"
https_curl /echo -T "$T/up" -H 'Transfer-Encoding: chunked'
expect_eq "  the same, chunked: status, exit" "$CODE $RC" "200 0"
check "  echoed whole" cmp -s <(tail -c 3000000 "$T/body") "$T/up"
log_take "the large bodies" 3

fd_settle "termination"
hg_alive "the end" && ok "the daemon is still running"
finish
