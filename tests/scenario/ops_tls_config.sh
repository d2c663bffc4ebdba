#!/usr/bin/env bash
# The TLS keys as an operator checks and reloads them (what is seen before
# any handshake):
# - hourglass -t loads every certificate, key and CA; it names the file and
#   the line of one that is missing or does not match, and exits 1; the
#   daemon itself will not start on such a file;
# - relative paths are from the file's directory, whatever the working
#   directory; the dump writes them resolved and loads again;
# - a line of any length: a 1,000-byte tls_ciphers;
# - SIGHUP with a certificate gone bad (a key that does not match, a file
#   gone) is refused with that error, the old configuration keeps serving
#   and no descriptor is left behind; a good certificate is taken again.
# Throwaway certificates are made here with the openssl command.
source "$(dirname "$0")/../ops_lib.sh"

# mkcert NAME: a self-signed P-256 certificate for NAME.example, in
# $T/NAME.pem and $T/NAME.key.
mkcert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -out "$T/$1.pem" -days 2 -subj "/CN=$1.example" \
	    -addext "subjectAltName=DNS:$1.example" > "$T/openssl.log" 2>&1 ||
	    { fail "openssl req for $1"; cat "$T/openssl.log"; finish; }
}
mkcert a
mkcert b

# A cipher list of 1,000 bytes or more: valid names, repeated.
ciphers=ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256
while [ ${#ciphers} -lt 1000 ]; do
	ciphers=$ciphers:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256
done

note "-t on a good file, from another directory"
cat > "$T/tls.ini" <<EOF
[server]
listen = 127.0.0.1:0
listen = 127.0.0.1:0 tls
tls_certificate = a.pem a.key
tls_ciphers = $ciphers
[upstream o]
server = 127.0.0.1:9
tls = yes
tls_ca = ./b.pem
tls_sni = b.example
[route /]
upstream = o
EOF
(cd / && "$HOURGLASS" -t -c "$T/tls.ini" > "$T/dump.ini" 2> "$T/t.err")
expect_eq "-t exits 0" "$?" 0
expect_eq "  and says the file is valid, and nothing else" "$(cat "$T/t.err")" \
	"hourglass: $T/tls.ini: configuration is valid"
check "  the dump has the tls listener" grep -qx 'listen = 127.0.0.1:0 tls' "$T/dump.ini"
check "  the certificate, from the file's directory" \
	grep -qxF "tls_certificate = $T/a.pem $T/a.key" "$T/dump.ini"
check "  the CA too" grep -qxF "tls_ca = $T/b.pem" "$T/dump.ini"
check "  the whole 1,000-byte cipher list" grep -qxF "tls_ciphers = $ciphers" "$T/dump.ini"
"$HOURGLASS" -t -c "$T/dump.ini" > "$T/dump2.ini" 2> /dev/null
expect_eq "the dump loads again" "$?" 0
check "  to the same dump" cmp -s "$T/dump.ini" "$T/dump2.ini"

note "-t on bad certificates: file and line named, exit 1"
sed -i 's/^tls_certificate = .*/tls_certificate = a.pem b.key/' "$T/tls.ini"
"$HOURGLASS" -t -q -c "$T/tls.ini" > "$T/t.out" 2>&1
expect_eq "a key that does not match: -t -q exits 1" "$?" 1
check "  it names the file and line of the key" grep -qxF \
	"$T/tls.ini:4: [server] tls_certificate = \"a.pem b.key\": the private key $T/b.key does not match the certificate $T/a.pem" \
	"$T/t.out"
sed -i -e 's/^tls_certificate = .*/tls_certificate = a.pem a.key/' \
    -e 's/^tls_ca = .*/tls_ca = nothere.pem/' "$T/tls.ini"
"$HOURGLASS" -t -c "$T/tls.ini" > "$T/t.out" 2>&1
expect_eq "a CA file that is not there: -t exits 1" "$?" 1
check "  it names the file and line" grep -qxF \
	"$T/tls.ini:9: [upstream o] tls_ca = \"nothere.pem\": cannot load the CA $T/nothere.pem: No such file or directory" \
	"$T/t.out"
check "  and prints no configuration" bash -c "! grep -q '^\[server\]' '$T/t.out'"
"$HOURGLASS" -c "$T/tls.ini" > "$T/start.out" 2>&1 &
pid=$!; _pids+=("$pid")
n=100; while [ $n -gt 0 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; n=$((n - 1)); done
if kill -0 "$pid" 2>/dev/null; then
	fail "the daemon started on it"; stop_pid "$pid"
else
	wait "$pid"
	expect_eq "the daemon does not start on it (exit 1)" "$?" 1
fi
check "  and says why" grep -qF "tls_ca = \"nothere.pem\": cannot load the CA" "$T/start.out"
check "  without listening" bash -c "! grep -q 'listening on' '$T/start.out'"

note "reload with a certificate gone bad"
origin_up || finish
ops_config "$T/live.ini"
sed -i '/^listen = 127.0.0.1:0$/a listen = 127.0.0.1:0 tls\ntls_certificate = live.pem live.key' \
    "$T/live.ini"
l_cert=$(grep -n '^tls_certificate' "$T/live.ini" | cut -d: -f1)
cp "$T/a.pem" "$T/live.pem"
cp "$T/a.key" "$T/live.key"
start_hourglass "$T/live.ini" || { sed 's/^/  config: /' "$T/live.ini"; finish; }
hg_started || finish
sleep 0.2
FD0=$(fd_count "$HG_PID")
U=http://127.0.0.1:$HG_PORT
hg_curl "$U/?before"
expect_eq "before: GET / on the plain listener" "$CODE" 200

cp "$T/b.pem" "$T/live.pem"
hg_reload "a certificate that no longer matches its key" "reload refused"
check "  it names the file and line (line $l_cert)" grep -qF \
	"live.ini:$l_cert: [server] tls_certificate = \"live.pem live.key\": the private key $T/live.key does not match the certificate $T/live.pem" \
	"$HG_ERR"
check "  and keeps generation 0" \
	grep -q 'reload refused: .*live.ini is invalid, keeping configuration generation 0' "$HG_ERR"
hg_curl "$U/?mismatch"
expect_eq "  the old configuration keeps serving" "$CODE" 200

rm "$T/live.pem"
hg_reload "a certificate file gone" "reload refused"
check "  it names the file and line" grep -qF \
	"live.ini:$l_cert: [server] tls_certificate = \"live.pem live.key\": cannot load the certificate $T/live.pem: No such file or directory" \
	"$HG_ERR"
hg_curl "$U/?gone"
expect_eq "  the old configuration keeps serving" "$CODE" 200
fd_settle "the refused reloads"

cp "$T/b.pem" "$T/live.pem"
cp "$T/b.key" "$T/live.key"
hg_reload "a new certificate and its key" "reloaded"
check "  generation 1" grep -q 'configuration generation 1' "$HG_ERR"
hg_curl "$U/?after"
expect_eq "  the new configuration serves" "$CODE" 200
hg_alive "after the reloads" && ok "the daemon is still running"
stop_pid "$HG_PID"

finish
