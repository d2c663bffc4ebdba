/*
 * tls.c: TLS contexts on OpenSSL 3; see tls.h.
 *
 * Session ticket keys.  Every server context encrypts tickets with the
 * process's current key and decrypts with it or the one before, so that a
 * ticket stays good for up to two rotation periods and across reloads.  The
 * keys are numbered from 0 as they are made, and key n sits in slot n % 4 of
 * a ring; the callback reads the current key's number with an atomic load,
 * and a rotation (at most one per period, done by the first handshake that
 * finds it due, under a mutex) writes the slot after it before it moves
 * the number, so no reader ever sees a key being written: a slot is
 * rewritten only three periods after it last served.  Only keys that were
 * made are tried: a slot never written holds zero bytes, a key anyone
 * could forge tickets with.
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tls.h"

#define TLS_TICKET_PERIOD	(12 * 3600)	/* seconds a key encrypts */
#define TLS_TICKET_SLOTS	4
#define TLS_SESSION_TIMEOUT	(2 * TLS_TICKET_PERIOD)
#define TLS_GROUPS		"X25519:P-256"

/* One certificate's context and the names SNI can pick it by. */
struct tls_server_cert {
	SSL_CTX		*sc_ctx;
	char		**sc_names;		/* lower case; "*." wildcards */
	size_t		 sc_nnames;
};

struct tls_server {
	struct tls_server_cert *ts_certs;	/* [0] is the default */
	size_t		 ts_ncerts;
};

struct tls_client {
	SSL_CTX		*tc_ctx;
};

/* A ticket key: its name, and the keys of the cipher and of the MAC. */
struct tls_ticket_key {
	unsigned char	 tk_name[16];
	unsigned char	 tk_aes[32];
	unsigned char	 tk_hmac[32];
};

static struct tls_ticket_key tls_keys[TLS_TICKET_SLOTS];
static atomic_uint	 tls_key_cur;		/* the number of the key that
						   encrypts */
static atomic_llong	 tls_key_due;		/* when to rotate (time());
						   0: no key made yet */
static pthread_mutex_t	 tls_key_lock = PTHREAD_MUTEX_INITIALIZER;
static int		 tls_ex_session = -1;	/* SSL ex data: session arg */
static int		 tls_ex_server = -1;	/* SSL_CTX ex data: its server */
static pthread_once_t	 tls_once = PTHREAD_ONCE_INIT;
static void		(*tls_session_hook)(void *, SSL_SESSION *);

static const char *const tls_fail_names[TLS_FAIL_COUNT] = {
	[TLS_FAIL_TIMEOUT] = "timeout",
	[TLS_FAIL_PROTOCOL] = "protocol",
	[TLS_FAIL_NO_SHARED_CIPHER] = "no_shared_cipher",
	[TLS_FAIL_CERTIFICATE] = "certificate",
	[TLS_FAIL_CLOSED] = "closed",
	[TLS_FAIL_OTHER] = "other",
};

static void	tls_server_release(struct tls_server *);

/*
 * A server context lives as long as its default OpenSSL context: a
 * connection still in its handshake after a reload freed the
 * configuration holds that context, and SNI reads the server's names.
 */
static void
tls_server_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr != NULL)
		tls_server_release(ptr);
}

/* Once per process: the ex data indexes. */
static void
tls_init_once(void)
{
	tls_ex_session = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	tls_ex_server = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
	    tls_server_ex_free);
}

/*
 * Write "prefix file: reason" into err, and clear OpenSSL's errors.  The
 * reason is the system's when a call failed on the file (a missing file,
 * no permission), else the first error OpenSSL queued: the cause, where the
 * later ones are the callers' "PEM lib" and the like.
 */
static void
tls_error(char *err, size_t len, const char *prefix, const char *file)
{
	unsigned long first = 0, sys = 0, e;
	bool nostart = false, nokey = false, pass = false;
	const char *reason = NULL;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		if (first == 0)
			first = e;
		if (ERR_GET_LIB(e) == ERR_LIB_SYS && sys == 0)
			sys = e;
		if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
		    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
			nostart = true;
		if (ERR_GET_LIB(e) == ERR_LIB_OSSL_DECODER &&
		    ERR_GET_REASON(e) == ERR_R_UNSUPPORTED)
			nokey = true;
		if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
		    ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ)
			pass = true;
	}
	if (sys != 0)
		reason = strerror(ERR_GET_REASON(sys));
	else if (pass)
		reason = "it is encrypted (hourglass takes keys without a "
		    "passphrase)";
	else if (nostart)
		reason = "no PEM certificate in it (no -----BEGIN line)";
	else if (nokey)
		reason = "no PEM private key in it";
	else if (first != 0 && ERR_reason_error_string(first) != NULL)
		reason = ERR_reason_error_string(first);
	else if (first != 0) {
		/* "error:0A000086:SSL routines::certificate verify failed" */
		ERR_error_string_n(first, buf, sizeof buf);
		reason = buf;
	}
	snprintf(err, len, "%s%s%s%s%s", prefix, file ? " " : "",
	    file ? file : "", reason ? ": " : "", reason ? reason : "");
}

/*
 * Check that a file to load is a regular file, so that a directory, a
 * device or a FIFO named by mistake fails at once instead of being read
 * for ever; -1 with "prefix file: reason" in err.
 */
static int
tls_file_check(const char *file, const char *prefix, char *err, size_t len)
{
	struct stat st;
	const char *why;

	if (stat(file, &st) != 0)
		why = strerror(errno);
	else if (S_ISDIR(st.st_mode))
		why = strerror(EISDIR);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else
		return 0;
	snprintf(err, len, "%s %s: %s", prefix, file, why);
	return -1;
}

/* Fill a ticket key slot with fresh random bytes. */
static int
tls_key_fill(struct tls_ticket_key *k)
{
	return getrandom(k, sizeof *k, 0) == (ssize_t)sizeof *k ? 0 : -1;
}

/*
 * The number of the key that encrypts now, rotating when due: the next
 * slot is filled before the number moves to it.  A failure to get random
 * bytes keeps the current key and tries again at the next handshake; -1
 * while no key could be made at all.
 */
static long long
tls_key_current(void)
{
	long long now = (long long)time(NULL), due;
	unsigned cur, next;

	if (now < atomic_load_explicit(&tls_key_due, memory_order_acquire))
		return atomic_load_explicit(&tls_key_cur, memory_order_acquire);
	pthread_mutex_lock(&tls_key_lock);
	cur = atomic_load(&tls_key_cur);
	due = atomic_load(&tls_key_due);
	if (now >= due) {
		next = due == 0 ? cur : cur + 1;
		if (tls_key_fill(&tls_keys[next % TLS_TICKET_SLOTS]) == 0) {
			atomic_store_explicit(&tls_key_cur, next,
			    memory_order_release);
			due = now + TLS_TICKET_PERIOD;
			atomic_store_explicit(&tls_key_due, due,
			    memory_order_release);
			cur = next;
		}
	}
	pthread_mutex_unlock(&tls_key_lock);
	return due != 0 ? (long long)cur : -1;
}

/* Set up the cipher and MAC contexts with a ticket key. */
static int
tls_key_use(const struct tls_ticket_key *k, unsigned char *iv,
    EVP_CIPHER_CTX *c, EVP_MAC_CTX *h, int enc)
{
	OSSL_PARAM params[2];

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(h, params) != 1 ||
	    EVP_MAC_init(h, k->tk_hmac, sizeof k->tk_hmac, NULL) != 1)
		return -1;
	if (enc)
		return EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL,
		    k->tk_aes, iv) == 1 ? 0 : -1;
	return EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, k->tk_aes,
	    iv) == 1 ? 0 : -1;
}

/*
 * OpenSSL's ticket key callback: encrypt with the current key; decrypt with
 * the current one (1) or the one before (2: the ticket is renewed), never
 * with a key not made yet.  No key at all: no ticket, a full handshake.
 * Under TLS 1.3 every ticket is renewed: clients use a ticket once
 * (OpenSSL's will not offer it again), and OpenSSL sends new tickets after
 * a resumption only when asked to, so without them every other connection
 * of a client would be a full handshake.
 */
static int
tls_ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *c, EVP_MAC_CTX *h, int enc)
{
	long long cur = tls_key_current();
	const struct tls_ticket_key *k;

	if (cur < 0)
		return 0;
	if (enc) {
		k = &tls_keys[cur % TLS_TICKET_SLOTS];
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
			return -1;
		memcpy(name, k->tk_name, sizeof k->tk_name);
		return tls_key_use(k, iv, c, h, 1) == 0 ? 1 : -1;
	}
	for (long long back = 0; back < 2 && back <= cur; back++) {
		k = &tls_keys[(cur - back) % TLS_TICKET_SLOTS];
		if (memcmp(name, k->tk_name, sizeof k->tk_name) != 0)
			continue;
		if (tls_key_use(k, iv, c, h, 0) != 0)
			return -1;
		return back == 0 && SSL_version(ssl) != TLS1_3_VERSION ? 1 : 2;
	}
	return 0;	/* unknown key: a full handshake */
}

/*
 * Read a protocol list, "TLSv1.2 TLSv1.3" (blanks or commas between the
 * words), into the lowest and highest version; -1 for anything else.
 */
static int
tls_protocols_parse(const char *list, int *lo, int *hi)
{
	const char *p = list;
	size_t n;
	int v;

	*lo = *hi = 0;
	while (*p != '\0') {
		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == 0)
			break;
		if (n == 7 && strncmp(p, "TLSv1.2", 7) == 0)
			v = TLS1_2_VERSION;
		else if (n == 7 && strncmp(p, "TLSv1.3", 7) == 0)
			v = TLS1_3_VERSION;
		else
			return -1;
		if (*lo == 0 || v < *lo)
			*lo = v;
		if (v > *hi)
			*hi = v;
		p += n;
	}
	return *lo == 0 ? -1 : 0;
}

/* Set the protocol range from a list; -1 for a bad one. */
static int
tls_protocols(SSL_CTX *ctx, const char *list)
{
	int lo, hi;

	if (tls_protocols_parse(list, &lo, &hi) != 0)
		return -1;
	return SSL_CTX_set_min_proto_version(ctx, lo) == 1 &&
	    SSL_CTX_set_max_proto_version(ctx, hi) == 1 ? 0 : -1;
}

/* What both sides' contexts share: protocols, ciphers, groups, options. */
static int
tls_ctx_common(SSL_CTX *ctx, const char *protocols, const char *ciphers,
    char *err, size_t errlen)
{
	if (tls_protocols(ctx, protocols ? protocols :
	    TLS_DEFAULT_PROTOCOLS) != 0) {
		snprintf(err, errlen, "tls_protocols \"%s\": not a list of "
		    "TLSv1.2 and TLSv1.3", protocols);
		return -1;
	}
	if (SSL_CTX_set_cipher_list(ctx, ciphers ? ciphers :
	    TLS_DEFAULT_CIPHERS) != 1) {
		tls_error(err, errlen, "tls_ciphers: no usable cipher", NULL);
		return -1;
	}
	if (SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		tls_error(err, errlen, "groups " TLS_GROUPS, NULL);
		return -1;
	}
	/* A peer that closes without a close_notify ends the stream: the
	 * HTTP framing says whether what came is whole. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Writes may stop half way and go on from another address; idle
	 * connections give their buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/* Read what the socket has, not a record's header and then its
	 * body: one read(2) a request instead of two.  Bytes read ahead are
	 * in OpenSSL, not the socket: conn.c asks SSL_has_pending(). */
	SSL_CTX_set_read_ahead(ctx, 1);
	return 0;
}

/* The passphrase callback: there is none, so an encrypted key fails
 * instead of prompting on a terminal. */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/* Whether the newest OpenSSL error is lib's reason. */
static bool
tls_last_error_is(int lib, int reason)
{
	unsigned long e = ERR_peek_last_error();

	return ERR_GET_LIB(e) == lib && ERR_GET_REASON(e) == reason;
}

/* Load a certificate chain and its key into ctx, and check they match. */
static int
tls_load_cert(SSL_CTX *ctx, const struct tls_cert_conf *c, char *err,
    size_t errlen)
{
	const char *key = c->tc_key ? c->tc_key : c->tc_cert;

	SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);
	if (tls_file_check(c->tc_cert, "cannot load the certificate", err,
	    errlen) != 0 || tls_file_check(key, "cannot load the private key",
	    err, errlen) != 0)
		return -1;
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tc_cert) != 1) {
		tls_error(err, errlen, "cannot load the certificate",
		    c->tc_cert);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		if (tls_last_error_is(ERR_LIB_X509,
		    X509_R_KEY_VALUES_MISMATCH)) {
			ERR_clear_error();
			snprintf(err, errlen, "the private key %s does not "
			    "match the certificate %s", key, c->tc_cert);
		} else
			tls_error(err, errlen, "cannot load the private key",
			    key);
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "the private key %s does not match the "
		    "certificate %s", key, c->tc_cert);
		return -1;
	}
	return 0;
}

/* Add a name (lower case) to a certificate's list. */
static int
tls_add_name(struct tls_server_cert *sc, const char *s, size_t n)
{
	char **v, *name;

	if ((name = strndup(s, n)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] |= 0x20;
	if ((v = realloc(sc->sc_names, (sc->sc_nnames + 1) * sizeof *v)) ==
	    NULL) {
		free(name);
		return -1;
	}
	v[sc->sc_nnames++] = name;
	sc->sc_names = v;
	return 0;
}

/* The names SNI may pick a certificate by: its DNS SANs, else its CN. */
static int
tls_cert_names(struct tls_server_cert *sc)
{
	X509 *x = SSL_CTX_get0_certificate(sc->sc_ctx);
	GENERAL_NAMES *sans;
	const GENERAL_NAME *gn;
	X509_NAME_ENTRY *e;
	ASN1_STRING *a;
	int i, rc = 0;

	if (x == NULL)
		return -1;
	sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type != GEN_DNS)
			continue;
		a = gn->d.dNSName;
		if (tls_add_name(sc, (const char *)ASN1_STRING_get0_data(a),
		    (size_t)ASN1_STRING_length(a)) != 0)
			rc = -1;
	}
	GENERAL_NAMES_free(sans);
	if (sc->sc_nnames > 0 || rc != 0)
		return rc;
	i = X509_NAME_get_index_by_NID(X509_get_subject_name(x),
	    NID_commonName, -1);
	if (i >= 0 && (e = X509_NAME_get_entry(X509_get_subject_name(x),
	    i)) != NULL) {
		a = X509_NAME_ENTRY_get_data(e);
		rc = tls_add_name(sc, (const char *)ASN1_STRING_get0_data(a),
		    (size_t)ASN1_STRING_length(a));
	}
	return rc;
}

/* Whether a certificate's name matches a server name (lower case); a
 * leading "*." matches exactly one label. */
static bool
tls_name_match(const char *pattern, const char *host)
{
	const char *dot;

	if (strncmp(pattern, "*.", 2) != 0)
		return strcasecmp(pattern, host) == 0;
	if ((dot = strchr(host, '.')) == NULL || dot == host)
		return false;
	return strcasecmp(pattern + 1, dot) == 0;
}

/* SNI: move the connection to the context of the certificate that names
 * the server; no match keeps the first. */
static int
tls_servername_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_server *ts = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	if (name == NULL)
		return SSL_TLSEXT_ERR_OK;
	for (size_t i = 0; i < ts->ts_ncerts; i++) {
		const struct tls_server_cert *sc = &ts->ts_certs[i];

		for (size_t k = 0; k < sc->sc_nnames; k++) {
			if (!tls_name_match(sc->sc_names[k], name))
				continue;
			if (i != 0)
				SSL_set_SSL_CTX(ssl, sc->sc_ctx);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

/* ALPN: http/1.1 when the client offers it; no protocol otherwise. */
static int
tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, ours,
	    sizeof ours - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	return SSL_TLSEXT_ERR_OK;
}

/* Build a server context. */
struct tls_server *
tls_server_new(const struct tls_server_conf *conf, char *err, size_t errlen)
{
	struct tls_server *ts;
	struct tls_server_cert *sc;
	SSL_CTX *ctx;

	pthread_once(&tls_once, tls_init_once);
	if (conf->ts_ncerts == 0) {
		snprintf(err, errlen, "a tls listener needs a tls_certificate");
		return NULL;
	}
	if ((ts = calloc(1, sizeof *ts)) == NULL ||
	    (ts->ts_certs = calloc(conf->ts_ncerts, sizeof *sc)) == NULL) {
		free(ts);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < conf->ts_ncerts; i++) {
		sc = &ts->ts_certs[ts->ts_ncerts];
		if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
			tls_error(err, errlen, "cannot make a TLS context",
			    NULL);
			goto fail;
		}
		sc->sc_ctx = ctx;
		ts->ts_ncerts++;
		if (tls_ctx_common(ctx, conf->ts_protocols, conf->ts_ciphers,
		    err, errlen) != 0 ||
		    tls_load_cert(ctx, &conf->ts_certs[i], err, errlen) != 0)
			goto fail;
		if (tls_cert_names(sc) != 0) {
			snprintf(err, errlen, "cannot read the names of %s",
			    conf->ts_certs[i].tc_cert);
			goto fail;
		}
		SSL_CTX_set_session_id_context(ctx,
		    (const unsigned char *)"hourglass", 9);
		SSL_CTX_set_timeout(ctx, TLS_SESSION_TIMEOUT);
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb);
		SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	}
	SSL_CTX_set_tlsext_servername_callback(ts->ts_certs[0].sc_ctx,
	    tls_servername_cb);
	SSL_CTX_set_tlsext_servername_arg(ts->ts_certs[0].sc_ctx, ts);
	SSL_CTX_set_ex_data(ts->ts_certs[0].sc_ctx, tls_ex_server, ts);
	return ts;
fail:
	SSL_CTX_free(ts->ts_certs[0].sc_ctx);
	ts->ts_certs[0].sc_ctx = NULL;
	tls_server_release(ts);
	return NULL;
}

/* Free what a server context holds but its default OpenSSL context. */
static void
tls_server_release(struct tls_server *ts)
{
	for (size_t i = 0; i < ts->ts_ncerts; i++) {
		if (i > 0)
			SSL_CTX_free(ts->ts_certs[i].sc_ctx);
		for (size_t k = 0; k < ts->ts_certs[i].sc_nnames; k++)
			free(ts->ts_certs[i].sc_names[k]);
		free(ts->ts_certs[i].sc_names);
	}
	free(ts->ts_certs);
	free(ts);
}

/* Drop the configuration's hold on a server context: it goes when the
 * last connection using its default OpenSSL context does. */
void
tls_server_free(struct tls_server *ts)
{
	if (ts != NULL)
		SSL_CTX_free(ts->ts_certs[0].sc_ctx);
}

/* A new connection's TLS in server mode. */
SSL *
tls_server_ssl(struct tls_server *ts)
{
	SSL *ssl = SSL_new(ts->ts_certs[0].sc_ctx);

	if (ssl != NULL)
		SSL_set_accept_state(ssl);
	return ssl;
}

/* A new session for a client connection: hand it to the hook. */
static int
tls_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	void *arg = SSL_get_ex_data(ssl, tls_ex_session);

	if (tls_session_hook == NULL || arg == NULL)
		return 0;
	tls_session_hook(arg, sess);
	return 1;	/* the hook owns the reference */
}

/* Build a client context. */
struct tls_client *
tls_client_new(const struct tls_client_conf *conf, char *err, size_t errlen)
{
	struct tls_client *tc;

	pthread_once(&tls_once, tls_init_once);
	if ((tc = calloc(1, sizeof *tc)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((tc->tc_ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_error(err, errlen, "cannot make a TLS context", NULL);
		goto fail;
	}
	SSL_CTX_set_app_data(tc->tc_ctx, tc);
	if (tls_ctx_common(tc->tc_ctx, conf->tcl_protocols,
	    conf->tcl_ciphers, err, errlen) != 0)
		goto fail;
	if (conf->tcl_verify) {
		SSL_CTX_set_verify(tc->tc_ctx, SSL_VERIFY_PEER, NULL);
		if (conf->tcl_ca != NULL && tls_file_check(conf->tcl_ca,
		    "cannot load the CA", err, errlen) != 0)
			goto fail;
		if ((conf->tcl_ca != NULL ?
		    SSL_CTX_load_verify_locations(tc->tc_ctx, conf->tcl_ca,
		    NULL) : SSL_CTX_set_default_verify_paths(tc->tc_ctx)) !=
		    1) {
			tls_error(err, errlen, "cannot load the CA",
			    conf->tcl_ca ? conf->tcl_ca : "(system store)");
			goto fail;
		}
	}
	if (conf->tcl_cert != NULL &&
	    tls_load_cert(tc->tc_ctx, conf->tcl_cert, err, errlen) != 0)
		goto fail;
	SSL_CTX_set_session_cache_mode(tc->tc_ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(tc->tc_ctx, tls_new_session_cb);
	return tc;
fail:
	tls_client_free(tc);
	return NULL;
}

/* Free a client context. */
void
tls_client_free(struct tls_client *tc)
{
	if (tc == NULL)
		return;
	SSL_CTX_free(tc->tc_ctx);
	free(tc);
}

/* Where new client sessions go. */
void
tls_client_session_hook(void (*cb)(void *, SSL_SESSION *))
{
	tls_session_hook = cb;
}

/* Name the argument the session hook gets for this connection. */
void
tls_set_session_arg(SSL *ssl, void *arg)
{
	pthread_once(&tls_once, tls_init_once);
	SSL_set_ex_data(ssl, tls_ex_session, arg);
}

/* A new connection's TLS in client mode. */
SSL *
tls_client_ssl(struct tls_client *tc, const char *sni, const char *host,
    SSL_SESSION *session)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	SSL *ssl = SSL_new(tc->tc_ctx);
	X509_VERIFY_PARAM *vp;

	if (ssl == NULL)
		return NULL;
	SSL_set_connect_state(ssl);
	if (sni != NULL && SSL_set_tlsext_host_name(ssl, sni) != 1)
		goto fail;
	if (SSL_set_alpn_protos(ssl, alpn, sizeof alpn - 1) != 0)
		goto fail;
	if (host != NULL && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE) {
		vp = SSL_get0_param(ssl);
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1 &&
		    SSL_set1_host(ssl, host) != 1)
			goto fail;
	}
	if (session != NULL)
		SSL_set_session(ssl, session);
	return ssl;
fail:
	SSL_free(ssl);
	return NULL;
}

/* Check that a certificate and its key load and match. */
int
tls_cert_check(const struct tls_cert_conf *c, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	int rc;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error(err, errlen, "cannot make a TLS context", NULL);
		return -1;
	}
	rc = tls_load_cert(ctx, c, err, errlen);
	SSL_CTX_free(ctx);
	return rc;
}

/* Check a protocol list. */
int
tls_protocols_check(const char *list, char *err, size_t errlen)
{
	int lo, hi;

	if (tls_protocols_parse(list, &lo, &hi) == 0)
		return 0;
	snprintf(err, errlen, "not a list of TLSv1.2 and TLSv1.3");
	return -1;
}

/*
 * Check a TLS 1.2 cipher list in OpenSSL's syntax: the whole list must
 * select a cipher, and so must each word that adds ciphers (a name, an
 * alias, a combination like ECDHE+AESGCM), which catches a misspelt name
 * that OpenSSL alone would skip.  Words that remove or move ciphers ("!",
 * "-", "+") or set options ("@") are left to OpenSSL.
 */
int
tls_ciphers_check(const char *list, char *err, size_t errlen)
{
	const char *p = list;
	char word[64];
	SSL_CTX *ctx;
	size_t n;
	int rc = 0;

	if ((ctx = SSL_CTX_new(TLS_method())) == NULL) {
		tls_error(err, errlen, "cannot make a TLS context", NULL);
		return -1;
	}
	for (; rc == 0 && *p != '\0'; p += n) {
		p += strspn(p, ":, ;");
		if ((n = strcspn(p, ":, ;")) == 0 || strchr("!-+@", *p))
			continue;
		snprintf(word, sizeof word, "%.*s", (int)n, p);
		if (n >= sizeof word)
			snprintf(word + sizeof word - 4, 4, "...");
		if (SSL_CTX_set_cipher_list(ctx, word) == 1)
			continue;
		if (strncmp(word, "TLS_", 4) == 0)
			snprintf(err, errlen, "%s is a TLS 1.3 suite (this list "
			    "is of TLS 1.2 ciphers; TLS 1.3 uses OpenSSL's "
			    "suites)", word);
		else
			snprintf(err, errlen, "%s is not a cipher or alias "
			    "OpenSSL offers", word);
		rc = -1;
	}
	if (rc == 0 && SSL_CTX_set_cipher_list(ctx, list) != 1) {
		snprintf(err, errlen, "selects no cipher");
		rc = -1;
	}
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return rc;
}


/* Our check of the peer's certificate failed, or the peer's of ours (an
 * alert it sent says so). */
static bool
tls_cert_reason(int reason)
{
	switch (reason) {
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		return true;
	default:
		return false;
	}
}
/* Why a handshake failed, and a message for the error log. */
enum tls_fail
tls_fail_reason(SSL *ssl, int ssl_err, char *why, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	long vr = SSL_get_verify_result(ssl);
	int reason = ERR_GET_REASON(e);
	enum tls_fail f;

	if (vr != X509_V_OK) {
		snprintf(why, len, "certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
		f = TLS_FAIL_CERTIFICATE;
	} else if (e == 0) {
		snprintf(why, len, "%s", ssl_err == SSL_ERROR_SYSCALL ||
		    ssl_err == SSL_ERROR_ZERO_RETURN ?
		    "the peer closed the connection" : "handshake failed");
		f = TLS_FAIL_CLOSED;
	} else {
		snprintf(why, len, "%s", ERR_reason_error_string(e) ?
		    ERR_reason_error_string(e) : "handshake failed");
		if (reason == SSL_R_NO_SHARED_CIPHER)
			f = TLS_FAIL_NO_SHARED_CIPHER;
		else if (tls_cert_reason(reason))
			f = TLS_FAIL_CERTIFICATE;
		else if (ERR_GET_LIB(e) == ERR_LIB_SSL)
			f = TLS_FAIL_PROTOCOL;
		else
			f = TLS_FAIL_OTHER;
	}
	ERR_clear_error();
	return f;
}

/* The name of a reason. */
const char *
tls_fail_name(enum tls_fail f)
{
	return (unsigned)f < TLS_FAIL_COUNT ? tls_fail_names[f] : "other";
}

/* The negotiated protocol's name, or "-". */
const char *
tls_version(const SSL *ssl)
{
	return ssl != NULL ? SSL_get_version(ssl) : "-";
}
