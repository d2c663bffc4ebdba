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
 *
 * And the framing property: strict llhttp accepts what the client
 * received and frames it as hourglass's parser does; each response in it
 * is the one the origin sent, as hourglass's parser reads the origin's
 * bytes: the same status and the same body bytes (de-chunked on both
 * sides), or the start of them when the response was cut short or ended
 * by the close (HTTP/1.0, a close-delimited body).  The first answers the
 * input; the second, when the client pipelined one, is the origin's
 * default "hello", as is the first when the fast proxy tried it again.
 * The proxy may answer with its own error instead (a 502 or 504 page,
 * exactly as http_build_error() writes it but for our Proxy-Status line)
 * only when it may have had cause: on the fast proxy, or when the
 * origin's response was not whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "fuzz_framing.h"
#include "fuzz_rig.h"

/* What the origin answers to a request the script does not (fuzz_rig.c). */
static const char origin_default[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rig_init();
	return 0;
}

/* A broken check: say what, show what the client got, and crash. */
static void __attribute__((noreturn))
client_view_broken(const char *why, const struct framing *got,
    const struct framing *origin, const uint8_t *in, size_t len)
{
	fprintf(stderr, "fuzz_response: %s\n", why);
	if (got != NULL)
		framing_print(stderr, "strict llhttp's parse of what the "
		    "client received", got);
	if (origin != NULL)
		framing_print(stderr, "hourglass's parse of what the origin "
		    "sent", origin);
	framing_print_bytes(stderr, "the client received", in, len);
	abort();
}

/* Whether response c, as the client got it, is e as the origin sent it. */
static bool
relayed(const struct framing_msg *c, const struct framing_msg *e, bool fast)
{
	if (e == NULL || !e->head_done || c->status != e->status)
		return false;
	if (c->done && !c->by_eof)		/* framed: all of it */
		return e->done && framing_body_in(c, e, false);
	if (c->done && e->done && !fast)	/* closed once all was sent */
		return framing_body_in(c, e, false);
	return framing_body_in(c, e, true);	/* cut short, maybe */
}

/* Whether response c, at in, is the proxy's own error page (its head
 * alone when it answers a HEAD). */
static bool
proxy_page(const struct framing_msg *c, const uint8_t *in, bool head)
{
	static const char ps[] = "\r\nProxy-Status: hourglass; error=";
	char page[512], got[512];
	const char *end, *p, *e;
	ssize_t n;
	size_t len = c->end - c->start;

	if (!c->done || c->by_eof || len > sizeof got)
		return false;
	/* Our Proxy-Status line out, the rest as http_build_error() has it. */
	memcpy(got, in + c->start, len);
	if ((p = memmem(got, len, ps, sizeof ps - 1)) != NULL &&
	    (e = memmem(p + 2, len - (size_t)(p + 2 - got), "\r\n", 2)) !=
	    NULL) {
		memmove((char *)p, e, len - (size_t)(e - got));
		len -= (size_t)(e - p);
	}
	for (int cl = 0; cl < 2; cl++) {
		n = http_build_error(c->status, cl, page, sizeof page);
		if (n <= 0)
			return false;
		if (head && (end = memmem(page, (size_t)n, "\r\n\r\n", 4)))
			n = end + 4 - page;
		if ((size_t)n == len && memcmp(page, got, len) == 0)
			return true;
	}
	return false;
}

/*
 * What the client got must be valid responses to what it asked, framed
 * alike by both parsers, and the origin's (see the top of this file).
 * script is the origin's answer to the first request.
 */
static void
check_client_view(int nreq, const bool *head, bool eof, bool fast,
    const uint8_t *script, size_t slen, bool close_after)
{
	struct framing hg, st, origin, dflt, dflt0;
	const struct framing_msg *c, *expect, *first = NULL;
	uint32_t mask = head[0] ? 1 : 0;
	const uint8_t *in;
	const char *why;
	char msg[200];
	size_t len;

	in = rig_client_received(&len);
	framing_hourglass(&hg, HTTP_KIND_RESPONSE, in, len, eof, mask);
	if (hg.failed) {
		snprintf(msg, sizeof msg, "the client got bytes that do not "
		    "parse (%s)", hg.reason);
		client_view_broken(msg, &hg, NULL, in, len);
	}
	for (size_t i = 0; i < hg.n; i++)
		if (hg.msgs[i].head_done && hg.msgs[i].status < 200) {
			snprintf(msg, sizeof msg, "the proxy relayed an "
			    "interim %d", hg.msgs[i].status);
			client_view_broken(msg, &hg, NULL, in, len);
		}
	if (hg.n > (size_t)nreq)
		client_view_broken("bytes after the last response", &hg, NULL,
		    in, len);

	framing_strict(&st, HTTP_KIND_RESPONSE, in, len, eof, mask);
	if (st.failed) {
		snprintf(msg, sizeof msg, "framing property: strict llhttp "
		    "refuses what the client received, near byte %zu: %s",
		    st.fail_at, st.reason);
		client_view_broken(msg, &st, NULL, in, len);
	}
	if ((why = framing_differ(&hg, &st)) != NULL) {
		snprintf(msg, sizeof msg, "framing property: hourglass's "
		    "parser and strict llhttp frame what the client received "
		    "differently: %s", why);
		client_view_broken(msg, &st, NULL, in, len);
	}

	framing_hourglass(&origin, HTTP_KIND_RESPONSE, script, slen,
	    close_after, mask);
	for (size_t i = 0; i < origin.n && first == NULL; i++)
		if (origin.msgs[i].head_done && origin.msgs[i].status >= 200)
			first = &origin.msgs[i];
	framing_hourglass(&dflt, HTTP_KIND_RESPONSE,
	    (const uint8_t *)origin_default, sizeof origin_default - 1, false,
	    0);
	framing_hourglass(&dflt0, HTTP_KIND_RESPONSE,
	    (const uint8_t *)origin_default, sizeof origin_default - 1, false,
	    mask);
	for (size_t i = 0; i < st.n; i++) {
		c = &st.msgs[i];
		if (!c->head_done)
			continue;	/* its head cut short: the last */
		expect = i == 0 ? first : &dflt.msgs[0];
		if (relayed(c, expect, fast))
			continue;
		/* The fast proxy retries a GET that got no response byte: the
		 * origin answers the second try by default. */
		if (fast && i == 0 && relayed(c, &dflt0.msgs[0], fast))
			continue;
		if (proxy_page(c, in, head[i]) &&
		    (fast || (i == 0 && (first == NULL || !first->done))))
			continue;
		snprintf(msg, sizeof msg, "framing property: response %zu "
		    "(%d, %zu body bytes, %s) is not the origin's%s", i,
		    c->status, c->body_len, c->done ? c->by_eof ?
		    "ended by the close" : "whole" : "cut short",
		    i == 0 ? "" : " default answer");
		client_view_broken(msg, &st, i == 0 ? &origin : &dflt, in,
		    len);
	}
	framing_free(&dflt0);
	framing_free(&dflt);
	framing_free(&origin);
	framing_free(&st);
	framing_free(&hg);
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
	check_client_view(nreq, head, rig_client_eof(), (flags & 0x01) != 0,
	    data, size, (flags & 0x04) != 0);
	rig_client_close();
	return 0;
}
