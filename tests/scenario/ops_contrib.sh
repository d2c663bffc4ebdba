#!/usr/bin/env bash
# contrib/: the Prometheus alerting rules pass `promtool check rules` and
# their unit tests (`promtool test rules`, each alert made to fire and not
# to fire); every query of the rules and of the Grafana dashboard parses
# as PromQL; and every metric name those queries use is exported by a live
# hourglass (a TLS listener, an upstream, requests through both), so
# neither can name a metric the daemon does not have.
source "$(dirname "$0")/../ops_lib.sh"

RULES=$TOP/contrib/prometheus/hourglass-alerts.yml
RTEST=$TOP/contrib/prometheus/hourglass-alerts.test.yml
DASH=$TOP/contrib/grafana/hourglass-dashboard.json
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || { fail "no python3"; finish; }
command -v promtool > /dev/null 2>&1 ||
    { fail "promtool is not installed (make check installs prometheus)"; finish; }
for f in "$RULES" "$RTEST" "$DASH"; do
	[ -f "$f" ] || { fail "no $f"; finish; }
done
# names|rules|selftest FILE...: tests/promql_names.py, from the top (the
# places it prints start with contrib/).
pq() { (cd "$TOP" && "$PY" tests/promql_names.py "$@"); }

# The extraction itself, on queries whose names are known.
pq selftest > "$T/selftest" 2>&1
expect_eq "promql_names.py selftest: exit" "$?" 0
grep '^FAIL' "$T/selftest" | sed 's/^/  /'

# The rules.
promtool check rules "$RULES" > "$T/check" 2>&1
expect_eq "promtool check rules hourglass-alerts.yml: exit" "$?" 0
n_rules=$(sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p' "$T/check")
check "  it found rules (${n_rules:-none})" test "${n_rules:-0}" -ge 5
[ "${n_rules:-0}" -ge 5 ] || sed 's/^/  promtool: /' "$T/check"
(cd "$(dirname "$RTEST")" && promtool test rules "$(basename "$RTEST")") > "$T/rtest" 2>&1
rc=$?
expect_eq "promtool test rules hourglass-alerts.test.yml: exit" "$rc" 0
[ $rc -eq 0 ] || sed 's/^/  promtool: /' "$T/rtest" | head -n 40
# The alerts the issue asks for, by what they watch.
for want in 'hourglass_upstream_up' 'code="5xx"' 'hourglass_timer_lateness_seconds_bucket' \
    'hourglass_loop_lag_seconds_bucket' 'hourglass_retries_skipped_total{reason="budget"}'; do
	check "an alert watches $want" grep -qF -- "$want" "$RULES"
done

# The dashboard: JSON, and each query PromQL (Grafana's variables
# replaced) by promtool's parser, as recording rules.
check "the dashboard is JSON" "$PY" -c 'import json, sys; json.load(open(sys.argv[1]))' "$DASH"
pq rules contrib/grafana/hourglass-dashboard.json > "$T/dash-rules.yml" 2> "$T/dash-rules.err" ||
    { fail "promql_names.py rules on the dashboard"; cat "$T/dash-rules.err"; }
promtool check rules "$T/dash-rules.yml" > "$T/dcheck" 2>&1
expect_eq "promtool: every dashboard query parses" "$?" 0
n_q=$(sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p' "$T/dcheck")
check "  the dashboard has queries (${n_q:-none})" test "${n_q:-0}" -ge 20
[ "${n_q:-0}" -ge 20 ] || sed 's/^/  promtool: /' "$T/dcheck"

# The names every query uses.
pq names contrib/prometheus/hourglass-alerts.yml contrib/grafana/hourglass-dashboard.json > "$T/used" 2> "$T/used.err" ||
    { fail "promql_names.py names"; cat "$T/used.err"; }
n_used=$(awk -F'\t' '{ print $2 }' "$T/used" | sort -u | grep -c .)
check "the queries name metrics ($n_used distinct)" test "$n_used" -ge 20
none=$(awk -F'\t' '$2 == "-" { print $1 }' "$T/used")
expect_eq "queries that name no metric" "$none" ""
# The dashboard covers what the issue lists.
for want in hourglass_requests_total hourglass_request_duration_seconds_bucket \
    hourglass_connections hourglass_tunnels_total hourglass_upstream_up \
    hourglass_timer_lateness_seconds_bucket hourglass_loop_lag_seconds_bucket \
    hourglass_tls_handshakes_total hourglass_tls_handshake_failures_total; do
	check "a dashboard query uses $want" \
		awk -F'\t' -v w="$want" '$1 ~ /dashboard/ && $2 == w { f = 1 } END { exit !f }' "$T/used"
done

# A live hourglass with a TLS listener and an upstream, every family there.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/a.key" -out "$T/a.pem" -days 2 -subj "/CN=a.example" \
    -addext "subjectAltName=DNS:a.example" > "$T/openssl.log" 2>&1 ||
    { fail "openssl req"; cat "$T/openssl.log"; finish; }
origin_up || finish
PP=$(free_port); TP=$(free_port); MP=$(free_port)
cat > "$T/hg.ini" <<EOT
[server]
listen = 127.0.0.1:$PP
listen = 127.0.0.1:$TP tls
tls_certificate = $T/a.pem $T/a.key
access_log = off
metrics_listen = 127.0.0.1:$MP

[upstream o]
server = 127.0.0.1:$ORIGIN_PORT

[route /]
upstream = o
EOT
start_hourglass "$T/hg.ini" || finish
hg_curl "http://127.0.0.1:$PP/"
expect_eq "a request through the plain listener" "$CODE" 200
CODE=$(curl -s -m 5 -o /dev/null -w '%{http_code}' --cacert "$T/a.pem" \
    --resolve "a.example:$TP:127.0.0.1" "https://a.example:$TP/")
expect_eq "a request through the TLS listener" "$CODE" 200
curl -s -m 5 -o "$T/metrics" "http://127.0.0.1:$MP/metrics"
check "a live /metrics was scraped" test -s "$T/metrics"
check "  it counted the TLS handshake" grep -q '^hourglass_tls_handshakes_total 1$' "$T/metrics"

# What a query may name: each sample name of the live text, that is a
# counter's or a gauge's family, or a histogram's _bucket, _sum, _count;
# never a histogram's bare family name, which Prometheus does not store.
awk '
	/^# TYPE / {
		if ($4 == "histogram" || $4 == "summary") {
			if ($4 == "histogram") print $3 "_bucket"
			print $3 "_sum"; print $3 "_count"
		} else print $3
	}' "$T/metrics" | sort -u > "$T/names"
awk '!/^#/ && NF { n = $1; sub(/\{.*/, "", n); print n }' "$T/metrics" | sort -u > "$T/samples"
expect_eq "the TYPE lines and the samples give the same names" \
	"$(comm -3 "$T/names" "$T/samples" | tr -d '\t' | tr '\n' ' ')" ""
while IFS=$'\t' read -r name places; do
	if grep -qxF -- "$name" "$T/names"; then
		ok "$name is exported"
	else
		fail "$name is not exported by hourglass (used in: $places)"
	fi
done < <(awk -F'\t' '$2 != "-" { p[$2] = p[$2] (seen[$2]++ ? "; " : "") $1 }
	END { for (n in p) print n "\t" p[n] }' "$T/used" | sort)

# Each label a selector matches on is a label of that metric, and each
# value an "=" matcher asks for is one a live series has (a typo such as
# state="tunel" would leave the panel empty forever).
pq labels "$T/metrics" contrib/prometheus/hourglass-alerts.yml \
    contrib/grafana/hourglass-dashboard.json > "$T/labels" 2>&1
expect_eq "promql_names.py labels: exit" "$?" 0
check "  it checked matchers ($(grep -c '^ok: ' "$T/labels"))" test "$(grep -c '^ok: ' "$T/labels")" -ge 20
while IFS= read -r line; do
	case $line in
	"ok: "*) ok "${line#ok: }" ;;
	"FAIL: "*) fail "${line#FAIL: }" ;;
	*) echo "$line" ;;
	esac
done < "$T/labels"

finish
