#!/bin/sh
# tools/run_tls.sh DIR: the self-signed certificate of `make run`, made on
# first use with the openssl command and kept: DIR/cert.pem and DIR/key.pem
# (P-256), for CN=localhost with the names localhost, 127.0.0.1 and ::1,
# valid 10 years.  Silent when both files are there.
set -eu
dir=${1:?usage: tools/run_tls.sh DIR}
[ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ] && exit 0
command -v openssl > /dev/null 2>&1 || {
	echo "hourglass: the openssl command is missing (apt-get install openssl)" >&2
	exit 1
}
umask 077
mkdir -p "$dir"
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/key.pem.new" -out "$dir/cert.pem.new" -days 3650 \
    -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    > "$dir/openssl.log" 2>&1; then
	cat "$dir/openssl.log" >&2
	rm -f "$dir/key.pem.new" "$dir/cert.pem.new"
	exit 1
fi
rm -f "$dir/openssl.log"
chmod 644 "$dir/cert.pem.new"
mv "$dir/key.pem.new" "$dir/key.pem"
mv "$dir/cert.pem.new" "$dir/cert.pem"
echo "hourglass: made a self-signed certificate for localhost: $dir/cert.pem"
