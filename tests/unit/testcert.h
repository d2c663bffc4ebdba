/*
 * testcert.h: throwaway keys and certificates for the TLS tests, made with
 * OpenSSL's API in memory (never committed): a P-256 or RSA key, and a
 * certificate for a common name and DNS names, self-signed or signed by
 * another of them.  Shared by tests/unit/test_conn.c and the fuzz target
 * tests/fuzz/fuzz_tls.c.
 */
#ifndef HG_TESTCERT_H
#define HG_TESTCERT_H

#include <stdbool.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

enum testcert_key {
	TESTCERT_EC,		/* P-256 */
	TESTCERT_RSA,		/* 2048 bits */
};

struct testcert {
	EVP_PKEY	*tc_key;
	X509		*tc_x509;
};

/*
 * Make a key and a certificate for cn with the DNS names in dns (NULL
 * ended; NULL: none, so that only the common name names it), valid from an
 * hour ago for two days; signed by issuer, or self-signed when it is NULL.
 * ca: a CA certificate (basicConstraints CA:TRUE).  0, or -1 with OpenSSL's
 * errors printed.
 */
int	testcert_make(struct testcert *, enum testcert_key, const char *cn,
	    const char *const *dns, const struct testcert *issuer, bool ca);

/* Write the certificate and its key as PEM (the key readable by the
 * owner only); 0 or -1. */
int	testcert_write(const struct testcert *, const char *cert_path,
	    const char *key_path);

/* Free what testcert_make() made. */
void	testcert_free(struct testcert *);

#endif
