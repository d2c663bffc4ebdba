/*
 * test_tls_tickets.c: session resumption with hourglass's ticket keys
 * (tls.c), over handshakes in memory: a client that offers the newest
 * ticket it holds, as OpenSSL's and browsers' clients do (a ticket is used
 * once), resumes every connection after the first.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls.h"

static char	 dir[32];
static char	 cert_path[64], key_path[64];
static SSL_SESSION *newest;	/* the client's newest ticket */
static int	 tickets;	/* tickets the client got on this connection */

/* A throwaway ECDSA P-256 key and a self-signed certificate for it. */
static void
make_cert(void)
{
	EVP_PKEY *pk;
	X509 *x;
	FILE *f;

	snprintf(dir, sizeof dir, "/tmp/hg-test-tls.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cert_path, sizeof cert_path, "%s/cert.pem", dir);
	snprintf(key_path, sizeof key_path, "%s/key.pem", dir);
	ck_assert_ptr_nonnull(pk = EVP_EC_gen("P-256"));
	ck_assert_ptr_nonnull(x = X509_new());
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, pk);
	ck_assert_int_gt(X509_sign(x, pk, EVP_sha256()), 0);
	ck_assert_ptr_nonnull(f = fopen(cert_path, "w"));
	PEM_write_X509(f, x);
	fclose(f);
	ck_assert_ptr_nonnull(f = fopen(key_path, "w"));
	PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
}

static void
remove_cert(void)
{
	unlink(cert_path);
	unlink(key_path);
	rmdir(dir);
}

/* The client's new-session callback: keep the newest ticket. */
static int
keep_newest(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	if (newest != NULL)
		SSL_SESSION_free(newest);
	newest = sess;
	tickets++;
	return 1;
}

/* Move what each side wrote to the other. */
static void
pump(SSL *c, SSL *s)
{
	char buf[16384];
	int n;

	while ((n = BIO_read(SSL_get_wbio(c), buf, sizeof buf)) > 0)
		BIO_write(SSL_get_rbio(s), buf, n);
	while ((n = BIO_read(SSL_get_wbio(s), buf, sizeof buf)) > 0)
		BIO_write(SSL_get_rbio(c), buf, n);
}

/*
 * One connection: a handshake offering the newest ticket, one byte from
 * the server (so that the client reads the tickets sent after the
 * handshake), a clean end.  Returns whether it resumed.
 */
static bool
connect_once(struct tls_server *ts, SSL_CTX *cctx)
{
	SSL *s = tls_server_ssl(ts), *c = SSL_new(cctx);
	bool reused;
	char b;

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(c);
	SSL_set_bio(s, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
	SSL_set_bio(c, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "localhost");
	if (newest != NULL)
		SSL_set_session(c, newest);
	tickets = 0;
	for (int i = 0; i < 10 && (!SSL_is_init_finished(c) ||
	    !SSL_is_init_finished(s)); i++) {
		SSL_do_handshake(c);
		pump(c, s);
		SSL_do_handshake(s);
		pump(c, s);
	}
	ck_assert(SSL_is_init_finished(c) && SSL_is_init_finished(s));
	ck_assert_int_eq(SSL_write(s, "x", 1), 1);
	pump(c, s);
	ck_assert_int_eq(SSL_read(c, &b, 1), 1);
	reused = SSL_session_reused(c) && SSL_session_reused(s);
	SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c);
	SSL_free(s);
	return reused;
}

/* Ten connections under one protocol: all but the first resume, and each
 * one leaves the client a fresh ticket. */
static void
resume_all(const char *protocols, int version)
{
	struct tls_cert_conf cc = { cert_path, key_path };
	struct tls_server_conf sc = { &cc, 1, protocols, NULL };
	struct tls_server *ts;
	SSL_CTX *cctx;
	char err[256];

	make_cert();
	ts = tls_server_new(&sc, err, sizeof err);
	ck_assert_msg(ts != NULL, "%s", err);
	ck_assert_ptr_nonnull(cctx = SSL_CTX_new(TLS_client_method()));
	SSL_CTX_set_min_proto_version(cctx, version);
	SSL_CTX_set_max_proto_version(cctx, version);
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(cctx, keep_newest);
	newest = NULL;
	ck_assert(!connect_once(ts, cctx));
	ck_assert_int_ge(tickets, 1);
	for (int i = 1; i < 10; i++) {
		ck_assert_msg(connect_once(ts, cctx), "connection %d did not "
		    "resume", i);
		if (version == TLS1_3_VERSION)
			ck_assert_int_eq(tickets, 1);
	}
	SSL_SESSION_free(newest);
	newest = NULL;
	SSL_CTX_free(cctx);
	tls_server_free(ts);
	remove_cert();
}

/* TLS 1.3: a ticket after every resumption (the callback renews it). */
START_TEST(test_resume_tls13)
{
	resume_all("TLSv1.3", TLS1_3_VERSION);
}
END_TEST

/* TLS 1.2: the ticket stays good; the client offers it again. */
START_TEST(test_resume_tls12)
{
	resume_all("TLSv1.2", TLS1_2_VERSION);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tls_tickets");
	TCase *tc = tcase_create("resume");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_resume_tls13);
	tcase_add_test(tc, test_resume_tls12);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
