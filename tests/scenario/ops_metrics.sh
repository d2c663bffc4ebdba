#!/usr/bin/env bash
# /metrics: after a mix of requests on two workers, the counters per outcome
# equal the access log's counts, and the text is valid Prometheus exposition
# format (promtool, and a strict check of our own).
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

[route /dead]
upstream = dead
EOT
start_hourglass "$T/hg.ini" || finish
MPORT=$(sed -n 's/.*metrics on .*:\([0-9][0-9]*\)$/\1/p' "$HG_ERR" | head -n 1)
[ -n "$MPORT" ] || { fail "no 'metrics on' line"; finish; }

# The mix: ok, timeout:upstream_header, error:connect, reject:bad_request,
# error:upstream_reset, each on its own connection so both workers serve.
url=http://127.0.0.1:$HG_PORT
for i in $(seq 12); do curl -s -o /dev/null "$url/bytes/$i"; done
for i in 1 2 3; do curl -s -o /dev/null "$url/hang"; done
for i in 1 2 3 4; do curl -s -o /dev/null "$url/dead/x"; done
for i in 1 2; do curl -s -o /dev/null "$url/reset"; done
for i in 1 2 3 4 5; do
	printf 'GET / HTTP/1.1\r\n\r\n' | timeout 2 bash -c \
	    "exec 3<>/dev/tcp/127.0.0.1/$HG_PORT; cat >&3; timeout 1 cat <&3 >/dev/null"
done
wait_lines "$ACCESS" 26 || fail "access log has $(wc -l < "$ACCESS") lines, want 26"
sleep 0.2

curl -s -D "$T/m.head" -o "$T/metrics" "http://127.0.0.1:$MPORT/metrics"
expect_match "GET /metrics answers 200" "$(head -n 1 "$T/m.head" | tr -d '\r')" \
    '^HTTP/1\.1 200 '
check "the content type is the exposition format 0.0.4" \
    grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/m.head"

# Counters per outcome equal the access log's counts per outcome.
outcomes "$ACCESS" | sort | uniq -c | awk '{ print $2, $1 }' |
    sort > "$T/log.counts"
awk '/^hourglass_requests_total\{/ {
	match($0, /outcome="[^"]*"/); o = substr($0, RSTART + 9, RLENGTH - 10)
	sum[o] += $NF } END { for (o in sum) print o, sum[o] }' "$T/metrics" |
    sort > "$T/metric.counts"
check "requests_total per outcome equals the access log" \
    cmp -s "$T/log.counts" "$T/metric.counts"
cmp -s "$T/log.counts" "$T/metric.counts" ||
    diff "$T/log.counts" "$T/metric.counts" | sed 's/^/  /'
for o in ok timeout:upstream_header error:connect reject:bad_request \
    error:upstream_reset; do
	check "the mix produced $o" grep -q "^$o " "$T/metric.counts"
done
n=$(awk '/^hourglass_request_duration_seconds_count/ { print $NF }' "$T/metrics")
expect_eq "the duration histogram counts every request" "$n" 26
expect_eq "workers gauge" \
    "$(awk '/^hourglass_workers / { print $NF }' "$T/metrics")" 2
check "the timer lateness histogram is exported" \
    grep -q '^hourglass_timer_lateness_seconds_bucket{le="+Inf"}' "$T/metrics"
check "the loop lag is exported" \
    grep -q '^hourglass_loop_lag_last_seconds ' "$T/metrics"
check "upstream health is exported" grep -q \
    "^hourglass_upstream_up{upstream=\"o\",server=\"127.0.0.1:$ORIGIN_PORT\"} 1" \
    "$T/metrics"

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
