/*
 * testcert.c: throwaway keys and certificates for the TLS tests; see
 * testcert.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "testcert.h"

/* Add an extension to x, issued by issuer (itself when self-signed). */
static int
testcert_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;
	int rc;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return -1;
	rc = X509_add_ext(x, e, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(e);
	return rc;
}

/* Make a key and a certificate. */
int
testcert_make(struct testcert *tc, enum testcert_key kind, const char *cn,
    const char *const *dns, const struct testcert *issuer, bool ca)
{
	static long serial = 1;
	X509_NAME *name;
	X509 *x = NULL;
	EVP_PKEY *sign_key;
	char sans[1024];
	size_t n = 0;

	tc->tc_x509 = NULL;
	tc->tc_key = kind == TESTCERT_RSA ? EVP_RSA_gen(2048) :
	    EVP_EC_gen("P-256");
	if (tc->tc_key == NULL || (x = X509_new()) == NULL)
		goto fail;
	sign_key = issuer != NULL ? issuer->tc_key : tc->tc_key;
	name = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 2 * 86400) == NULL ||
	    X509_set_pubkey(x, tc->tc_key) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer->tc_x509) : name) != 1)
		goto fail;
	if (testcert_ext(x, issuer ? issuer->tc_x509 : x,
	    NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE") != 0 ||
	    testcert_ext(x, issuer ? issuer->tc_x509 : x,
	    NID_subject_key_identifier, "hash") != 0 ||
	    (issuer != NULL && testcert_ext(x, issuer->tc_x509,
	    NID_authority_key_identifier, "keyid:always") != 0))
		goto fail;
	if (ca && testcert_ext(x, x, NID_key_usage,
	    "critical,keyCertSign,cRLSign") != 0)
		goto fail;
	for (; dns != NULL && *dns != NULL; dns++) {
		int w = snprintf(sans + n, sizeof sans - n, "%sDNS:%s",
		    n > 0 ? "," : "", *dns);

		if (w < 0 || (size_t)w >= sizeof sans - n)
			goto fail;
		n += (size_t)w;
	}
	if (n > 0 && testcert_ext(x, x, NID_subject_alt_name, sans) != 0)
		goto fail;
	if (X509_sign(x, sign_key, EVP_sha256()) <= 0)
		goto fail;
	tc->tc_x509 = x;
	return 0;
fail:
	ERR_print_errors_fp(stderr);
	X509_free(x);
	EVP_PKEY_free(tc->tc_key);
	tc->tc_key = NULL;
	return -1;
}

/* Write the certificate and its key as PEM. */
int
testcert_write(const struct testcert *tc, const char *cert_path,
    const char *key_path)
{
	FILE *f;
	int fd, ok;

	if ((f = fopen(cert_path, "w")) == NULL)
		return -1;
	ok = PEM_write_X509(f, tc->tc_x509) == 1;
	if (fclose(f) != 0 || !ok)
		return -1;
	if ((fd = open(key_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0)
		return -1;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return -1;
	}
	ok = PEM_write_PrivateKey(f, tc->tc_key, NULL, NULL, 0, NULL, NULL) ==
	    1;
	if (fclose(f) != 0 || !ok)
		return -1;
	return 0;
}

/* Free a key and its certificate. */
void
testcert_free(struct testcert *tc)
{
	X509_free(tc->tc_x509);
	EVP_PKEY_free(tc->tc_key);
	tc->tc_x509 = NULL;
	tc->tc_key = NULL;
}
