#!/usr/bin/env bash
# Certificates and SIGHUP, at the handshake (tests/scenario/ops_tls_config.sh
# checks the configuration side):
# - the listener serves certificate A (CN=a.test) from live.pem; live.pem
#   and live.key are replaced by B (CN=b.test) and SIGHUP reloads: new
#   handshakes get B (subject and serial), while a keep-alive connection
#   opened under A goes on serving its requests;
# - live.pem is made garbage and SIGHUP is refused, the error log names the
#   file; new handshakes still get B, and verify;
# - no descriptor is left behind.
source "$(dirname "$0")/../tls_lib.sh"

tls_pki || finish
origin_up || finish
cp "$PKI/a.pem" "$PKI/live.pem"
cp "$PKI/a.key" "$PKI/live.key"
serial() { openssl x509 -in "$PKI/$1.pem" -noout -serial | sed 's/^serial=//'; }
SA=$(serial a)
SB=$(serial b)
tls_up "$T/hg.ini" live || finish

note "certificate A"
expect_eq "the listener serves A" "$(served -noservername)" "CN = a.test"
expect_eq "  its serial" "$(served_serial -noservername)" "$SA"
# A keep-alive connection under A, with a pause across the reload.
( timeout 20 python3 "$TLS_CLIENT" --port "$TLS_PORT" --ca "$CA" --sni a.test \
    'send:GET /?before1 HTTP/1.1\r\nHost: a.test\r\n\r\n' response sleep:2000 \
    'send:GET /?before2 HTTP/1.1\r\nHost: a.test\r\n\r\n' response > "$T/ka.ev" 2>&1 ) &
ka=$!; _pids+=("$ka")
wait_grep "$T/ka.ev" '^response' || fail "the keep-alive connection got no first response"

note "replace the files with B, SIGHUP"
cp "$PKI/b.pem" "$PKI/live.pem"
cp "$PKI/b.key" "$PKI/live.key"
hg_reload "certificate B" reloaded
expect_eq "new handshakes get B" "$(served -noservername)" "CN = b.test"
expect_eq "  its serial" "$(served_serial -noservername)" "$SB"
hg_curl --cacert "$CA" --resolve "b.test:$TLS_PORT:127.0.0.1" "https://b.test:$TLS_PORT/?b"
expect_eq "  curl https://b.test verifies it: status, exit" "$CODE $RC" "200 0"
wait "$ka"
expect_eq "the connection opened under A: both responses" \
	"$(awk '$1 == "response" { printf "%s ", $3 }' "$T/ka.ev")" "200 200 "
expect_eq "  it had A's certificate" "$(ev_field "$(ev "$T/ka.ev" handshake)" cn)" a.test
expect_eq "  serial" "$(ev_field "$(ev "$T/ka.ev" handshake)" serial)" "$SA"
log_take "the three requests" 3
expect_eq "  all over TLS 1.3" "$(sed -n 's/.* tls=\([^ ]*\).*/\1/p' "$ACCESS" | tail -n 3 | sort -u)" TLSv1.3

note "a bad certificate file, SIGHUP"
echo "not a certificate" > "$PKI/live.pem"
hg_reload "a garbage live.pem" "reload refused"
check "  the error log names the file" grep -qF "cannot load the certificate $PKI/live.pem" "$HG_ERR"
expect_eq "new handshakes still get B" "$(served -noservername)" "CN = b.test"
expect_eq "  its serial" "$(served_serial -noservername)" "$SB"
hg_curl --cacert "$CA" --resolve "b.test:$TLS_PORT:127.0.0.1" "https://b.test:$TLS_PORT/?after"
expect_eq "  curl https://b.test: status, exit" "$CODE $RC" "200 0"
log_take "  it" 1
expect_eq "the reload was counted, and the refusal" \
	"$(metric hourglass_reloads_total) $(metric hourglass_reload_failures_total)" "1 1"

fd_settle "the reloads"
finish
