/*
 * fuzz_rig.h: the in-process test bench the proxy fuzz targets share.
 *
 * One event base holds everything: two proxies, an upstream origin and the
 * fuzzed client.  The origin listens on 127.0.0.1 and answers each request
 * by its path (see fuzz_rig.c), or with a scripted response; the client is
 * one end of a socketpair whose other end is handed to client_accept().
 *
 * RIG_SLOW has timeouts of seconds that never fire during an input, so
 * runs are repeatable; what is still open at the end of an input is closed
 * by the rig.  RIG_FAST has timeouts of a few milliseconds, and the rig
 * waits for them, so that the cancel paths run too.
 *
 * Every input ends with the same checks: no client connection, request,
 * upstream connection or descriptor may be left once the client has gone
 * and the pools are emptied; every forwarded head carries the proxy's own
 * X-Forwarded-Proto.  A broken check prints why and aborts, which libFuzzer
 * reports as a crash.
 */
#ifndef HG_FUZZ_RIG_H
#define HG_FUZZ_RIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rig_which {
	RIG_SLOW,		/* timeouts of seconds: closed by the rig */
	RIG_FAST,		/* timeouts of milliseconds: closed by them */
};

/* The libFuzzer entry points each target defines. */
int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Build the base, the origin and both proxies (once). */
void	rig_init(void);

#define RIG_V6		0x01	/* the client's address is IPv6 */
#define RIG_TIGHT	0x02	/* the smallest client socket buffers */
#define RIG_UNIX	0x04	/* the peer is a unix socket (an adopted
				   listener could be one) */
#define RIG_TIGHT_UP	0x08	/* the smallest buffers on the proxy's
				   upstream sockets */

/* Open a client connection to a proxy, with RIG_* flags. */
void	rig_client_open(enum rig_which, unsigned flags);

/*
 * The same on a TLS listener with these certificates (NULL: plain), as
 * the proxy's listeners hand their connections to client_accept().  With
 * client NULL the rig's client sends raw bytes (the caller's to make TLS
 * or not); otherwise it speaks TLS through client (an SSL in client mode,
 * which the rig takes and frees): the handshake starts at once, sends wait
 * for it, and what is sent and received is the plaintext.  The origin then
 * checks that every forwarded head says X-Forwarded-Proto: https.
 */
struct tls_server;
struct ssl_st;
void	rig_client_open_tls(enum rig_which, unsigned flags,
	    struct tls_server *, struct ssl_st *client);

/* The client's TLS (NULL: raw bytes), until rig_client_close(). */
struct ssl_st *rig_client_tls(void);

/* Queue bytes to send (the caller keeps them alive) and run the loop until
 * nothing moves.  Bytes the proxy will not read stay unsent. */
void	rig_client_send(const uint8_t *, size_t);

/* Half-close the client's sending side (a client FIN). */
void	rig_client_shutdown(void);

/* Run the loop until no event is ready, without waiting for timers. */
void	rig_settle(void);

/* RIG_FAST: wait for the proxy's timers to end the exchange, if they will. */
void	rig_wait_timers(void);

/* Close the client, let the proxy clean up, empty the pools, and check that
 * nothing is left behind. */
void	rig_client_close(void);

/* The bytes the client received so far. */
const uint8_t *rig_client_received(size_t *len);

/* Whether the proxy closed or half-closed the client connection. */
bool	rig_client_eof(void);

/* The bytes the client has sent so far (taken by its socket). */
const uint8_t *rig_client_sent(size_t *len);

/*
 * The upstream connections the origin has closed since the client was
 * opened, in the order they closed (after rig_client_close(), all of
 * them): how many, and every byte the i-th received.  Valid until the
 * next rig_client_open().
 */
size_t	rig_upstream_count(void);
const uint8_t *rig_upstream_bytes(size_t i, size_t *len);

/*
 * Script the origin's answer to the next request it reads: the first split
 * bytes go out when the request is complete, the rest on rig_origin_flush().
 * close_after: the origin closes the connection once it has sent it all.
 * The bytes must stay alive until rig_client_close().
 */
void	rig_origin_script(const uint8_t *, size_t len, size_t split,
	    bool close_after);

/* Send the rest of the scripted answer, and run the loop until quiet. */
void	rig_origin_flush(void);

#endif
