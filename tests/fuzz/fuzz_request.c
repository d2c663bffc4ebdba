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
	framing_check_forwarded("fuzz_request");
	return 0;
}
