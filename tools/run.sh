#!/usr/bin/env bash
# make run: the test origin on 127.0.0.1:9000 and, in front of it, hourglass
# with conf/demo.ini (127.0.0.1:8080 and [::1]:8080, and over TLS :8443), in
# the foreground.  Ctrl-C stops both.  HOURGLASS_CONFIG=FILE runs another
# file instead.  The self-signed certificate of the TLS listeners is made
# on first run into .run-tls/ (tools/run_tls.sh).
set -u
cd "$(dirname "$0")/.."
config=${HOURGLASS_CONFIG:-conf/demo.ini}
tools/run_tls.sh .run-tls || exit 1

# Where it listens and its upstream_header, as the daemon reads the file.
if ! dump=$(./hourglass -t -q -c "$config" > /dev/null &&
    ./hourglass -t -c "$config" 2> /dev/null); then
	exit 1
fi
listen=$(sed -n 's/^listen = //p' <<< "$dump" | sed ':a;N;$!ba;s/\n/ and /g')
uh=$(sed -n '/^\[timeouts\]/,/^\[/s/^upstream_header = //p' <<< "$dump")

tests/origin/hourglass-origin --listen 127.0.0.1:9000 &
origin=$!
stop_origin() { kill -TERM "$origin" 2>/dev/null; wait "$origin" 2>/dev/null; }
trap stop_origin EXIT
trap 'exit 130' INT TERM

cat <<EOT
hourglass: test origin on 127.0.0.1:9000 (pid $origin); hourglass on $listen with $config.
Try, from another terminal:
  curl -i localhost:8080/              # 200 from the origin
  curl -i localhost:8080/delay/5000    # 504 at upstream_header (upstream_header = $uh)
  curl --cacert .run-tls/cert.pem https://localhost:8443/   # the same over TLS
Ctrl-C stops both.
EOT
./hourglass -c "$config"
