#!/usr/bin/env bash
# The man pages (man/*.[158]) say what the code does, and stay that way:
# - mandoc -Tlint, and groff with warnings as lintian runs it (80 and 120
#   columns), print nothing about any of the three pages;
# - every key `hourglass -t` prints, for a file with every section (TLS
#   listener and certificate, an upstream with TLS, a route with a host), is
#   an `.It Cm KEY` item in its section of hourglass.ini(5) (a route's
#   timeout keys under [timeouts]); the timeout table gives each scope the
#   default -t prints; every Proxy-Status error type of lib/outcome.c and
#   lib/request.c is in its list;
# - every option of `hourglass -h` is an `.It Fl` item of hourglass(8)'s
#   OPTIONS, every option of `hourglass-origin -h` one of
#   hourglass-origin(1)'s, and every outcome of lib/outcome.c's table an
#   `.It Cm OUTCOME` item of hourglass(8)'s OUTCOMES;
# - each of those checks fails on a copy of the page with one item taken
#   out, so that a check that has stopped looking is caught too.
source "$(dirname "$0")/../lib.sh"
export LC_ALL=C		# the order of sort, comm and the lists compared

MAN=$TOP/man
P8=$MAN/hourglass.8
P5=$MAN/hourglass.ini.5
P1=$MAN/hourglass-origin.1

# part FILE MACRO TITLE: the lines of the .Sh or .Ss (MACRO) whose title
# starts with TITLE, up to the next header of its level or above.
part() {
	awk -v m="$2" -v t="$3" '
	$1 == ".Sh" || $1 == ".Ss" {
		title = $0
		sub(/^\.S[hs][ \t]+/, "", title)
		gsub(/"|\\&/, "", title)
		if ($1 == m && index(title, t) == 1) { on = 1; next }
		if (on && ($1 == ".Sh" || m == ".Ss")) on = 0
	}
	on' "$1"
}

# items FILE MACRO TITLE: the first word after ".It Cm" of each item there.
items() { part "$@" | awk '$1 == ".It" && $2 == "Cm" { print $3 }'; }

# missing_keys PAGE DUMP: "section key" for each key of the dump that is
# not an item of its section of PAGE.
missing_keys() {
	local page=$1 dump=$2 sect key where
	awk '/^\[/ { s = substr($1, 2); sub(/\]$/, "", s); next }
	     / = |=$/ { print s, $1 }' "$dump" | sort -u |
	while read -r sect key; do
		where=$sect
		# A route's [timeouts] keys are described in [timeouts].
		[ "$sect" = route ] && grep -qx "$key" "$T/timeout-keys" && where=timeouts
		items "$page" .Ss "[$where" | grep -qxF -- "$key" || echo "[$sect] $key"
	done
}

# page_options PAGE: the flags of the .It lines of OPTIONS, as -x or --xx.
page_options() {
	part "$1" .Sh OPTIONS | awk '$1 == ".It" {
		for (i = 2; i < NF; i++)
			if ($i == "Fl") { f = $(i + 1); gsub(/\\-/, "-", f); print "-" f }
	}'
}

# missing_options PAGE HELP: the options HELP names that PAGE does not.
missing_options() {
	local o
	for o in $(grep -oE '(^|[[ ])--?[A-Za-z][A-Za-z-]*' "$2" | tr -d '[ ' | sort -u); do
		page_options "$1" | grep -qxF -- "$o" || echo "$o"
	done
}

# missing_outcomes PAGE: the outcomes of lib/outcome.c's table that are
# not items of PAGE's OUTCOMES.
missing_outcomes() {
	local o
	while read -r o; do
		items "$1" .Sh OUTCOMES | grep -qxF -- "$o" || echo "$o"
	done < "$T/outcomes"
}

# without PAGE REGEX: a copy of PAGE in $T without the first line matching
# the extended REGEX.
without() {
	local out=$T/cut.$RANDOM
	RE=$2 awk 'done || $0 !~ ENVIRON["RE"] { print; next } { done = 1 }' "$1" > "$out"
	echo "$out"
}

note "mandoc -Tlint"
if command -v mandoc > /dev/null 2>&1; then
	# Together, from their directory, so that their Xr to each other are
	# found; mandoc's notes about the machine's own mandoc.db (pages
	# installed after it was built) are about no page of ours.
	(cd "$MAN" && mandoc -Tlint hourglass.8 hourglass.ini.5 hourglass-origin.1) \
	    > "$T/lint" 2>&1
	grep -v '^mandoc: outdated mandoc.db lacks ' "$T/lint" > "$T/lint.ours"
	if [ -s "$T/lint.ours" ]; then
		fail "mandoc -Tlint has something to say"; sed 's/^/  /' "$T/lint.ours"
	else
		ok "mandoc -Tlint: nothing to say about the three pages"
	fi
	# The check can fail: a blank line in prose (mdoc wants .Pp).
	awk '{ print } /^\.Sh DESCRIPTION$/ { getline; print; print "" }' "$P8" > "$T/blank.8"
	mandoc -Tlint "$T/blank.8" > "$T/lint.cut" 2>&1
	check "  and it does say something about a blank line" grep -q 'blank line' "$T/lint.cut"
else
	fail "mandoc is not installed (make check installs it)"
fi

note "groff, as lintian runs it"
if command -v man > /dev/null 2>&1; then
	for w in 80 120; do
		for p in "$P8" "$P5" "$P1"; do
			env -i PATH="$PATH" LC_ALL=C.UTF-8 MANROFFSEQ= MANWIDTH=$w \
			    man --warnings -E UTF-8 -l -Tutf8 -Z "$p" > /dev/null 2> "$T/groff"
			if [ -s "$T/groff" ]; then
				fail "groff warns about $(basename "$p") at $w columns"
				head -n 10 "$T/groff" | sed 's/^/  /'
			else
				ok "groff: no warning for $(basename "$p") at $w columns"
			fi
		done
	done
else
	fail "man is not installed (make check installs lintian, which needs it)"
fi

note "every key hourglass -t prints is in hourglass.ini(5)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/a.key" -out "$T/a.pem" -days 2 -subj "/CN=a.example" \
    -addext "subjectAltName=DNS:a.example" > "$T/openssl.log" 2>&1 ||
    { fail "openssl req"; cat "$T/openssl.log"; finish; }
cat > "$T/full.ini" <<EOF
[server]
listen = 127.0.0.1:0
listen = 127.0.0.1:0 tls
tls_certificate = a.pem a.key
access_log = off
metrics_listen = 127.0.0.1:0
[limits]
[timeouts]
[upstream app]
server = 127.0.0.1:9
tls = yes
tls_ca = a.pem
tls_sni = a.example
tls_certificate = a.pem a.key
[route /]
upstream = app
host = a.example
EOF
"$HOURGLASS" -t -c "$T/full.ini" > "$T/dump" 2> "$T/dump.err"
expect_eq "-t on a file with every section exits 0" "$?" 0
awk '/^\[timeouts\]/ { on = 1; next } /^\[/ { on = 0 } on && / = / { print $1 }' \
    "$T/dump" > "$T/timeout-keys"
for s in server limits timeouts 'upstream app' 'route /'; do
	check "  the dump has [$s]" grep -qxF "[$s]" "$T/dump"
done
for k in tls_certificate tls_ca tls_sni tls_verify host; do
	check "  the dump has $k" grep -q "^$k = " "$T/dump"
done
nkeys=$(awk '/ = / { print $1 }' "$T/dump" | sort -u | wc -l)
expect_range "distinct keys in the dump" "$nkeys" 40 200
missing_keys "$P5" "$T/dump" > "$T/missing"
expect_eq "keys missing from hourglass.ini(5)" "$(tr '\n' ' ' < "$T/missing")" ""
cut=$(without "$P5" '^\.It Cm retry_budget_min( |$)')
expect_eq "  a page without retry_budget_min fails the check" \
	"$(missing_keys "$cut" "$T/dump" | tr '\n' ' ')" "[upstream] retry_budget_min "
cut=$(without "$P5" '^\.It Cm tls_sni( |$)')
expect_eq "  a page without tls_sni fails the check" \
	"$(missing_keys "$cut" "$T/dump" | tr '\n' ' ')" "[upstream] tls_sni "
cut=$(without "$P5" '^\.It Cm hedge_max( |$)')
expect_eq "  without hedge_max, for [timeouts] and the route" \
	"$(missing_keys "$cut" "$T/dump" | tr '\n' ' ')" "[route] hedge_max [timeouts] hedge_max "

note "the timeout table's defaults are what -t prints"
# to_ms: a duration as -t prints it or the table writes it, in ms; off is 0.
to_ms() {
	awk -v d="$1" 'BEGIN {
		if (d == "off") { print 0; exit }
		n = 0; ms = 0
		while (match(d, /^[0-9]+(ms|h|m|s)/)) {
			t = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
			v = t + 0; u = t; sub(/^[0-9]+/, "", u)
			ms += v * (u == "ms" ? 1 : u == "s" ? 1000 : u == "m" ? 60000 : 3600000)
		}
		print (d == "" ? ms : "bad")
	}'
}
printf '[upstream a]\nserver = 127.0.0.1:9\n[route /]\nupstream = a\n' > "$T/min.ini"
"$HOURGLASS" -t -c "$T/min.ini" > "$T/min.dump" 2> /dev/null
part "$P5" .Ss "[timeouts" | awk '$1 == ".It" && $2 == "Cm" && $4 == "Ta" { print $3, $7 }' \
    > "$T/table"
expect_eq "scopes in the table" "$(wc -l < "$T/table")" 11
while read -r key def; do
	got=$(sed -n "s/^$key = //p" "$T/min.dump" | head -n 1)
	if [ -n "$got" ] && [ "$(to_ms "$got")" = "$(to_ms "$def")" ]; then
		ok "  $key: $def"
	else
		fail "  $key: the table says '$def', -t prints '$got'"
	fi
done < "$T/table"

note "the Proxy-Status error types are in hourglass.ini(5)"
{ tr '\n' ' ' < "$TOP/lib/outcome.c" | grep -oE 'OUTCOME_KIND_[A-Z]+, *"[a-z_]+"' |
    sed 's/.*"\(.*\)"/\1/'
  grep -oE 'type = "[a-z_]+"' "$TOP/lib/request.c" | sed 's/.*"\(.*\)"/\1/'
} | sort -u > "$T/types"
expect_range "error types in lib/outcome.c and lib/request.c" "$(wc -l < "$T/types")" 10 40
part "$P5" .Ss Proxy-Status | awk '$1 == ".Cm" { print $2 }' | sort -u > "$T/page-types"
expect_eq "types missing from its Proxy-Status list" \
	"$(comm -23 "$T/types" "$T/page-types" | tr '\n' ' ')" ""

note "every option of hourglass -h is in hourglass(8)"
"$HOURGLASS" -h > "$T/help" 2>&1
expect_eq "the options of hourglass -h" "$(grep -oE '^ +-[A-Za-z], --[a-z-]+' "$T/help" | wc -l)" 5
missing_options "$P8" "$T/help" > "$T/missing"
expect_eq "options missing from hourglass(8)" "$(tr '\n' ' ' < "$T/missing")" ""
cut=$(without "$P8" '^\.It Fl q ')
expect_eq "  a page without -q fails the check" \
	"$(missing_options "$cut" "$T/help" | tr '\n' ' ')" "--quiet -q "

note "every option of hourglass-origin -h is in hourglass-origin(1)"
"$ORIGIN" -h > "$T/ohelp" 2>&1
expect_range "the options of hourglass-origin -h" \
	"$(grep -oE '(^|[[ ])--?[A-Za-z][A-Za-z-]*' "$T/ohelp" | tr -d '[ ' | sort -u | wc -l)" 9 40
missing_options "$P1" "$T/ohelp" > "$T/missing"
expect_eq "options missing from hourglass-origin(1)" "$(tr '\n' ' ' < "$T/missing")" ""
cut=$(without "$P1" '^\.It Fl .-blackhole.-port.-file ')
expect_eq "  a page without --blackhole-port-file fails the check" \
	"$(missing_options "$cut" "$T/ohelp" | tr '\n' ' ')" "--blackhole-port-file "

note "every outcome of lib/outcome.c is in hourglass(8)"
grep -oE '\] = \{ "[a-z_]+(:[a-z_]+)?"' "$TOP/lib/outcome.c" | sed 's/.*"\(.*\)"/\1/' \
    > "$T/outcomes"
expect_range "outcomes in lib/outcome.c's table" "$(wc -l < "$T/outcomes")" 20 64
check "  ok, timeout:tunnel_max and reject:overload among them" \
	bash -c "grep -qx ok '$T/outcomes' && grep -qx timeout:tunnel_max '$T/outcomes' && grep -qx reject:overload '$T/outcomes'"
missing_outcomes "$P8" > "$T/missing"
expect_eq "outcomes missing from hourglass(8)" "$(tr '\n' ' ' < "$T/missing")" ""
cut=$(without "$P8" '^\.It Cm error:tls$')
expect_eq "  a page without error:tls fails the check" \
	"$(missing_outcomes "$cut" | tr '\n' ' ')" "error:tls "

finish
