#!/usr/bin/env bash
# Proxy errors and rejects: upstream close, reset, refused connect and
# malformed responses (502); the 400, 413, 414 and 431 rejects; no route
# (503).  Each answer is immediate (no deadline is involved), logged once
# with its outcome, and leaves no descriptor behind.
source "$(dirname "$0")/../proxy_lib.sh"

FAST=300	# ms: an error or reject answer must come at least this fast

origin_up || finish
dead_port_up || finish

# A fake upstream that answers every request with a malformed response
# head, chosen by the path, and then keeps the connection open (so that the
# proxy sees bad bytes, not a close).  Perl's IO::Socket::INET is in
# perl-base, which Debian always installs.
command -v perl > /dev/null || { fail "perl is needed for the malformed upstream"; finish; }
perl -MIO::Socket::INET -e '
	my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
	    Listen => 16, ReuseAddr => 1) or die "listen: $!";
	open(my $f, ">", "$ARGV[0].tmp") or die; print $f $l->sockport, "\n";
	close $f; rename("$ARGV[0].tmp", $ARGV[0]);
	my @keep;
	while (my $c = $l->accept) {
		my $h = "";
		while ($h !~ /\r\n\r\n/) {
			my $n = sysread($c, $h, 4096, length $h);
			last unless $n;
		}
		my $r = $h =~ m{^\S+ \S*badlen} ?
		    "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n" :
		    $h =~ m{^\S+ \S*badstatus} ?
		    "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n" :
		    "this is not http\r\n\r\n";
		syswrite($c, $r);
		push @keep, $c;
	}' "$T/bad.port" > "$T/bad.log" 2>&1 &
_pids+=("$!")
wait_file "$T/bad.port" || { fail "the malformed upstream did not start"; finish; }
BAD_PORT=$(cat "$T/bad.port")

hg_up "$T/hg.ini" \
	'connect = 2s' 'upstream_header = 5s' 'request = 10s' \
	'' '[limits]' 'max_uri = 1k' 'max_header = 4k' 'max_body = 1k' \
	'' '[upstream bad]' "server = 127.0.0.1:$BAD_PORT" 'max_fails = 0' 'keepalive = 0' \
	'' '[route /bad]' 'upstream = bad' \
	'' '[route /refused]' 'upstream = dead' \
	|| finish

hg_curl "http://127.0.0.1:$HG_PORT/"
expect_eq "GET / through the proxy" "$CODE" 200
log_expect "GET /" 200 ok
fd_settle "GET /"

# curl_case DESC PATH STATUS OUTCOME [CURL ARGS...]
curl_case() {
	local d=$1 path=$2 status=$3 outcome=$4
	shift 4
	note "$d"
	hg_curl "$@" "http://127.0.0.1:$HG_PORT$path"
	expect_eq "$d: status" "$CODE" "$status"
	expect_range "$d: answered at once (ms)" "$MS" 0 $FAST
	log_expect "$d" "$status" "$outcome"
	fd_settle "$d"
}

curl_case "/close: upstream closes without answering" /close 502 error:upstream_closed
curl_case "/reset: upstream resets" /reset 502 error:upstream_reset
curl_case "refused connect" /refused 502 error:connect
curl_case "malformed status line" /bad/garbage 502 error:upstream_protocol
curl_case "bad Content-Length in the response" /bad/badlen 502 error:upstream_protocol
curl_case "bad status code" /bad/badstatus 502 error:upstream_protocol

# 414 and 431: a target over max_uri (1k), a head over max_header (4k).
long=$(head -c 2000 /dev/zero | tr '\0' a)
curl_case "target over max_uri" "/$long" 414 reject:uri_too_long
curl_case "head over max_header" / 431 reject:header_too_large \
	-H "X-Big: $(head -c 5000 /dev/zero | tr '\0' b)"
# Just under the limits is relayed (the origin answers 404 to a target
# over its own 511 bytes).
curl_case "target under max_uri" "/$(head -c 900 /dev/zero | tr '\0' a)" 404 ok
curl_case "head under max_header" /echo 200 ok \
	-H "X-Big: $(head -c 3000 /dev/zero | tr '\0' b)"

# raw_case DESC STATUS OUTCOME REQUEST: send REQUEST (printf format) on a
# raw connection; the answer's status line must come at once.
raw_case() {
	local d=$1 status=$2 outcome=$3 req=$4 t0 line
	note "$d"
	raw_open
	raw_send "$req"
	t0=$(now_ms)
	IFS= read -r -t 3 line <&3
	line=${line%$'\r'}
	expect_range "$d: answered at once (ms)" $(( $(now_ms) - t0 )) 0 $FAST
	expect_match "$d: $status" "$line" "^HTTP/1\\.1 $status "
	raw_close
	log_expect "$d" "$status" "$outcome"
	fd_settle "$d"
}

raw_case "bad request line" 400 reject:bad_request 'HELLO\r\n\r\n'
raw_case "Content-Length with Transfer-Encoding" 400 reject:bad_request \
	'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
raw_case "differing Content-Lengths" 400 reject:bad_request \
	'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'
# 413 is decided from the declared length, before any body byte.
raw_case "declared body over max_body" 413 reject:body_too_large \
	'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n'
curl_case "body under max_body" /echo 200 ok --data-binary "$(head -c 1000 /dev/zero | tr '\0' c)"

# No route matches: a daemon whose only route is /api.
stop_pid "$HG_PID"
ACCESS=$T/access2.log
LOG_SEEN=0
HG_NO_ROOT_ROUTE=1 hg_up "$T/hg2.ini" '' '[route /api]' 'upstream = o' || finish
curl_case "no route" /other 503 error:no_upstream
curl_case "the /api route works" /api/echo 404 ok

finish
