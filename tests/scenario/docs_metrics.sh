#!/usr/bin/env bash
# docs/metrics.md matches the daemon: every family its table names is
# exported by a live /metrics with the type and labels the table gives,
# and every family a live /metrics exports is in the table.
source "$(dirname "$0")/../proxy_lib.sh"

DOC=$TOP/docs/metrics.md
[ -f "$DOC" ] || { fail "no $DOC"; finish; }

start_origin || finish
cat > "$T/hg.ini" <<EOT
[server]
listen = 127.0.0.1:0
access_log = off
metrics_listen = 127.0.0.1:0

[upstream o]
server = 127.0.0.1:$ORIGIN_PORT

[route /]
upstream = o
EOT
start_hourglass "$T/hg.ini" || finish
MPORT=$(sed -n 's/.*metrics on .*:\([0-9][0-9]*\)$/\1/p' "$HG_ERR" | head -n 1)
[ -n "$MPORT" ] || { fail "no 'metrics on' line"; finish; }

# One request, so that the families that appear with the first sample
# (durations, upstream connect and header times) are there too.
hg_curl "http://127.0.0.1:$HG_PORT/"
expect_eq "a request through the daemon" "$CODE" 200
sleep 0.2
curl -s -m 5 -o "$T/metrics" "http://127.0.0.1:$MPORT/metrics"
check "a live /metrics was scraped" test -s "$T/metrics"

# "family type labels" from the live text: labels are the sorted label
# names of the family's samples, le aside, or "-" for none.
awk '
	/^# TYPE / { type[$3] = $4; order[++n] = $3; next }
	/^#/ || NF == 0 { next }
	{
		name = $1; sub(/\{.*/, "", name)
		fam = name
		if (!(fam in type)) sub(/_(bucket|sum|count)$/, "", fam)
		if (!(fam in type) || (fam in labels)) next
		l = ""
		if (index($1, "{") > 0) {
			s = substr($1, index($1, "{") + 1)
			while (match(s, /^[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?/)) {
				k = substr(s, 1, index(s, "=") - 1)
				if (k != "le") l = l (l == "" ? "" : " ") k
				s = substr(s, RLENGTH + 1)
			}
		}
		labels[fam] = l
	}
	END {
		for (i = 1; i <= n; i++) {
			f = order[i]; l = labels[f]
			m = split(l, a, " "); l = ""
			for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++)
				if (a[y] < a[x]) { t = a[x]; a[x] = a[y]; a[y] = t }
			for (x = 1; x <= m; x++) l = l (x > 1 ? "," : "") a[x]
			print f, type[f], (l == "" ? "-" : l)
		}
	}' "$T/metrics" | sort > "$T/live"

# The same from the table of docs/metrics.md: rows that start with a
# family name in backquotes, then its type, then its labels.
awk -F'|' '
	$2 ~ /^ `(hourglass|process)_[a-z_]*` $/ {
		f = $2; gsub(/[ `]/, "", f)
		t = $3; gsub(/ /, "", t)
		l = $4; gsub(/[ `]/, "", l)
		m = split(l, a, ","); l = ""
		for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++)
			if (a[y] < a[x]) { s = a[x]; a[x] = a[y]; a[y] = s }
		for (x = 1; x <= m; x++) l = l (x > 1 ? "," : "") a[x]
		print f, t, (l == "" ? "-" : l)
	}' "$DOC" | sort > "$T/doc"

n_live=$(wc -l < "$T/live")
n_doc=$(wc -l < "$T/doc")
check "the live /metrics has families ($n_live)" test "$n_live" -ge 20
check "docs/metrics.md lists families ($n_doc)" test "$n_doc" -ge 20

while read -r f t l; do
	got=$(awk -v f="$f" '$1 == f' "$T/live")
	if [ -z "$got" ]; then
		fail "docs/metrics.md names $f, which a live /metrics does not export"
	else
		expect_eq "$f: type and labels as documented" "$got" "$f $t $l"
	fi
done < "$T/doc"
while read -r f t l; do
	awk -v f="$f" '$1 == f { found = 1 } END { exit !found }' "$T/doc" ||
	    fail "a live /metrics exports $f ($t; labels $l), which docs/metrics.md does not list"
done < "$T/live"

finish
