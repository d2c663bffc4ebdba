#!/usr/bin/env bash
# Certificates and SIGHUP, at the handshake (tests/scenario/ops_tls_config.sh
# checks the configuration side):
# - the listener serves certificate A (CN=a.test) from live.pem; live.pem
#   and live.key are replaced by B (CN=b.test) and SIGHUP reloads: new
#   handshakes get B (subject and serial), while a keep-alive connection
#   opened under A goes on serving its requests, and a handshake begun
#   under A (half a ClientHello) ends under A;
# - live.pem is made garbage and SIGHUP is refused, the error log names the
#   file; new handshakes still get B, and verify;
# - a session ticket issued before a reload still resumes after it;
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

# A handshake under way across the reload: half a TLS 1.2 ClientHello
# before it, the rest after.
( timeout 20 python3 "$TLS_CLIENT" --port "$TLS_PORT" --raw --tls12 --sni a.test \
    --out "$T/mid.bytes" hello:40 sleep:1000 hello_rest eof:1 > "$T/mid.ev" 2>&1 ) &
mid=$!; _pids+=("$mid")
wait_grep "$T/mid.ev" '^sent' || fail "the half hello was not sent"

note "replace the files with B, SIGHUP"
cp "$PKI/b.pem" "$PKI/live.pem"
cp "$PKI/b.key" "$PKI/live.key"
hg_reload "certificate B" reloaded
wait "$mid"
check "the handshake begun before the reload goes on: a ServerHello came" \
	grep -q '^eof .* first=160303' "$T/mid.ev"
check "  with the certificate of before, A" grep -qa 'a\.test' "$T/mid.bytes"
hg_alive "the handshake across the reload" || finish
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

# A TLS 1.3 session under B, to resume after a later reload.
printf 'GET /?sess HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n' |
    timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername b.test \
    -CAfile "$CA" -ign_eof -sess_out "$T/sess" > "$T/sess1.out" 2>&1
check "a session under B (a full handshake)" grep -q '^New, TLSv1.3' "$T/sess1.out"
log_take "  its request" 1

note "a bad certificate file, SIGHUP"
echo "not a certificate" > "$PKI/live.pem"
hg_reload "a garbage live.pem" "reload refused"
check "  the error log names the file" grep -qF "cannot load the certificate $PKI/live.pem" "$HG_ERR"
expect_eq "new handshakes still get B" "$(served -noservername)" "CN = b.test"
expect_eq "  its serial" "$(served_serial -noservername)" "$SB"
hg_curl --cacert "$CA" --resolve "b.test:$TLS_PORT:127.0.0.1" "https://b.test:$TLS_PORT/?after"
expect_eq "  curl https://b.test: status, exit" "$CODE $RC" "200 0"
log_take "  it" 1

note "B's files again, SIGHUP"
cp "$PKI/b.pem" "$PKI/live.pem"
hg_reload "certificate B again" reloaded
printf 'GET /?resumed HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n' |
    timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername b.test \
    -CAfile "$CA" -ign_eof -sess_in "$T/sess" > "$T/sess2.out" 2>&1
check "the session taken before the reload is resumed after it" grep -q '^Reused, TLSv1.3' "$T/sess2.out"
check "  and its request answered" grep -q '^HTTP/1.1 200 OK' "$T/sess2.out"
log_take "  it" 1
expect_eq "two reloads were counted, and the refusal" \
	"$(metric hourglass_reloads_total) $(metric hourglass_reload_failures_total)" "2 1"

fd_settle "the reloads"
finish
