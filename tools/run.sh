#!/usr/bin/env bash
# make run: the test origin on 127.0.0.1:9000 and, in front of it, hourglass
# with conf/hourglass.ini on :8080, in the foreground.  Ctrl-C stops both.
set -u
cd "$(dirname "$0")/.."
config=${HOURGLASS_CONFIG:-conf/hourglass.ini}

tests/origin/hourglass-origin --listen 127.0.0.1:9000 &
origin=$!
stop_origin() { kill -TERM "$origin" 2>/dev/null; wait "$origin" 2>/dev/null; }
trap stop_origin EXIT
trap 'exit 130' INT TERM

cat <<EOT
hourglass: test origin on 127.0.0.1:9000 (pid $origin); hourglass on :8080 with $config.
Try, from another terminal:
  curl -i localhost:8080/              # 200 from the origin
  curl -i localhost:8080/delay/5000    # 504 at upstream_header (3s in the shipped config)
Ctrl-C stops both.
EOT
./hourglass -c "$config"
