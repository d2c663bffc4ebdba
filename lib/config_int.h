/*
 * config_int.h: private to the config module (config.c, config_parse.c,
 * config_load.c); nothing else includes it.
 *
 * Every key is described once, in the tables of config.c: its syntax,
 * where it is stored, and an example of a good value.  The same tables
 * drive loading (config_load.c) and dumping (config.c), so a dump always
 * loads back.
 */
#ifndef HG_CONFIG_INT_H
#define HG_CONFIG_INT_H

#include "config.h"

#define nitems(a)	(sizeof (a) / sizeof (a)[0])
#define CONFIG_MAXKEYS	24	/* per section, [timeouts] keys included */
#define CONFIG_NTIMEOUTS 19	/* keys of [timeouts] */
#define CONFIG_NROUTE	3	/* keys of [route] besides those of [timeouts] */
#define CONFIG_ROUTE_UPSTREAM 0	/* index of "upstream" among them */
#define CONFIG_UPSTREAM_SERVER 0 /* index of "server" in [upstream] */
#define CONFIG_LIMITS_MAX_URI 0	/* indexes of [limits] keys */
#define CONFIG_LIMITS_MAX_HEADER 1
#define CONFIG_CERT_EG	"/etc/hourglass/example.com.pem " \
	"/etc/hourglass/example.com.key"	/* tls_certificate */

enum config_kind {
	CONFIG_SERVER,
	CONFIG_LIMITS,
	CONFIG_TIMEOUTS,
	CONFIG_UPSTREAM,
	CONFIG_ROUTE,
	CONFIG_UNKNOWN,
};

enum config_type {
	CT_LISTEN,		/* address, appended to config.listen */
	CT_ADDR,		/* struct config_addr *, "off" = NULL */
	CT_UINT,		/* unsigned in [min, max] */
	CT_ENUM,		/* one of enums[], stored as an int-sized enum */
	CT_PATH,		/* char *, not empty */
	CT_SIZE,		/* uint64_t bytes */
	CT_DURATION,		/* uint32_t ms */
	CT_TOKEN,		/* char *, an HTTP header name or "" */
	CT_BOOL,		/* bool */
	CT_SERVER,		/* appended to config_upstream.servers */
	CT_NAME,		/* char *, an upstream name */
	CT_HOST,		/* char *, a host name */
	CT_CERTS,		/* "CERT [KEY]", appended to config.tls_certs */
	CT_CERT,		/* "CERT [KEY]", a struct tls_cert_conf */
	CT_FILE,		/* char *, a path read by hourglass: relative
				   to the configuration file's directory */
	CT_PROTOCOLS,		/* char *, TLSv1.2 and TLSv1.3 */
	CT_CIPHERS,		/* char *, an OpenSSL cipher list */
	CT_SNI,			/* char *, a DNS name */
	CT_UPGRADE,		/* char *, Upgrade tokens "a, b"; "off" = "" */
	CT_HEDGE,		/* struct config_hedge: off, a duration, pNN */
};

#define CK_OFF		0x1	/* "off" (and 0 for durations) is allowed */
#define CK_AUTO		0x2	/* "auto" is allowed and stored as 0 */
#define CK_NONZERO	0x4	/* 0 is refused */
#define CK_REPEAT	0x8	/* may be given more than once */
#define CK_GLOBAL	0x10	/* a [timeouts] key no route may set; see
				   config_key.global_why */
#define CK_TLS		0x20	/* an [upstream] TLS key: in effect, and
				   dumped, only with tls = yes */

struct config_enum {
	const char	*name;
	int		 value;
};

/* One key: its syntax, where it is stored, and an example for errors. */
struct config_key {
	const char	*name;		/* NULL: scope_name(scope) */
	int		 scope;
	enum config_type type;
	size_t		 off;		/* from the section's base pointer */
	int		 flags;
	unsigned	 min, max;	/* CT_UINT */
	const struct config_enum *enums;
	const char	*example;
	const char	*global_why;	/* CK_GLOBAL: why, for the error */
};

/* A kind of section and the keys it takes. */
struct config_section {
	const char		*name;
	const struct config_key	*keys;
	size_t			 nkeys;
	int			 timeouts;	/* also takes [timeouts] keys */
};

/*
 * A section as the loader reads it.  Its layout is shared because the
 * [route] key table stores into it: a route names its upstream before
 * the upstreams are all known.
 */
struct config_sect {
	enum config_kind kind;
	char		*title;		/* e.g. "route /api", for messages */
	char		*arg;		/* NAME or PREFIX, or NULL */
	int		 line;
	int		 skip;		/* ignore its keys (reported already) */
	int		 bad;		/* check its keys, then drop it */
	int		 keyline[CONFIG_MAXKEYS]; /* where each key was set */
	struct config_upstream up;	/* [upstream] */
	struct config_route rt;		/* [route]: timeouts hold overrides */
	char		*rt_upstream;
};

extern const struct config_section config_sections[CONFIG_UNKNOWN];
extern const struct config_key config_timeouts_keys[CONFIG_NTIMEOUTS];

/* The key's name in the file. */
const char	*config_key_name(const struct config_key *);

/* Format a duration or a size as config_dump() does ("1500ms", "8k"). */
const char	*config_fmt_duration(uint32_t ms, char *buf, size_t size);
const char	*config_fmt_hedge(const struct config_hedge *, char *buf,
		    size_t size);
const char	*config_fmt_size(uint64_t b, char *buf, size_t size);

/* A config holding the built-in defaults, one reference, path name. */
struct config	*config_new(const char *name);

/* Free what an upstream holds (not the struct) and zero it. */
void		 config_upstream_clear(struct config_upstream *);

/* Free the listeners, as the first listen key of a file does. */
void		 config_listen_clear(struct config *);

/* Whether s is a name of letters, digits, '.', '-' and '_'. */
int		 config_parse_name(const char *s);

/*
 * Parse value s for key k and store it at base + k->off (for CT_LISTEN,
 * CT_CERTS and CT_SERVER base is the struct config or config_upstream).
 * Relative paths of CT_FILE and CT_CERT(S) are taken from dir, the
 * directory of the configuration file.  On failure return -1 with a reason
 * in *why, which may point into buf.
 */
int		 config_parse_key(const struct config_key *k, char *base,
		    const char *s, const char *dir, const char **why, char *buf,
		    size_t size);

/*
 * The directory relative paths of a configuration file are taken from: the
 * directory of path, made absolute with the working directory; NULL if out
 * of memory.  A path is then resolved with config_parse_path().
 */
char		*config_parse_dir(const char *path);
char		*config_parse_path(const char *dir, const char *s, size_t len);

/* Free what a tls_cert_conf holds, not the struct itself. */
void		 config_cert_free(struct tls_cert_conf *);

#endif
