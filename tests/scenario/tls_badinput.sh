#!/usr/bin/env bash
# Bad input on a TLS listener (issue 21, "Bad input"), client_header 1500ms.
# Each case closes that connection alone, with no response bytes (a TLS
# alert at most), no access-log line, and one more
# hourglass_tls_handshake_failures_total of its reason; the daemon stays up
# and the next request over TLS gets its 200; no descriptor is left:
# - plain HTTP on the TLS port: closed at once, no byte, reason protocol;
# - a client that connects and sends nothing, or a partial ClientHello, or
#   its ClientHello one byte a second: closed when client_header fires
#   (1500 ms from the connect, never early, at most 120 ms late), reason
#   timeout;
# - a truncated ClientHello followed by a FIN: closed at once, reason
#   closed;
# - garbage records (a handshake record that is no ClientHello, application
#   data before any handshake, bytes that are no record at all), and a
#   ClientHello whose SNI is 300 bytes long: closed at once, reason protocol;
# - a renegotiation over TLS 1.2 (openssl s_client, "R"): refused, that
#   connection is closed, and a keep-alive connection open across it goes
#   on serving;
# - a client that refuses the certificate: reason certificate;
# - on a listener with tls_protocols = TLSv1.2 and one cipher: a TLS 1.3
#   client fails with reason protocol, a client without that cipher with
#   no_shared_cipher.
# The ClientHellos are OpenSSL's own, made and cut by tests/tools/tls_client.py.
source "$(dirname "$0")/../tls_lib.sh"

tls_pki || finish
origin_up || finish
tls_up "$T/hg.ini" localhost 'client_header = 1500ms' || finish

# after_ok DESC: a request over TLS right after works, and is the only new
# access-log line.
after_ok() {
	https_curl "/?after"
	expect_eq "$1: then a request over TLS: status" "$CODE" 200
	log_take "$1: only that request is logged" 1
	hg_alive "$1" || finish
	fd_settle "$1"
}

# no_response DESC BYTES FIRST: nothing came back but, at most, one TLS
# alert record (7 bytes, 15 03 0x 00 02 ...).
no_response() {
	if [ "$2" -eq 0 ]; then ok "$1: no response byte"
	elif [ "$2" -eq 7 ] && [[ $3 == 150303* || $3 == 150301* ]]; then
		ok "$1: no response, only a TLS alert ($3)"
	else fail "$1: $2 byte(s) came back: $3..."; fi
}

# bad_case DESC REASON WHEN STEP...: run tls_client --raw with the STEPs
# (which end in eof), and check that the connection was closed with no
# response: WHEN is "now" (within 500 ms of the last send) or the
# milliseconds from the connect at which client_header must fire; one
# more failure of REASON.
bad_case() {
	local d=$1 reason=$2 when=$3 before e kind at
	shift 3
	note "$d"
	before=$(tls_fails "$reason")
	tls_client "$T/bad.ev" --raw "$@"
	e=$(ev "$T/bad.ev" eof)
	kind=$(awk '{ print $3 }' <<< "$e")
	at=$(awk '{ print $2 }' <<< "$e")
	if [ "$kind" = fin ] || [ "$kind" = reset ]; then
		ok "$d: the daemon closed the connection ($kind)"
	else
		fail "$d: the connection was not closed: '$e'"; cat "$T/bad.ev"
	fi
	if [ "$when" = now ]; then
		expect_range "$d: closed at once (ms after the last send)" \
			$(( ${at:-99999} - $(awk '$1 == "sent" || $1 == "shut" { t = $2 } END { print t + 0 }' "$T/bad.ev") )) 0 500
	else
		expect_near "$d: closed at client_header (ms from connect)" "${at:-0}" "$when"
	fi
	no_response "$d" "$(ev_field "$e" bytes)" "$(ev_field "$e" first)"
	expect_eq "$d: handshake failures, reason $reason" "$(tls_fails "$reason")" $((before + 1))
	after_ok "$d"
}

note "plain HTTP on the TLS port"
before=$(tls_fails protocol)
raw_open
t0=$(now_ms)
raw_send 'GET /?plain HTTP/1.1\r\nHost: localhost\r\n\r\n'
raw_wait_eof "$T/plain.out" 3 2> /dev/null
raw_close
expect_eq "plain HTTP: the connection is closed" "$EOF_RC" 0
expect_range "  at once (ms)" $((EOF_AT - t0)) 0 500
expect_eq "  without a response byte" "$(wc -c < "$T/plain.out")" 0
expect_eq "  handshake failures, reason protocol" "$(tls_fails protocol)" $((before + 1))
origin_before=$(grep -c '^request ' "$OEVENTS")
after_ok "plain HTTP"
expect_eq "  only the request after it reached the origin" \
	"$(grep -c '^request ' "$OEVENTS")" $((origin_before + 1))

bad_case "connect and send nothing" timeout 1500 eof:4
bad_case "a partial ClientHello (40 bytes), then nothing" timeout 1500 \
	--sni localhost hello:40 eof:4
bad_case "a ClientHello one byte a second" timeout 1500 \
	--sni localhost drip:1000 eof:2
check "  it had sent 2 bytes when closed" grep -q '^closed .* after=2$' "$T/bad.ev"
bad_case "a truncated ClientHello (40 bytes), then a FIN" closed now \
	--sni localhost hello:40 shut eof:3
bad_case "a handshake record that is no ClientHello" protocol now \
	hex:16030100080100000400000000 eof:3
bad_case "application data before any handshake" protocol now \
	hex:170303000a00112233445566778899 eof:3
bad_case "bytes that are no TLS record" protocol now \
	hex:000102030405060708090a0b0c0d0e0f eof:3
bad_case "a ClientHello with an SNI of 300 bytes" protocol now \
	--sni-len 300 hello eof:3
check "  the error log says why" grep -q 'TLS handshake failed (protocol): bad extension' "$HG_ERR"

note "a renegotiation over TLS 1.2"
# A keep-alive connection over TLS 1.2, open across the renegotiation.
(
	timeout 30 python3 "$TLS_CLIENT" --port "$TLS_PORT" --ca "$CA" --tls12 \
	    'send:GET /?ka1 HTTP/1.1\r\nHost: localhost\r\n\r\n' response sleep:2500 \
	    'send:GET /?ka2 HTTP/1.1\r\nHost: localhost\r\n\r\n' response > "$T/ka.ev" 2>&1
) &
ka=$!; _pids+=("$ka")
wait_grep "$T/ka.ev" '^response' || fail "the keep-alive connection got no first response"
( printf 'R\n'; sleep 1; printf 'GET /?reneg HTTP/1.1\nHost: localhost\n\n'; sleep 1 ) |
    timeout 10 openssl s_client -tls1_2 -crlf -connect "127.0.0.1:$TLS_PORT" \
    -servername localhost -CAfile "$CA" > "$T/reneg.out" 2>&1
check "s_client asked to renegotiate" grep -q '^RENEGOTIATING' "$T/reneg.out"
check "  hourglass refused: no renegotiation" grep -q 'no renegotiation' "$T/reneg.out"
check "  and nothing was answered on that connection" bash -c "! grep -q '^HTTP/' '$T/reneg.out'"
wait "$ka"
expect_eq "the keep-alive connection across it: two responses" \
	"$(awk '$1 == "response" { printf "%s ", $3 }' "$T/ka.ev")" "200 200 "
log_take "the keep-alive connection's requests, and nothing of the refused one" 2
expect_eq "  their targets and outcomes" "$(tail -n 2 "$ACCESS" |
	sed -n 's/.* target=\([^ ]*\) .* outcome=\([^ ]*\) .*/\1 \2/p' | tr '\n' ' ')" "/?ka1 ok /?ka2 ok "
check "  /?reneg never reached the origin" bash -c "! grep -q 'reneg' '$OEVENTS'"
after_ok "the renegotiation"

note "a client that refuses the certificate (curl without the CA)"
before=$(tls_fails certificate)
hg_curl --resolve "localhost:$TLS_PORT:127.0.0.1" "https://localhost:$TLS_PORT/?noca"
expect_eq "curl refuses it (exit 60)" "$RC" 60
expect_eq "  handshake failures, reason certificate" "$(tls_fails certificate)" $((before + 1))
after_ok "the refused certificate"
fd_settle "bad input"

note "a listener with tls_protocols = TLSv1.2 and one cipher"
stop_pid "$HG_PID"
tls_config "$T/narrow.ini" localhost
sed -i '/^metrics_listen/a tls_protocols = TLSv1.2\ntls_ciphers = ECDHE-ECDSA-AES128-GCM-SHA256' "$T/narrow.ini"
tls_start "$T/narrow.ini" || finish
https_curl "/?tls13" --tlsv1.3
expect_eq "a TLS 1.3 client: no handshake (curl exit 35)" "$CODE $RC" "000 35"
expect_eq "  handshake failures, reason protocol" "$(tls_fails protocol)" 1
https_curl "/?chacha" --tls-max 1.2 --ciphers ECDHE-ECDSA-CHACHA20-POLY1305
expect_eq "a TLS 1.2 client without that cipher: no handshake (curl exit 35)" "$CODE $RC" "000 35"
expect_eq "  handshake failures, reason no_shared_cipher" "$(tls_fails no_shared_cipher)" 1
https_curl "/?aes"
expect_eq "a client that has it: status" "$CODE $RC" "200 0"
log_take "  only it is logged" 1
expect_eq "  over TLS 1.2" "$(lf tls "$LOG1")" TLSv1.2
fd_settle "the narrow listener"
finish
