/*
 * fuzz_request.c: libFuzzer target for the request path.  The input is
 * what a client sends; the proxy handles it to the end, against the rig's
 * origin (fuzz_rig.c): routing, forwarding, bodies, pipelining, rejects,
 * retries and, with the fast proxy, every timeout.
 *
 * Input layout:
 *   byte 0  flags: 0x01 the fast proxy (timeouts of milliseconds);
 *           0x02 an IPv6 client; 0x04 the client half-closes after
 *           sending; 0x08 the smallest client socket buffers; 0x40
 *           the peer address is a unix socket's; 0x80 the smallest
 *           buffers on the proxy's upstream sockets
 *   byte 1  split: the first (n * split / 256) bytes of the rest go out,
 *           the loop runs until nothing moves, then the rest goes out
 *   rest    the bytes the client sends
 * The seeds start with two printable bytes ("0@", "1 ") for that reason:
 * the flags of the digits '0' to '?' are their low four bits, 'P' is 0x40.
 *
 * Besides the rig's checks, the framing property: what each upstream
 * connection received, parsed by strict llhttp, is a run of whole messages
 * that strict llhttp accepts (the last may be cut short) and that
 * hourglass's parser frames the same way; and each of them is one of the
 * messages hourglass's parser finds in what the client sent, with the same
 * method, target path and body bytes, in the client's order.  A cut
 * message must begin like one of the client's.  Retries may send a
 * message again on another connection.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_framing.h"
#include "fuzz_rig.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rig_init();
	return 0;
}

/* Whether a forwarded message f stands for the client's message c: the
 * same method and target, and the same body (or its start, cut short). */
static bool
same_request(const struct framing_msg *f, const struct framing_msg *c)
{
	if (!c->head_done || f->method != c->method ||
	    f->url_len != c->url_len || memcmp(f->url, c->url, f->url_len) != 0)
		return false;
	if (f->done)
		return c->done && framing_body_in(f, c, false);
	return framing_body_in(f, c, true);
}

/* The framing property broken: say how, show both sides, and crash. */
static void __attribute__((noreturn))
framing_broken(const char *why, size_t conn, const struct framing *client,
    const struct framing *up, const uint8_t *cb, size_t clen,
    const uint8_t *ub, size_t ulen)
{
	fprintf(stderr, "fuzz_request: framing property: upstream connection "
	    "%zu: %s\n", conn, why);
	framing_print(stderr, "hourglass's parse of what the client sent",
	    client);
	framing_print(stderr, "strict llhttp's parse of what the upstream "
	    "received", up);
	framing_print_bytes(stderr, "the client sent", cb, clen);
	framing_print_bytes(stderr, "the upstream received", ub, ulen);
	abort();
}

/* Check every upstream connection against what the client sent. */
static void
check_forwarded(void)
{
	struct framing client, st, hg;
	const uint8_t *cb, *ub;
	const char *why;
	char msg[160];
	size_t clen, ulen, next;

	cb = rig_client_sent(&clen);
	framing_hourglass(&client, HTTP_KIND_REQUEST, cb, clen, false, 0);
	for (size_t u = 0; u < rig_upstream_count(); u++) {
		ub = rig_upstream_bytes(u, &ulen);
		framing_hourglass(&hg, HTTP_KIND_REQUEST, ub, ulen, true, 0);
		framing_strict(&st, HTTP_KIND_REQUEST, ub, ulen, true, 0);
		if (st.failed) {
			snprintf(msg, sizeof msg, "strict llhttp refuses it "
			    "near byte %zu: %s", st.fail_at, st.reason);
			framing_broken(msg, u, &client, &st, cb, clen, ub,
			    ulen);
		}
		if ((why = framing_differ(&hg, &st)) != NULL) {
			snprintf(msg, sizeof msg, "hourglass's parser and "
			    "strict llhttp frame it differently: %s", why);
			framing_broken(msg, u, &client, &st, cb, clen, ub,
			    ulen);
		}
		framing_free(&hg);
		next = 0;
		for (size_t i = 0; i < st.n; i++) {
			const struct framing_msg *f = &st.msgs[i];

			if (!f->head_done)
				break;	/* cut in the head: nothing to say */
			while (next < client.n &&
			    !same_request(f, &client.msgs[next]))
				next++;
			if (next == client.n) {
				snprintf(msg, sizeof msg, "message %zu (%s) is "
				    "none of the client's, in order", i,
				    f->done ? "whole" : "cut short");
				framing_broken(msg, u, &client, &st, cb, clen,
				    ub, ulen);
			}
			next++;
		}
		framing_free(&st);
	}
	framing_free(&client);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags, open = 0;
	size_t split;

	if (size < 2)
		return 0;
	flags = data[0];
	split = (size - 2) * data[1] / 256;
	data += 2;
	size -= 2;
	if (flags & 0x02)
		open |= RIG_V6;
	if (flags & 0x08)
		open |= RIG_TIGHT;
	if (flags & 0x40)
		open |= RIG_UNIX;
	if (flags & 0x80)
		open |= RIG_TIGHT_UP;
	rig_client_open(flags & 0x01 ? RIG_FAST : RIG_SLOW, open);
	rig_client_send(data, split);
	rig_client_send(data + split, size - split);
	if (flags & 0x04)
		rig_client_shutdown();
	rig_wait_timers();
	rig_client_close();
	check_forwarded();
	return 0;
}
