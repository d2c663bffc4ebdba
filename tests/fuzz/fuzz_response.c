/*
 * fuzz_response.c: libFuzzer target for the response path.  The input is
 * what the origin answers to the first request of a fixed, valid client
 * exchange; the proxy relays it (or refuses it) to the end.
 *
 * Input layout:
 *   byte 0  flags: 0x01 the fast proxy; 0x02 the client sends HEAD, not
 *           GET; 0x04 the origin closes once it has sent the input;
 *           0x08 the client pipelines a second GET; 0x40 the client
 *           speaks HTTP/1.0 (the proxy de-chunks for it)
 *   byte 1  split: the origin sends the first (n * split / 256) bytes of
 *           the rest, the loop runs until nothing moves, then the rest
 *   rest    the origin's answer
 *
 * Besides the rig's checks (no crash, nothing left behind), what the client
 * receives must parse as one response per request, in order, each whole
 * but for the last, which may be cut short when the proxy aborted it; and
 * never an interim (1xx) response, which the proxy consumes itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "fuzz_rig.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rig_init();
	return 0;
}

/* What the client got must be valid responses to what it asked. */
static void
check_client_view(int nreq, const bool *head, bool eof)
{
	struct http_limits lim = { 0, 0 };
	struct http_parser p;
	struct http_msg m;
	enum http_verdict v;
	const uint8_t *in;
	size_t len, pos = 0, start = 0, used;
	int i = 0;

	in = rig_client_received(&len);
	http_parser_init(&p, HTTP_KIND_RESPONSE, &m, &lim);
	http_parser_set_head_request(&p, head[0]);
	while (pos < len || (i < nreq && p.hp_state != 0)) {
		if (i == nreq) {
			fprintf(stderr, "fuzz_response: %zu bytes after the "
			    "last response: \"%.*s\"\n", len - pos,
			    (int)(len - pos), (const char *)in + pos);
			abort();
		}
		v = http_feed(&p, (const char *)in + start,
		    (const char *)in + pos, len - pos, &used);
		pos += used;
		if (v == HTTP_MORE)
			break;
		if (v == HTTP_GOT_HEAD) {
			if (m.status < 200) {
				fprintf(stderr, "fuzz_response: the proxy "
				    "relayed an interim %d\n", m.status);
				abort();
			}
			continue;
		}
		if (v != HTTP_DONE) {
			fprintf(stderr, "fuzz_response: the client got bytes "
			    "that do not parse (%s): \"%.*s\"\n",
			    p.hp_reason ? p.hp_reason : "?", (int)len,
			    (const char *)in);
			abort();
		}
		start = pos;
		if (++i < nreq) {
			http_parser_reset(&p);
			http_parser_set_head_request(&p, head[i]);
		}
	}
	/* A close-delimited body ends with the stream. */
	if (eof && i < nreq && pos == len)
		(void)http_finish(&p);
	http_msg_free(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char req[256];
	bool head[2];
	unsigned flags;
	size_t split;
	int n, nreq;
	const char *ver;

	if (size < 2)
		return 0;
	flags = data[0];
	split = (size - 2) * data[1] / 256;
	data += 2;
	size -= 2;
	ver = flags & 0x40 ? "HTTP/1.0" : "HTTP/1.1";
	head[0] = (flags & 0x02) != 0;
	head[1] = false;
	n = snprintf(req, sizeof req, "%s /r %s\r\nHost: fuzz.example\r\n%s\r\n",
	    head[0] ? "HEAD" : "GET", ver,
	    flags & 0x40 ? "Connection: keep-alive\r\n" : "");
	nreq = 1;
	if (flags & 0x08) {
		n += snprintf(req + n, sizeof req - (size_t)n,
		    "GET /2 %s\r\nHost: fuzz.example\r\n\r\n", ver);
		nreq = 2;
	}

	rig_origin_script(data, size, split, (flags & 0x04) != 0);
	rig_client_open(flags & 0x01 ? RIG_FAST : RIG_SLOW,
	    flags & 0x80 ? RIG_TIGHT | RIG_TIGHT_UP : 0);
	rig_client_send((const uint8_t *)req, (size_t)n);
	rig_origin_flush();
	rig_wait_timers();
	check_client_view(nreq, head, rig_client_eof());
	rig_client_close();
	return 0;
}
