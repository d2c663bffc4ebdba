#!/usr/bin/env bash
# /metrics: after a mix of requests on two workers, the counters per
# outcome and status class, the durations, the bytes and the upstream times
# agree with the access log; every route has its zero series; build_info
# and the process_* metrics describe the daemon; and the text is valid
# Prometheus exposition format (promtool, and a strict check of our own).
source "$(dirname "$0")/../proxy_lib.sh"

origin_up || finish
dead_port_up || finish
cat > "$T/hg.ini" <<EOT
[server]
listen = 127.0.0.1:0
workers = 2
access_log = $ACCESS
metrics_listen = 127.0.0.1:0

[upstream o]
server = 127.0.0.1:$ORIGIN_PORT
max_fails = 0

[upstream dead]
server = 127.0.0.1:$DEAD_PORT
max_fails = 0

[timeouts]
retries = 0

[route /]
upstream = o

[route /hang]
upstream = o
upstream_header = 200ms

[route /delay]
upstream = o

[route /dead]
upstream = dead

[route /quiet]
upstream = o
EOT
t_start=$(date +%s)
start_hourglass "$T/hg.ini" || finish
MPORT=$(sed -n 's/.*metrics on .*:\([0-9][0-9]*\)$/\1/p' "$HG_ERR" | head -n 1)
[ -n "$MPORT" ] || { fail "no 'metrics on' line"; finish; }

# Before any request, every configured route and "-" has its zero series.
curl -s -o "$T/metrics0" "http://127.0.0.1:$MPORT/metrics"
for r in - / /hang /delay /dead /quiet; do
	n=$(grep -c "^hourglass_requests_total{route=\"$r\",.*} 0\$" "$T/metrics0")
	expect_eq "route $r starts with 24 zero series" "$n" 24
done
check "timeout:tunnel_idle starts at 0 under 1xx" grep -qx \
    'hourglass_requests_total{route="/",outcome="timeout:tunnel_idle",code="1xx"} 0' \
    "$T/metrics0"
check "timeout:connect starts at 0 under its code" grep -qx \
    'hourglass_requests_total{route="/dead",outcome="timeout:connect",code="5xx"} 0' \
    "$T/metrics0"
check "ok starts at 0 under 2xx" grep -qx \
    'hourglass_requests_total{route="/",outcome="ok",code="2xx"} 0' "$T/metrics0"
check "no zero series for timeout:keepalive, which ends no request" \
    test "$(grep -c 'outcome="timeout:keepalive"' "$T/metrics0")" = 0

# The mix: ok (200, 404, 503), timeout:upstream_header, error:connect,
# reject:bad_request, error:upstream_reset, abort:client, each on its own
# connection so both workers serve.
url=http://127.0.0.1:$HG_PORT
for i in $(seq 12); do curl -s -o /dev/null "$url/bytes/$i"; done
for i in 1 2; do curl -s -o /dev/null "$url/status/404"; done
curl -s -o /dev/null "$url/status/503"
for i in 1 2 3; do curl -s -o /dev/null "$url/hang"; done
for i in 1 2 3 4; do curl -s -o /dev/null "$url/dead/x"; done
for i in 1 2; do curl -s -o /dev/null "$url/reset"; done
for i in 1 2; do curl -s -o /dev/null -m 0.5 "$url/delay/3000"; done
for i in 1 2 3 4 5; do
	printf 'GET / HTTP/1.1\r\n\r\n' | timeout 2 bash -c \
	    "exec 3<>/dev/tcp/127.0.0.1/$HG_PORT; cat >&3; timeout 1 cat <&3 >/dev/null"
done
N=31
wait_lines "$ACCESS" $N || fail "access log has $(wc -l < "$ACCESS") lines, want $N"
sleep 0.2

curl -s -D "$T/m.head" -o "$T/metrics" "http://127.0.0.1:$MPORT/metrics"
t_end=$(date +%s)
expect_match "GET /metrics answers 200" "$(head -n 1 "$T/m.head" | tr -d '\r')" \
    '^HTTP/1\.1 200 '
check "the content type is the exposition format 0.0.4" \
    grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/m.head"

# Counters per outcome and code equal the access log's counts (the code is
# the class of the status logged: abort:client is logged 499).
sed -n 's/.* status=\([^ ]*\) outcome=\([^ ]*\).*/\2 \1/p' "$ACCESS" |
    awk '{ c = $2 ~ /^[1-5][0-9][0-9]$/ ? substr($2, 1, 1) "xx" : "other"
	n[$1 " " c]++ } END { for (k in n) print k, n[k] }' | sort > "$T/log.counts"
awk '/^hourglass_requests_total\{/ && $NF > 0 {
	match($0, /outcome="[^"]*"/); o = substr($0, RSTART + 9, RLENGTH - 10)
	match($0, /code="[^"]*"/); c = substr($0, RSTART + 6, RLENGTH - 7)
	sum[o " " c] += $NF } END { for (k in sum) print k, sum[k] }' "$T/metrics" |
    sort > "$T/metric.counts"
check "requests_total per outcome and code equals the access log" \
    cmp -s "$T/log.counts" "$T/metric.counts"
cmp -s "$T/log.counts" "$T/metric.counts" ||
    diff "$T/log.counts" "$T/metric.counts" | sed 's/^/  /'
for oc in "ok 2xx 12" "ok 4xx 2" "ok 5xx 1" "timeout:upstream_header 5xx 3" \
    "error:connect 5xx 4" "reject:bad_request 4xx 5" \
    "error:upstream_reset 5xx 2" "abort:client 4xx 2"; do
	check "the mix produced $oc" grep -qx "$oc" "$T/metric.counts"
done

# Durations by route and outcome kind: every request counted once; the
# 200 ms upstream_header timeouts all past 100 ms; a loopback ok request
# in a low bucket (25 ms, generous for a loaded machine).
n=$(awk '/^hourglass_request_duration_seconds_count/ { s += $NF } END { print s }' \
    "$T/metrics")
expect_eq "the duration histograms count every request" "$n" $N
hd() { awk -v k="$1" '$1 == k { print $2 }' "$T/metrics"; }
expect_eq "the /hang timeouts are counted under kind timeout" \
    "$(hd 'hourglass_request_duration_seconds_count{route="/hang",kind="timeout"}')" 3
expect_eq "none of them under 100 ms" \
    "$(hd 'hourglass_request_duration_seconds_bucket{route="/hang",kind="timeout",le="0.1"}')" 0
expect_eq "the aborts are counted under kind abort" \
    "$(hd 'hourglass_request_duration_seconds_count{route="/delay",kind="abort"}')" 2
low=$(hd 'hourglass_request_duration_seconds_bucket{route="/",kind="ok",le="0.025"}')
check "loopback ok requests land in low buckets ($low of 15 within 25 ms)" \
    test "${low:-0}" -ge 1
check "the first bucket is 100 us" grep -q \
    '^hourglass_request_duration_seconds_bucket{route="/",kind="ok",le="0.0001"} ' \
    "$T/metrics"

# Bytes by route equal the access log's sums.
for dir in in:request out:response; do
	f=${dir%%:*} fam=hourglass_${dir##*:}_bytes_total
	sed -n "s/.* route=\([^ ]*\) .* bytes_$f=\([0-9]*\) .*/\1 \2/p" "$ACCESS" |
	    awk '{ s[$1] += $2 } END { for (r in s) if (s[r] > 0) print r, s[r] }' |
	    sort > "$T/log.bytes"
	awk -v fam="$fam" 'index($0, fam "{route=\"") == 1 && $NF > 0 {
		r = $1; sub(/^[^"]*"/, "", r); sub(/".*/, "", r); print r, $NF }' \
	    "$T/metrics" | sort > "$T/metric.bytes"
	check "$fam by route equals the access log's bytes_$f" \
	    cmp -s "$T/log.bytes" "$T/metric.bytes"
	cmp -s "$T/log.bytes" "$T/metric.bytes" ||
	    diff "$T/log.bytes" "$T/metric.bytes" | sed 's/^/  /'
done

# Upstream connect and header times by group: as many as the access log
# has connect_ms and upstream_header_ms values on the routes of group o;
# the dead group never connected, so it has none.
routes_o='^(/|/hang|/delay)$'
lc=$(awk -v re="$routes_o" '{ r = ""; c = ""
	for (i = 1; i <= NF; i++) { if ($i ~ /^route=/) r = substr($i, 7)
		if ($i ~ /^connect_ms=/) c = substr($i, 12) }
	if (r ~ re && c != "-") n++ } END { print n + 0 }' "$ACCESS")
lh=$(awk -v re="$routes_o" '{ r = ""; h = ""
	for (i = 1; i <= NF; i++) { if ($i ~ /^route=/) r = substr($i, 7)
		if ($i ~ /^upstream_header_ms=/) h = substr($i, 20) }
	if (r ~ re && h != "-") n++ } END { print n + 0 }' "$ACCESS")
check "some requests of group o connected ($lc)" test "$lc" -ge 1
expect_eq "connect times of o equal the access log's" \
    "$(hd 'hourglass_upstream_connect_duration_seconds_count{upstream="o"}')" "$lc"
expect_eq "header times of o equal the access log's (ok requests: 15)" \
    "$(hd 'hourglass_upstream_header_duration_seconds_count{upstream="o"}')" "$lh"
expect_eq "15 heads came from o" "$lh" 15
check "the dead group has no connect times" \
    test -z "$(hd 'hourglass_upstream_connect_duration_seconds_count{upstream="dead"}')"

# The build and the process.
version=$("$HOURGLASS" -V | awk '{ print $2 }')
expect_eq "build_info carries the version" \
    "$(hd "hourglass_build_info{version=\"$version\"}")" 1
# The scrape's own connection was open then; give or take a few.
fds=$(hd process_open_fds) now=$(fd_count "$HG_PID")
check "process_open_fds ($fds) is /proc's count ($now)" \
    test "$fds" -ge $((now - 3)) -a "$fds" -le $((now + 3))
check "process_max_fds is above it" test "$(hd process_max_fds)" -gt "$fds"
check "process_resident_memory_bytes is a few MB" \
    test "$(hd process_resident_memory_bytes)" -gt 1000000
check "process_virtual_memory_bytes is above it" \
    test "$(hd process_virtual_memory_bytes)" -gt "$(hd process_resident_memory_bytes)"
start=$(hd process_start_time_seconds); start=${start%.*}
check "process_start_time_seconds is when the daemon started" \
    test "$start" -ge $((t_start - 2)) -a "$start" -le "$t_end"
check "process_cpu_seconds_total has counted" awk -v v="$(hd process_cpu_seconds_total)" \
    'BEGIN { exit !(v > 0) }'

expect_eq "workers gauge" \
    "$(awk '/^hourglass_workers / { print $NF }' "$T/metrics")" 2
check "the timer lateness histogram is exported" \
    grep -q '^hourglass_timer_lateness_seconds_bucket{le="+Inf"}' "$T/metrics"
check "the loop lag is exported" \
    grep -q '^hourglass_loop_lag_last_seconds ' "$T/metrics"
check "upstream health is exported" grep -q \
    "^hourglass_upstream_up{upstream=\"o\",server=\"127.0.0.1:$ORIGIN_PORT\"} 1" \
    "$T/metrics"
check "every family has HELP text" \
    test "$(grep -c '^# HELP [^ ]* [^ ]' "$T/metrics")" = "$(grep -c '^# TYPE ' "$T/metrics")"

# Our own strict check of the format: every line a HELP, a TYPE or a sample
# of the family declared last; counters end in _total; no duplicate series;
# histogram buckets never decrease and the +Inf bucket equals _count.
cat > "$T/strict.awk" <<'AWK'
function bad(msg) { print NR ": " msg ": " $0; failed = 1; exit }
/^# HELP / {
	if ($3 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/) bad("bad HELP name")
	if ($3 in help) bad("second HELP")
	help[$3] = 1; next
}
/^# TYPE / {
	if (!($3 in help)) bad("TYPE before HELP")
	if ($4 !~ /^(counter|gauge|histogram|summary|untyped)$/) bad("bad type")
	if ($3 in type) bad("second TYPE")
	type[$3] = $4; cur = $3; next
}
/^#/ { bad("stray comment") }
/^$/ { bad("empty line") }
{
	if ($0 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? [-+]?([0-9.eE+-]+|Inf|NaN)$/)
		bad("bad sample")
	name = $0; sub(/[{ ].*/, "", name)
	fam = name
	if (type[cur] == "histogram") sub(/_(bucket|sum|count)$/, "", fam)
	if (fam != cur) bad("sample outside its family " cur)
	if (type[cur] == "counter" && name !~ /_total$/) bad("counter without _total")
	series = $0; sub(/ [^ ]*$/, "", series)
	if (series in seen) bad("duplicate series")
	seen[series] = 1
	if (type[cur] != "histogram") next
	labels = series; sub(/^[^{]*/, "", labels)
	sub(/,?le="[^"]*"/, "", labels); sub(/^\{,/, "{", labels)
	if (labels == "{}") labels = ""
	key = fam "|" labels
	if (name ~ /_bucket$/) {
		if ((key in last) && $NF + 0 < last[key]) bad("bucket decreases")
		last[key] = $NF + 0
		if ($0 ~ /le="\+Inf"/) inf[key] = $NF + 0
	} else if (name ~ /_count$/)
		cnt[key] = $NF + 0
}
END {
	if (failed) exit 1
	for (k in cnt) {
		if (!(k in inf)) { print "histogram " k " has no +Inf bucket"; exit 1 }
		if (inf[k] != cnt[k]) { print "histogram " k ": +Inf != _count"; exit 1 }
	}
	for (k in inf)
		if (!(k in cnt)) { print "histogram " k " has no _count"; exit 1 }
}
AWK
strict=$(awk -f "$T/strict.awk" "$T/metrics")
expect_eq "the exposition text passes the strict check" "$strict" ""
# The check itself must catch a broken text.
printf '# HELP x_total a\n# TYPE x_total counter\nx_total 1\nx_total 2\n' > "$T/dup"
check "the strict check refuses a duplicate series" \
    test -n "$(awk -f "$T/strict.awk" "$T/dup")"
if command -v promtool > /dev/null 2>&1; then
	out=$(promtool check metrics < "$T/metrics" 2>&1)
	expect_eq "promtool check metrics passes" "$?" 0
	[ -z "$out" ] || echo "$out" | sed 's/^/  promtool: /'
else
	fail "promtool is not installed (make check installs it, Debian's prometheus)"
fi

code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/other")
expect_eq "another path is 404" "$code" 404
hg_alive "after the scrapes"
finish
