/*
 * tls.h: TLS contexts on OpenSSL 3, for both sides of the proxy.
 *
 * A server context holds the certificates of a configuration, one
 * OpenSSL context each; SNI picks the one whose names (DNS SANs, else the
 * common name; "*.example.com" matches one label) match, and no match, or
 * no SNI, gets the first.  Protocols default to TLS 1.2 and 1.3, TLS 1.2
 * ciphers to Mozilla's "intermediate" list, groups to X25519 and P-256;
 * ALPN offers http/1.1 only; renegotiation is refused; session tickets are
 * on, with keys hourglass makes and rotates itself (process-wide, so that
 * tickets outlive a reload).
 *
 * A client context is an upstream group's: whether and against what to
 * verify the server's certificate, and a certificate of our own.  Each
 * connection names its SNI and the host its certificate must match.
 *
 * Contexts are built at start and on reload (they read files), are
 * immutable afterwards, and are shared by the workers' threads.  Errors
 * are returned with a message; nothing here logs.
 */
#ifndef HG_TLS_H
#define HG_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* The defaults of the configuration keys. */
#define TLS_DEFAULT_PROTOCOLS	"TLSv1.2 TLSv1.3"
#define TLS_DEFAULT_CIPHERS						\
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"	\
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"	\
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"	\
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"		\
	"DHE-RSA-CHACHA20-POLY1305"

/* A certificate and its key (key NULL: in the certificate's file). */
struct tls_cert_conf {
	const char	*tc_cert;
	const char	*tc_key;
};

struct tls_server_conf {
	const struct tls_cert_conf *ts_certs;
	size_t		 ts_ncerts;
	const char	*ts_protocols;	/* NULL: TLS_DEFAULT_PROTOCOLS */
	const char	*ts_ciphers;	/* NULL: TLS_DEFAULT_CIPHERS */
};

struct tls_client_conf {
	bool		 tcl_verify;
	const char	*tcl_ca;	/* NULL: the system store */
	const struct tls_cert_conf *tcl_cert;	/* NULL: none */
	const char	*tcl_protocols;
	const char	*tcl_ciphers;
};

/*
 * Checks of the configuration's values, each -1 with a reason in err:
 * a certificate and its key load and match (the reason names the file);
 * a protocol list is of TLSv1.2 and TLSv1.3; a TLS 1.2 cipher list in
 * OpenSSL's syntax selects ciphers, and each word that adds some selects
 * at least one.
 */
int	 tls_cert_check(const struct tls_cert_conf *, char *err,
	    size_t errlen);
int	 tls_protocols_check(const char *, char *err, size_t errlen);
int	 tls_ciphers_check(const char *, char *err, size_t errlen);

/* Why a handshake failed, as the metrics count it. */
enum tls_fail {
	TLS_FAIL_TIMEOUT,		/* a deadline ran out during it */
	TLS_FAIL_PROTOCOL,		/* not TLS, a bad record, a version */
	TLS_FAIL_NO_SHARED_CIPHER,
	TLS_FAIL_CERTIFICATE,		/* the peer's certificate was refused */
	TLS_FAIL_CLOSED,		/* the peer went away during it */
	TLS_FAIL_OTHER,
	TLS_FAIL_COUNT
};

struct tls_server;
struct tls_client;

/* Build a server context; NULL with err (naming the file at fault). */
struct tls_server *tls_server_new(const struct tls_server_conf *, char *err,
	    size_t errlen);
void	 tls_server_free(struct tls_server *);

/* A new connection's TLS, in server mode; NULL when memory is exhausted. */
SSL	*tls_server_ssl(struct tls_server *);

/* Build a client context; NULL with err. */
struct tls_client *tls_client_new(const struct tls_client_conf *, char *err,
	    size_t errlen);
void	 tls_client_free(struct tls_client *);

/*
 * A new connection's TLS, in client mode: sni is sent (NULL: none, for an
 * address), host is what the certificate must name (a name or an address),
 * and session, when not NULL, is offered for resumption.  NULL when memory
 * is exhausted.
 */
SSL	*tls_client_ssl(struct tls_client *, const char *sni, const char *host,
	    SSL_SESSION *session);

/*
 * Where the sessions servers give client connections go, process-wide:
 * cb(arg, session) gets a reference it keeps or frees; arg is the one set
 * on the connection's SSL with tls_set_session_arg() (none: dropped).  Set
 * it once, before the first connection.
 */
void	 tls_client_session_hook(void (*cb)(void *arg, SSL_SESSION *));
void	 tls_set_session_arg(SSL *, void *arg);

/* The reason a handshake failed, and a message for the error log ("tls
 * handshake: certificate verify failed: unable to get local issuer
 * certificate").  ssl_err is SSL_get_error()'s answer. */
enum tls_fail tls_fail_reason(SSL *, int ssl_err, char *why, size_t len);

/* The name of a reason ("timeout", "protocol", ...). */
const char *tls_fail_name(enum tls_fail);

/* The negotiated protocol's name, "TLSv1.3", or "-". */
const char *tls_version(const SSL *);

#endif
