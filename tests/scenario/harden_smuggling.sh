#!/usr/bin/env bash
# Conformance and request smuggling.  Every request whose framing or head
# is ambiguous or malformed gets 400, is logged reject:bad_request, and
# nothing of it reaches the upstream: the origin's event log gains no
# `request` line.  Controls (valid requests of the same shapes) prove that
# the same path does reach the upstream.  A chunked body found bad after
# its head went upstream ends the request: the upstream never reads a
# whole request and the client gets 400 (or a close).  Upstream responses
# with ambiguous framing get 502 error:upstream_protocol, and a chunked body
# broken after the head was relayed leaves the client with a visibly cut
# response, never a complete one.
source "$(dirname "$0")/../harden_lib.sh"

origin_up || finish

# A fake upstream for malformed responses, chosen by the request path.  It
# keeps each connection open after its answer, so the proxy judges the
# bytes, not a close.  "midbody" sends a good head and chunk, pauses
# (so the proxy relays them), then a bad chunk-size line.
command -v perl > /dev/null || { fail "perl is needed for the fake upstream"; finish; }
perl -MIO::Socket::INET -e '
	$SIG{CHLD} = "IGNORE";
	my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
	    Listen => 16, ReuseAddr => 1) or die "listen: $!";
	open(my $f, ">", "$ARGV[0].tmp") or die; print $f $l->sockport, "\n";
	close $f; rename("$ARGV[0].tmp", $ARGV[0]);
	my $body = "SMUGGLED-BODY";
	my %r = (
	    clte => "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n" .
		"Transfer-Encoding: chunked\r\n\r\nd\r\n$body\r\n0\r\n\r\n",
	    dupcl => "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n" .
		"Content-Length: 13\r\n\r\n$body",
	    difcl => "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n" .
		"Content-Length: 12\r\n\r\n$body",
	    listcl => "HTTP/1.1 200 OK\r\nContent-Length: 13, 13\r\n\r\n$body",
	    tegzip => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n" .
		"Content-Length: 13\r\n\r\n$body",
	    badchunk => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" .
		"zz\r\n$body\r\n0\r\n\r\n",
	    hop => "HTTP/1.1 200 OK\r\nConnection: X-Up, keep-alive\r\n" .
		"X-Up: 1\r\nX-Keep: yes\r\nContent-Length: 11\r\n" .
		"Keep-Alive: timeout=5\r\n\r\nhop-by-hop\n",
	);
	while (my $c = $l->accept) {
		next if fork;
		my $h = "";
		while ($h !~ /\r\n\r\n/) {
			my $n = sysread($c, $h, 4096, length $h);
			exit 0 unless $n;
		}
		my ($k) = $h =~ m{^\S+ /bad/(\w+)};
		$k //= "";
		if ($k eq "midbody") {
			syswrite($c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: " .
			    "chunked\r\n\r\n5\r\nhello\r\n");
			select(undef, undef, undef, 0.4);
			syswrite($c, "5x\r\nworld\r\n0\r\n\r\n");
		} else {
			syswrite($c, $r{$k} // "HTTP/1.1 200 OK\r\n" .
			    "Content-Length: 2\r\n\r\nok");
		}
		sleep 5;
		exit 0;
	}' "$T/bad.port" > "$T/bad.log" 2>&1 &
_pids+=("$!")
wait_file "$T/bad.port" || { fail "the fake upstream did not start"; finish; }
BAD_PORT=$(cat "$T/bad.port")

hg_up "$T/hg.ini" 'request = 10s' 'upstream_header = 3s' \
	'' '[upstream bad]' "server = 127.0.0.1:$BAD_PORT" 'max_fails = 0' \
	'keepalive = 0' '' '[route /bad/]' 'upstream = bad' || finish

# reject DESC REQUEST: 400, reject:bad_request, nothing upstream.
reject() {
	local d=$1 n0
	n0=$(origin_requests)
	raw_exchange "$T/resp" "$2"
	expect_match "$d: 400" "$RESP_LINE" '^HTTP/1\.1 400 '
	log_expect "$d" 400 reject:bad_request
	origin_quiet_since "$n0" "$d"
	fd_settle "$d"
}

# notimpl DESC REQUEST: 501, reject:not_implemented, nothing upstream.
notimpl() {
	local d=$1 n0
	n0=$(origin_requests)
	raw_exchange "$T/resp" "$2"
	expect_match "$d: 501" "$RESP_LINE" '^HTTP/1\.1 501 '
	log_expect "$d" 501 reject:not_implemented
	origin_quiet_since "$n0" "$d"
	fd_settle "$d"
}

# accept DESC REQUEST: the control; 200 from the origin, logged ok, one
# request read by the origin.
accept() {
	local d=$1 n0
	n0=$(origin_requests)
	raw_exchange "$T/resp" "$2"
	expect_match "$d: 200" "$RESP_LINE" '^HTTP/1\.1 200 '
	log_expect "$d" 200 ok
	expect_eq "$d: the upstream read it" "$(origin_requests)" $((n0 + 1))
}

H='Host: h\r\nConnection: close\r\n'

note "controls: the same shapes, valid"
accept "GET" "GET /echo HTTP/1.1\r\n$H\r\n"
accept "POST with Content-Length" "POST /echo HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello"
accept "POST chunked" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
accept "chunk extension name=value" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;ext=val\r\nhello\r\n0\r\n\r\n"
accept "chunk extension, quoted value" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a=\"b c\";d\r\nhello\r\n0\r\n\r\n"
accept "HTTP/1.0 without Host" "GET /echo HTTP/1.0\r\n\r\n"
accept "absolute form, Host agrees" "GET http://h/echo HTTP/1.1\r\n$H\r\n"
accept "absolute form, Host agrees (case, port)" "GET http://H.example:80/echo HTTP/1.1\r\nHost: h.example:80\r\nConnection: close\r\n\r\n"
accept "repeated identical header (not framing)" "GET /echo HTTP/1.1\r\n${H}X-A: 1\r\nX-A: 1\r\n\r\n"

note "framing: Content-Length and Transfer-Encoding"
reject "CL then TE" "POST /echo HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
reject "TE then CL" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
reject "CL: 0 with TE" "POST /echo HTTP/1.1\r\n${H}Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
reject "differing Content-Lengths" "POST /echo HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
reject "repeated equal Content-Lengths" "POST /echo HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
reject "Content-Length list 5, 5" "POST /echo HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello"
reject "Content-Length +5" "POST /echo HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello"
reject "Content-Length -1" "POST /echo HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n"
reject "Content-Length 0x5" "POST /echo HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello"
reject "Content-Length over 2^64" "POST /echo HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\n"
notimpl "TE: gzip" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\nhello"
notimpl "TE: chunked, gzip" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
notimpl "TE: identity" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\nhello"
notimpl "TE: chunked, chunked" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
notimpl "TE chunked then TE gzip lines" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
notimpl "TE: xchunked" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
reject "TE: chunked in HTTP/1.0" "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
reject "TE with a space before the colon" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"

note "chunked bodies, whole in one packet"
reject "chunk size not hex" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
reject "chunk size -5" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"
reject "chunk size 0x5" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"
reject "chunk size over 2^64" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"
reject "chunk size with a leading space" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n"
reject "empty chunk size" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n"
reject "chunk data longer than its size" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"
reject "chunk size line ended by a bare CR" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\rXhello\r\n0\r\n\r\n"
reject "chunk size line ended by a bare LF" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"
reject "chunk data ended by a bare LF" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n"
reject "last chunk ended by bare LFs" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\n\n"
reject "chunk extension without a name" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n"
reject "chunk extension with a control byte" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a\x01b\r\nhello\r\n0\r\n\r\n"
reject "chunk extension with a bare CR" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n"
reject "chunk extension with an unclosed quote" "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n"

# A bad chunk after the head (and a good chunk) went upstream: the request
# ends; the upstream must never read it whole (the bad bytes are not
# passed on as if valid) and the client gets 400 or a close.
streamed() {
	local d=$1 tag=$2 n0
	shift 2
	n0=$(origin_requests)
	raw_exchange_parts "$T/resp" 300 \
	    "POST /echo?$tag HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n" "$@"
	if [ -z "$RESP_LINE" ] && [ "$EOF_RC" -eq 0 ]; then
		ok "$d: the connection was closed without an answer"
	else
		expect_match "$d: 400 or a close" "$RESP_LINE" '^HTTP/1\.1 400 '
	fi
	log_expect "$d" 400 reject:bad_request
	origin_quiet_since "$n0" "$d"
	# The origin saw the head (its close names the request in progress):
	# the case is really one of a body gone bad after the head went out.
	if [ -n "$(oevent close "/echo?$tag")" ]; then
		ok "$d: the head had reached the upstream, which saw a close"
	else
		fail "$d: the upstream never saw the head (case not exercised)"
		tail -n 4 "$OEVENTS" | sed 's/^/  origin: /'
	fi
	fd_settle "$d"
}
note "chunked bodies, the bad chunk after the head went upstream"
streamed "streamed: chunk size not hex" s1 "zz\r\nworld\r\n0\r\n\r\n"
streamed "streamed: chunk size over 2^64" s2 "10000000000000000\r\nworld\r\n0\r\n\r\n"
streamed "streamed: chunk data longer than its size" s3 "3\r\nworld\r\n0\r\n\r\n"
streamed "streamed: bad chunk extension" s4 "5;\x01\r\nworld\r\n0\r\n\r\n"
streamed "streamed: last chunk ended by bare LFs" s5 "0\n\n"
streamed "streamed: NUL in the chunk size" s6 "5\0\r\nworld\r\n0\r\n\r\n"
streamed "streamed: chunk data ended by a bare LF" s7 "5\r\nworld\n0\r\n\r\n"

note "head syntax"
reject "obs-fold" "GET /echo HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n"
reject "obs-fold with a tab" "GET /echo HTTP/1.1\r\n${H}X-A: a\r\n\tb\r\n\r\n"
reject "obs-fold on the first field" "GET /echo HTTP/1.1\r\n X-A: b\r\n${H}\r\n"
reject "space before the colon" "GET /echo HTTP/1.1\r\n${H}X-A : b\r\n\r\n"
reject "tab before the colon" "GET /echo HTTP/1.1\r\n${H}X-A\t: b\r\n\r\n"
reject "Content-Length with a space before the colon" "POST /echo HTTP/1.1\r\n${H}Content-Length : 5\r\n\r\nhello"
reject "( in a field name" "GET /echo HTTP/1.1\r\n${H}X(A): b\r\n\r\n"
reject "\" in a field name" "GET /echo HTTP/1.1\r\n${H}X\"A: b\r\n\r\n"
reject "/ in a field name" "GET /echo HTTP/1.1\r\n${H}X/A: b\r\n\r\n"
reject "@ in a field name" "GET /echo HTTP/1.1\r\n${H}X@A: b\r\n\r\n"
reject "control byte in a field name" "GET /echo HTTP/1.1\r\n${H}X\x01A: b\r\n\r\n"
reject "high byte in a field name" "GET /echo HTTP/1.1\r\n${H}X\xe9A: b\r\n\r\n"
reject "empty field name" "GET /echo HTTP/1.1\r\n${H}: b\r\n\r\n"
reject "field without a colon" "GET /echo HTTP/1.1\r\n${H}X-A b\r\n\r\n"
reject "bare CR in a field value" "GET /echo HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n"
reject "bare CR ending a field" "GET /echo HTTP/1.1\r\n${H}X-A: a\rX-B: b\r\n\r\n"
reject "bare CR in the request line" "GET /echo\r HTTP/1.1\r\n$H\r\n"
reject "bare LF ending a field" "GET /echo HTTP/1.1\r\n${H}X-A: a\nX-B: b\r\n\r\n"
reject "bare LF ending the request line" "GET /echo HTTP/1.1\n$H\r\n"
reject "bare LFs only" "GET /echo HTTP/1.1\nHost: h\nConnection: close\n\n"
reject "head ended by LF CRLF" "GET /echo HTTP/1.1\r\n${H}X-A: a\n\r\n"
reject "NUL in a field value" "GET /echo HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n"
reject "NUL in a field name" "GET /echo HTTP/1.1\r\n${H}X\0A: b\r\n\r\n"
reject "NUL in the target" "GET /ec\0ho HTTP/1.1\r\n$H\r\n"
reject "tab in the target" "GET /ec\tho HTTP/1.1\r\n$H\r\n"
reject "form feed in the target" "GET /ec\fho HTTP/1.1\r\n$H\r\n"
reject "raw UTF-8 in the target" "GET /ech\xc3\xb6 HTTP/1.1\r\n$H\r\n"
reject "NUL in the method" "G\0ET /echo HTTP/1.1\r\n$H\r\n"
reject "control byte in a field value" "GET /echo HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n"
reject "DEL in a field value" "GET /echo HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n"

note "Host"
reject "HTTP/1.1 without Host" "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n"
reject "two Host fields, equal" "GET /echo HTTP/1.1\r\n${H}Host: h\r\n\r\n"
reject "two Host fields, different" "GET /echo HTTP/1.1\r\n${H}Host: evil\r\n\r\n"
reject "Host list" "GET /echo HTTP/1.1\r\nHost: h, evil\r\nConnection: close\r\n\r\n"
reject "Host with userinfo" "GET /echo HTTP/1.1\r\nHost: u@h\r\nConnection: close\r\n\r\n"
reject "Host with a path" "GET /echo HTTP/1.1\r\nHost: h/x\r\nConnection: close\r\n\r\n"
reject "absolute form, Host disagrees" "GET http://evil/echo HTTP/1.1\r\n$H\r\n"
reject "absolute form, Host port disagrees" "GET http://h:81/echo HTTP/1.1\r\n$H\r\n"
reject "absolute form without Host (HTTP/1.1)" "GET http://h/echo HTTP/1.1\r\nConnection: close\r\n\r\n"
reject "absolute form with userinfo" "GET http://u@h/echo HTTP/1.1\r\n$H\r\n"

note "request line and version"
reject "request line without a version" "GET /echo\r\n$H\r\n"
reject "two spaces after the method" "GET  /echo HTTP/1.1\r\n$H\r\n"
reject "a word after the version" "GET /echo HTTP/1.1 x\r\n$H\r\n"
reject "a space in the target" "GET /e cho HTTP/1.1\r\n$H\r\n"
reject "leading space" " GET /echo HTTP/1.1\r\n$H\r\n"
reject "lower-case method" "get /echo HTTP/1.1\r\n$H\r\n"
reject "unknown method token with a bad byte" "G(T /echo HTTP/1.1\r\n$H\r\n"
reject "relative target" "GET echo HTTP/1.1\r\n$H\r\n"
reject "HTTP/2.0" "GET /echo HTTP/2.0\r\n$H\r\n"
reject "HTTP/1.2" "GET /echo HTTP/1.2\r\n$H\r\n"
reject "HTTP/0.9" "GET /echo HTTP/0.9\r\n$H\r\n"
reject "HTTP/1.10" "GET /echo HTTP/1.10\r\n$H\r\n"
reject "lower-case http/1.1" "GET /echo http/1.1\r\n$H\r\n"
reject "HTTP/1.1 without the slash" "GET /echo HTTP1.1\r\n$H\r\n"
reject "CONNECT" "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"

note "responses with ambiguous framing: 502, never relayed"
# bad_response DESC KEY: /bad/KEY gets 502 error:upstream_protocol and
# nothing of the upstream's body.
bad_response() {
	local d=$1
	hg_curl "http://127.0.0.1:$HG_PORT/bad/$2"
	expect_eq "$d: status" "$CODE" 502
	if grep -q SMUGGLED "$T/body" "$T/head" 2>/dev/null; then
		fail "$d: the upstream's body reached the client"
	else
		ok "$d: none of the upstream's body reached the client"
	fi
	log_expect "$d" 502 error:upstream_protocol
	fd_settle "$d"
}
hg_curl "http://127.0.0.1:$HG_PORT/bad/good"
expect_eq "control: a well-formed response from the fake upstream" "$CODE" 200
log_expect "control response" 200 ok

# Hop-by-hop fields of a response stay with the upstream connection.  Our
# head is shorter than the upstream's and is copied over it, in front of
# the body, so a stale byte of theirs would show here.
d="response hop-by-hop fields"
hg_curl "http://127.0.0.1:$HG_PORT/bad/hop"
expect_eq "$d: status" "$CODE" 200
expect_eq "$d: the head relayed" "$(tr -d '\r' < "$T/head" | tr '\n' '|')" \
	"HTTP/1.1 200 OK|X-Keep: yes|Content-Length: 11||"
expect_eq "$d: the body relayed" "$(cat "$T/body")" "hop-by-hop"
log_expect "$d" 200 ok
bad_response "response with CL and TE" clte
bad_response "response with two equal Content-Lengths" dupcl
bad_response "response with two different Content-Lengths" difcl
bad_response "response with Content-Length 13, 13" listcl
bad_response "response with TE chunked, gzip" tegzip
bad_response "response with a bad first chunk" badchunk

# The head and a chunk were relayed, then a bad chunk-size line: the client
# must see a cut response (no last chunk), and curl must report it as such.
d="response chunk broken after the head was relayed"
raw_exchange "$T/resp" 'GET /bad/midbody HTTP/1.1\r\nHost: h\r\n\r\n' 5
expect_match "$d: the head was relayed" "$RESP_LINE" '^HTTP/1\.1 200 '
expect_eq "$d: the daemon closed the connection" "$EOF_RC" 0
if tr -d '\r' < "$T/resp" | grep -q '^0$'; then
	fail "$d: the client got a last chunk"
	od -c "$T/resp" | tail -n 5 | sed 's/^/  resp: /'
else
	ok "$d: no last chunk reached the client"
fi
if grep -q world "$T/resp"; then
	fail "$d: bytes after the bad chunk-size line reached the client"
else
	ok "$d: nothing after the bad chunk-size line reached the client"
fi
log_take "$d" 1
expect_eq "$d: logged outcome" "$(lf outcome "$LOG1")" error:upstream_protocol
hg_curl "http://127.0.0.1:$HG_PORT/bad/midbody"
check "$d: curl sees a transfer error (rc $RC)" [ "$RC" -eq 18 -o "$RC" -eq 56 ]
log_take "$d (curl)" 1
fd_settle "$d"

hg_alive "the end" && ok "hourglass survived every case"
hg_stop_ok "smuggling"
finish
