/*
 * fuzz_tls.c: libFuzzer target for a TLS listener.  The rig (fuzz_rig.c)
 * hands the connection to client_accept() with a server context tls.c
 * built, as the proxy's TLS listeners do, so everything runs through the
 * daemon's code: conn.c's handshake from the events, the SNI, ALPN and
 * ticket callbacks, the client_header deadline, TLS reads and writes
 * under the request path, and the close.
 *
 * Two modes.  Raw (the default): the input is what a client sends to the
 * TLS port, handshake records or anything else.  TLS client: an OpenSSL
 * client of the rig's does a real handshake, and the input is the
 * plaintext it sends through it, HTTP to the proxy's routes and the rig's
 * origin (fuzz_rig.c), as in fuzz_request.
 *
 * The certificates are made at start (testcert.c: OpenSSL's API) in a
 * temporary directory, loaded, and removed: P-256 for fuzz.test, the
 * first and default, and RSA for *.wild.test, so that SNI picks either and
 * both kinds of signature run.
 *
 * Input layout:
 *   byte 0  flags: 0x01 the fast proxy (client_header of 3 ms and the
 *           other timeouts of milliseconds, which the rig waits for);
 *           0x02 the client half-closes after sending (a close_notify
 *           first, in TLS client mode); 0x04 the smallest socket buffers;
 *           0x08 an IPv6 client address; 0x10 TLS client mode, where 0x20
 *           offers TLS 1.2 only and 0x40 names a.wild.test (the RSA
 *           certificate) instead of fuzz.test
 *   byte 1  piece: 0 sends the rest at once; n sends it n bytes at a time
 *           (in TLS client mode, a record each), the loop running until
 *           nothing moves after each piece (at most 64 pieces, then the
 *           rest at once), to cut records and messages anywhere
 *   rest    the bytes the client sends
 *
 * Besides the rig's checks (no client, request or descriptor left, no
 * leak; a client still in its handshake has a deadline armed; every
 * forwarded head has the proxy's X-Forwarded-Proto, https over TLS), in
 * raw mode each input must:
 * - reach no upstream: no request can come out of a handshake a fuzzed
 *   client cannot finish;
 * - get back only whole TLS records (handshake, alerts, change cipher
 *   spec, or TLS 1.3's encrypted handshake), never an HTTP response, even
 *   to plain HTTP (that gets the connection closed, with nothing).
 * In TLS client mode the handshake completes on the slow proxy, and what
 * reaches the origin obeys fuzz_request's framing property: each upstream
 * message is one the client sent, in order, as strict llhttp frames it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_framing.h"
#include "fuzz_rig.h"
#include "testcert.h"
#include "tls.h"

#define PIECES_MAX	64

#define F_FAST		0x01
#define F_HALF_CLOSE	0x02
#define F_TIGHT		0x04
#define F_V6		0x08
#define F_CLIENT	0x10
#define F_TLS12		0x20
#define F_WILD		0x40

static struct tls_server *server;
static struct tls_client *client_any, *client_12;	/* no verification */

/* A broken property: say what, and crash so that libFuzzer keeps it. */
static void __attribute__((noreturn))
fuzz_tls_fail(const char *why)
{
	fprintf(stderr, "fuzz_tls: %s\n", why);
	abort();
}

/* Make the certificates in a temporary directory, build the server
 * context from them, and remove the files. */
static void
fuzz_tls_server(void)
{
	static const char *const ec_dns[] = { "fuzz.test", NULL };
	static const char *const rsa_dns[] = { "*.wild.test", NULL };
	struct testcert certs[2];
	struct tls_cert_conf cc[2];
	struct tls_server_conf sc = { cc, 2, NULL, NULL };
	char dir[] = "/tmp/hg-fuzz-tls.XXXXXX";
	char paths[4][64], err[256];

	if (mkdtemp(dir) == NULL)
		fuzz_tls_fail("mkdtemp");
	if (testcert_make(&certs[0], TESTCERT_EC, "fuzz.test", ec_dns, NULL,
	    false) != 0 || testcert_make(&certs[1], TESTCERT_RSA, "wild",
	    rsa_dns, NULL, false) != 0)
		fuzz_tls_fail("cannot make the certificates");
	for (int i = 0; i < 2; i++) {
		snprintf(paths[2 * i], sizeof paths[0], "%s/%d.pem", dir, i);
		snprintf(paths[2 * i + 1], sizeof paths[0], "%s/%d.key", dir,
		    i);
		if (testcert_write(&certs[i], paths[2 * i],
		    paths[2 * i + 1]) != 0)
			fuzz_tls_fail("cannot write the certificates");
		cc[i].tc_cert = paths[2 * i];
		cc[i].tc_key = paths[2 * i + 1];
	}
	server = tls_server_new(&sc, err, sizeof err);
	for (int i = 0; i < 4; i++)
		unlink(paths[i]);
	rmdir(dir);
	testcert_free(&certs[0]);
	testcert_free(&certs[1]);
	if (server == NULL)
		fuzz_tls_fail(err);
}

/* The client contexts of TLS client mode: any version, and TLS 1.2. */
static void
fuzz_tls_clients(void)
{
	struct tls_client_conf cc = { .tcl_verify = false };
	char err[256];

	if ((client_any = tls_client_new(&cc, err, sizeof err)) == NULL)
		fuzz_tls_fail(err);
	cc.tcl_protocols = "TLSv1.2";
	if ((client_12 = tls_client_new(&cc, err, sizeof err)) == NULL)
		fuzz_tls_fail(err);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rig_init();
	fuzz_tls_server();
	fuzz_tls_clients();
	return 0;
}

/*
 * What the client got must be whole TLS records: type 20 to 23, a version
 * 3.x, a length of at most 2^14 + 256 (a ciphertext's bound).
 */
static void
check_records(const uint8_t *b, size_t len)
{
	char why[160];
	size_t at = 0, n;

	while (at < len) {
		if (len - at < 5) {
			snprintf(why, sizeof why, "the client got %zu bytes "
			    "of a record header at byte %zu", len - at, at);
			fuzz_tls_fail(why);
		}
		n = (size_t)b[at + 3] << 8 | b[at + 4];
		if (b[at] < 20 || b[at] > 23 || b[at + 1] != 3 ||
		    n > 16384 + 256) {
			snprintf(why, sizeof why, "the client got something "
			    "else than a TLS record at byte %zu: %02x %02x "
			    "%02x, length %zu%s", at, b[at], b[at + 1],
			    b[at + 2], n, memcmp(b + at, "HTTP/", 5) == 0 ?
			    " (an HTTP response)" : "");
			fuzz_tls_fail(why);
		}
		if (len - at - 5 < n) {
			snprintf(why, sizeof why, "the client got a record "
			    "cut short at byte %zu: %zu of %zu bytes", at,
			    len - at - 5, n);
			fuzz_tls_fail(why);
		}
		at += 5 + n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags, open = 0;
	const uint8_t *got;
	size_t piece, len;
	SSL *ssl = NULL;
	bool slow;

	if (size < 2)
		return 0;
	flags = data[0];
	piece = data[1];
	data += 2;
	size -= 2;
	slow = !(flags & F_FAST);
	if (flags & F_TIGHT)
		open |= RIG_TIGHT;
	if (flags & F_V6)
		open |= RIG_V6;
	if ((flags & F_CLIENT) && (ssl = tls_client_ssl(flags & F_TLS12 ?
	    client_12 : client_any, flags & F_WILD ? "a.wild.test" :
	    "fuzz.test", NULL, NULL)) == NULL)
		fuzz_tls_fail("tls_client_ssl");
	rig_client_open_tls(slow ? RIG_SLOW : RIG_FAST, open, server, ssl);
	for (int i = 0; piece > 0 && i < PIECES_MAX && size > piece; i++) {
		rig_client_send(data, piece);
		data += piece;
		size -= piece;
	}
	rig_client_send(data, size);
	if (ssl != NULL && slow && !SSL_is_init_finished(ssl))
		fuzz_tls_fail("the handshake with the slow proxy did not "
		    "complete");
	if (flags & F_HALF_CLOSE)
		rig_client_shutdown();
	rig_wait_timers();
	rig_client_close();
	if (ssl != NULL) {
		framing_check_forwarded("fuzz_tls");
		return 0;
	}
	if (rig_upstream_count() != 0)
		fuzz_tls_fail("a request reached the upstream");
	got = rig_client_received(&len);
	check_records(got, len);
	return 0;
}
