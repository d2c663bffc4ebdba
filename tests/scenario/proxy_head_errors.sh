#!/usr/bin/env bash
# The answer to HEAD is a head alone, also when hourglass writes it itself
# (502, 504): no body bytes may follow, or the next pipelined response
# would be corrupt.  Found by fuzz_response.
source "$(dirname "$0")/../proxy_lib.sh"

origin_up || finish
hg_up "$T/hg.ini" '[route /hang]' 'upstream = o' 'upstream_header = 200ms' ||
    finish

# head_then_get PATH: HEAD PATH and GET / (the last) pipelined on one
# connection.
head_then_get() {
	raw_open
	printf 'HEAD %s HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n' \
	    "$1" >&3
	raw_wait_eof "$T/out" 3
	raw_close
}

for p in /reset /hang; do
	d="HEAD $p"
	head_then_get "$p"
	first=$(status_line "$T/out")
	expect_match "$d: the error head" "$first" '^HTTP/1\.1 50[24] '
	# The connection stays open after hourglass's own 502 or 504 (the
	# request was read whole): the pipelined GET's answer must follow the
	# error head at once, with no body bytes between them.
	if awk 'BEGIN { RS = "\r\n\r\n" } NR == 1' "$T/out" |
	    grep -qi '^Connection: close'; then
		fail "$d: the error head says Connection: close"
	else
		ok "$d: the error head keeps the connection"
	fi
	next=$(awk 'BEGIN { RS = "\r\n\r\n" } NR == 2 { print substr($0, 1, 15) }' "$T/out")
	expect_eq "$d: no body after the head, the GET's answer next" "$next" "HTTP/1.1 200 OK"
done

# A client that asked to close gets Connection: close and the close.
raw_open
printf 'GET /hang HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n' >&3
raw_wait_eof "$T/out" 3
raw_close
expect_match "504 to a closing client" "$(status_line "$T/out")" '^HTTP/1\.1 504 '
check "504 to a closing client: Connection: close" grep -qi '^Connection: close' "$T/out"
expect_eq "504 to a closing client: closed, not held open" "$EOF_RC" 0
log_take "HEAD errors" 5
fd_settle "HEAD errors"
finish
