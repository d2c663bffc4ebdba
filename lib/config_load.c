/*
 * config_load.c: load and check a configuration file.
 *
 * inih splits "key = value" lines, trims them and calls config_handler().
 * It is fed by config_reader(), one physical line per call, because inih
 * alone cannot report what this module must: it does not pass line numbers
 * to the handler (INI_HANDLER_LINENO is off in Debian's build), it returns
 * only the first syntax error, it splits lines longer than its buffer into
 * several (shifting every later line number), it truncates section names
 * to 50 bytes, and it never calls the handler for a section without keys.
 * So the reader counts lines, reads section headers itself, strips
 * comments and leading blanks (which also turns off inih's multi-line
 * values), and reports malformed lines; inih sees only well-formed key
 * lines and empty ones.
 *
 * Lines have no length limit.  inih's buffer is 200 bytes in Debian's
 * shared library (INI_MAX_LINE), so a key line that does not fit is split
 * by the reader itself, as inih would split it, and inih gets a stand-in
 * "\x01=\x01"; the handler, called for that line before the next one is
 * read, takes the key and value the reader kept.  Section headers and
 * comments never reach inih.
 *
 * Comments start with ';' or '#', at the start of a line or after a blank.
 * Every key may be given once per section, except listen, server and
 * [server]'s tls_certificate.  [server], [limits] and [timeouts] may each
 * appear once.
 *
 * A file that reads without error gets its TLS contexts built here
 * (config_finish_tls()): every certificate, key and CA file is loaded and
 * checked, so that a file whose certificates would not load is refused as
 * any other bad file is, at start, on reload and by -t, with the line of
 * the key.  Relative paths in those keys are from the file's directory.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config_int.h"

#define CONFIG_MAXFILE	(16 * 1024 * 1024)

struct config_error {
	int		 line;
	size_t		 seq;
	char		*msg;
};

/* A list of messages, each for one line of the file. */
struct config_msgs {
	struct config_error *v;
	size_t		 n;
};

/* A key that names a file hourglass reads, as written. */
struct config_fileref {
	const struct config_sect *sect;
	const struct config_key *key;
	int		 line;
	char		*value;
};

struct config_parser {
	struct config	*cfg;
	const char	*name;
	char		*dir;		/* relative paths start here */
	const char	*pos, *end;	/* unread text */
	int		 line;
	int		 long_line;	/* the line of long_key and long_value */
	char		*long_key, *long_value;
	struct config_fileref *files;
	size_t		 nfiles;
	int		 tls_listen_line;	/* the first listen ... tls */
	struct config_sect **sects;
	size_t		 nsects;
	struct config_sect *cur;
	int		 once[CONFIG_UPSTREAM];	/* line of [server] etc. */
	struct config_msgs errs;
	struct config_msgs warns;	/* only when there is no error */
	int		 nomem;
	char		 why[256];	/* for config_parse_key() */
};

/* Copy s into buf, escaping control bytes, '"' and '\', maybe in quotes. */
static const char *
config_escape(const char *s, char *buf, size_t size, int quote)
{
	size_t n = 0;

	if (quote)
		buf[n++] = '"';
	for (; *s != '\0' && n + 8 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			n += (size_t)snprintf(buf + n, size - n, "\\%c", c);
		else if (c == '\t')
			n += (size_t)snprintf(buf + n, size - n, "\\t");
		else if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	if (*s != '\0')
		n += (size_t)snprintf(buf + n, size - n, "...");
	if (quote)
		buf[n++] = '"';
	buf[n] = '\0';
	return buf;
}

/* Add "NAME:LINE: KIND message" to list; line 0 leaves the line out. */
static void __attribute__((format(printf, 5, 0)))
config_vmsg(struct config_parser *p, struct config_msgs *list, int line,
    const char *kind, const char *fmt, va_list ap)
{
	struct config_error *e;
	char *msg, *full;
	int r;

	if (vasprintf(&msg, fmt, ap) == -1) {
		p->nomem = 1;
		return;
	}
	if (line > 0)
		r = asprintf(&full, "%s:%d: %s%s", p->name, line, kind, msg);
	else
		r = asprintf(&full, "%s: %s%s", p->name, kind, msg);
	free(msg);
	if (r == -1) {
		p->nomem = 1;
		return;
	}
	e = reallocarray(list->v, list->n + 1, sizeof *list->v);
	if (e == NULL) {
		free(full);
		p->nomem = 1;
		return;
	}
	list->v = e;
	e[list->n].line = line;
	e[list->n].seq = list->n;
	e[list->n].msg = full;
	list->n++;
}

/* Record one error, "NAME:LINE: message"; line 0 leaves the line out. */
static void __attribute__((format(printf, 3, 4)))
config_error(struct config_parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_vmsg(p, &p->errs, line, "", fmt, ap);
	va_end(ap);
}

/* Record one warning, "NAME:LINE: warning: message". */
static void __attribute__((format(printf, 3, 4)))
config_warning(struct config_parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_vmsg(p, &p->warns, line, "warning: ", fmt, ap);
	va_end(ap);
}

/* Record an error about one key: "[SECTION] KEY = "VALUE": what". */
static void
config_key_error(struct config_parser *p, int line, const char *title,
    const char *key, const char *value, const char *what)
{
	char t[512], k[256], v[1024];

	config_error(p, line, "[%s] %s = %s: %s",
	    config_escape(title, t, sizeof t, 0),
	    config_escape(key, k, sizeof k, 0),
	    config_escape(value, v, sizeof v, 1), what);
}

/* Record an error about a section as a whole: "[SECTION]: what". */
static void
config_sect_error(struct config_parser *p, int line, const char *title,
    const char *what)
{
	char t[512];

	config_error(p, line, "[%s]: %s", config_escape(title, t, sizeof t, 0),
	    what);
}

/* Allocate a section record and make it the current one. */
static struct config_sect *
config_sect_add(struct config_parser *p, enum config_kind kind)
{
	struct config_sect *s, **list;

	list = reallocarray(p->sects, p->nsects + 1, sizeof *list);
	if (list == NULL || (s = calloc(1, sizeof *s)) == NULL) {
		if (list != NULL)
			p->sects = list;
		p->nomem = 1;
		return NULL;
	}
	p->sects = list;
	list[p->nsects++] = s;
	s->kind = kind;
	s->line = p->line;
	s->skip = 1;
	p->cur = s;
	return s;
}

/* Free a section record and whatever it still owns. */
static void
config_sect_free(struct config_sect *s)
{
	free(s->title);
	free(s->arg);
	config_upstream_clear(&s->up);
	free(s->rt.prefix);
	free(s->rt.host);
	free(s->rt.upgrade);
	free(s->rt.timeouts.deadline_header);
	free(s->rt_upstream);
	free(s);
}

/* Look for a good [upstream] with this name before section last. */
static struct config_sect *
config_find_upstream(struct config_parser *p, const struct config_sect *last)
{
	for (size_t i = 0; i < p->nsects && p->sects[i] != last; i++) {
		struct config_sect *s = p->sects[i];

		if (s->kind == CONFIG_UPSTREAM && !s->skip && !s->bad &&
		    strcmp(s->arg, last->arg) == 0)
			return s;
	}
	return NULL;
}

/* The first good section of a kind ([server] etc.), or NULL. */
static struct config_sect *
config_find_sect(struct config_parser *p, enum config_kind kind)
{
	for (size_t i = 0; i < p->nsects; i++)
		if (p->sects[i]->kind == kind && !p->sects[i]->skip)
			return p->sects[i];
	return NULL;
}

/* Check a [upstream NAME] or [route PREFIX] header and set up the record. */
static void
config_sect_named(struct config_parser *p, struct config_sect *s)
{
	struct config_sect *first;
	char msg[128];

	if (s->kind == CONFIG_UPSTREAM) {
		if (!config_parse_name(s->arg)) {
			config_sect_error(p, s->line, s->title, "not a name "
			    "(letters, digits, '.', '-', '_'; e.g. [upstream api])");
			s->bad = 1;
		} else if ((first = config_find_upstream(p, s)) != NULL) {
			snprintf(msg, sizeof msg, "duplicate upstream (first "
			    "defined on line %d)", first->line);
			config_sect_error(p, s->line, s->title, msg);
			s->bad = 1;
		}
		if ((s->up.name = strdup(s->arg)) == NULL)
			p->nomem = 1;
		s->up.balance = CONFIG_BALANCE_ROUND_ROBIN;
		s->up.keepalive = 32;
		s->up.keepalive_idle_ms = 60000;
		s->up.max_fails = 1;
		s->up.fail_timeout_ms = 10000;
		s->up.resolve_interval_ms = 30000;
		s->up.retry_budget = 20;
		s->up.retry_budget_min = 10;
		s->up.tls_verify = true;
		return;
	}
	if (s->arg[0] != '/' || strpbrk(s->arg, " \t") != NULL) {
		config_sect_error(p, s->line, s->title,
		    "the prefix must start with / (e.g. [route /api])");
		s->bad = 1;
	}
}

/*
 * Read a section header from s to e (a '[' to the end of the line) and make
 * it the current section.  A broken or unknown header still becomes the
 * current section, one whose keys are ignored, so that they are not
 * blamed on the section before it.
 */
static void
config_sect_start(struct config_parser *p, const char *s, const char *e)
{
	static const char *what = "sections: server, limits, timeouts, "
	    "upstream NAME, route PREFIX";
	const char *close = memchr(s, ']', (size_t)(e - s)), *w, *we, *a;
	struct config_sect *sect;
	char buf[512], msg[128];
	int kind, r;

	if ((sect = config_sect_add(p, CONFIG_UNKNOWN)) == NULL)
		return;
	if (close == NULL) {
		config_error(p, p->line, "%s: missing ] (e.g. [server])",
		    config_escape(s, buf, sizeof buf, 1));
		return;
	}
	for (a = close + 1; a < e && (*a == ' ' || *a == '\t'); a++)
		;
	if (a < e && *a != ';' && *a != '#') {
		config_error(p, p->line, "%s: text after ] (e.g. [server])",
		    config_escape(s, buf, sizeof buf, 1));
		return;
	}
	for (w = s + 1; w < close && (*w == ' ' || *w == '\t'); w++)
		;
	for (we = w; we < close && *we != ' ' && *we != '\t'; we++)
		;
	for (a = we; a < close && (*a == ' ' || *a == '\t'); a++)
		;
	while (close > a && (close[-1] == ' ' || close[-1] == '\t'))
		close--;
	for (kind = 0; kind < CONFIG_UNKNOWN; kind++) {
		if (strlen(config_sections[kind].name) == (size_t)(we - w) &&
		    memcmp(config_sections[kind].name, w, (size_t)(we - w)) == 0)
			break;
	}
	if (a < close)
		r = asprintf(&sect->title, "%.*s %.*s", (int)(we - w), w,
		    (int)(close - a), a);
	else
		r = asprintf(&sect->title, "%.*s", (int)(we - w), w);
	if (r == -1 || (a < close &&
	    (sect->arg = strndup(a, (size_t)(close - a))) == NULL)) {
		p->nomem = 1;
		return;
	}
	sect->kind = (enum config_kind)kind;
	if (kind == CONFIG_UNKNOWN) {
		snprintf(msg, sizeof msg, "unknown section (%s)", what);
		config_sect_error(p, p->line, sect->title, msg);
	} else if (kind < CONFIG_UPSTREAM && sect->arg != NULL) {
		config_sect_error(p, p->line, sect->title,
		    "this section takes no name");
	} else if (kind < CONFIG_UPSTREAM && p->once[kind] != 0) {
		snprintf(msg, sizeof msg, "section already given on line %d",
		    p->once[kind]);
		config_sect_error(p, p->line, sect->title, msg);
	} else if (kind < CONFIG_UPSTREAM) {
		p->once[kind] = p->line;
		sect->skip = 0;
	} else if (sect->arg == NULL) {
		config_sect_error(p, p->line, sect->title,
		    kind == CONFIG_UPSTREAM ? "missing name (e.g. [upstream api])" :
		    "missing prefix (e.g. [route /api])");
	} else {
		sect->skip = 0;
		config_sect_named(p, sect);
	}
}

/*
 * Hand inih a key line too long for its buffer: split it as inih would (at
 * the first '=' or ':', blanks trimmed), keep the key and the value for
 * config_handler(), and give inih a short stand-in.
 */
static void
config_long_line(struct config_parser *p, const char *s, size_t n, char *str)
{
	const char *d = s, *e = s + n, *k;

	while (d < e && *d != '=' && *d != ':')
		d++;
	for (k = d; k > s && isspace((unsigned char)k[-1]); k--)
		;
	for (d++; d < e && isspace((unsigned char)*d); d++)
		;
	while (e > d && isspace((unsigned char)e[-1]))
		e--;
	if ((p->long_key = strndup(s, (size_t)(k - s))) == NULL ||
	    (p->long_value = strndup(d, (size_t)(e - d))) == NULL) {
		p->nomem = 1;
		return;
	}
	p->long_line = p->line;
	strcpy(str, "\x01=\x01");
}

/*
 * The line reader given to inih: hand over one physical line per call,
 * after the checks described at the top of this file.  Lines inih should
 * not see are handed over empty, and a key line too long for its buffer as
 * a stand-in (config_long_line()).
 */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_parser *p = stream;
	const char *s = p->pos, *e, *nl, *c;
	char q[1024], *line;
	size_t n;

	free(p->long_key);
	free(p->long_value);
	p->long_key = p->long_value = NULL;
	if (s >= p->end)
		return NULL;
	nl = memchr(s, '\n', (size_t)(p->end - s));
	e = nl != NULL ? nl : p->end;
	p->pos = nl != NULL ? nl + 1 : p->end;
	p->line++;
	str[0] = '\0';
	if (e > s && e[-1] == '\r')
		e--;
	if (p->line == 1 && e - s >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	if (memchr(s, '\0', (size_t)(e - s)) != NULL) {
		config_error(p, p->line, "a NUL byte in the line");
		return str;
	}
	if (s == e || *s == ';' || *s == '#')
		return str;
	for (c = s + 1; c < e; c++) {
		if ((*c == ';' || *c == '#') && (c[-1] == ' ' || c[-1] == '\t')) {
			e = c;
			break;
		}
	}
	n = (size_t)(e - s);
	if (*s != '[' && n < (size_t)num && (memchr(s, '=', n) != NULL ||
	    memchr(s, ':', n) != NULL)) {
		memcpy(str, s, n);
		str[n] = '\0';
		return str;
	}
	/* A section, a line that is no key, or a key line of any length. */
	if ((line = strndup(s, n)) == NULL) {
		p->nomem = 1;
		return str;
	}
	if (*s == '[')
		config_sect_start(p, line, line + n);
	else if (strpbrk(line, "=:") == NULL)
		config_error(p, p->line, "%s: not KEY = VALUE or [SECTION]",
		    config_escape(line, q, sizeof q, 1));
	else
		config_long_line(p, line, n, str);
	free(line);
	return str;
}

/* Find key name in the section s; set the base pointer and keyline index. */
static const struct config_key *
config_key_find(struct config_parser *p, struct config_sect *s,
    const char *name, char **base, int *idx)
{
	const struct config_key *keys = config_sections[s->kind].keys;
	size_t n = config_sections[s->kind].nkeys;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(keys[i].name, name) == 0) {
			*idx = (int)i;
			if (s->kind == CONFIG_UPSTREAM)
				*base = (char *)&s->up;
			else if (s->kind == CONFIG_ROUTE)
				*base = (char *)s;
			else
				*base = (char *)p->cfg;
			return &keys[i];
		}
	}
	if (!config_sections[s->kind].timeouts)
		return NULL;
	for (size_t i = 0; i < CONFIG_NTIMEOUTS; i++) {
		if (strcmp(config_key_name(&config_timeouts_keys[i]), name) == 0) {
			*idx = (int)(n + i);
			if (s->kind == CONFIG_ROUTE)
				*base = (char *)&s->rt.timeouts;
			else
				*base = (char *)&p->cfg->timeouts;
			return &config_timeouts_keys[i];
		}
	}
	return NULL;
}

/* The names of the keys a section takes, "listen, workers, ...". */
static void
config_key_list(enum config_kind kind, char *buf, size_t size)
{
	const struct config_key *keys = config_sections[kind].keys;
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < config_sections[kind].nkeys; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%s",
		    n ? ", " : "", keys[i].name);
	for (size_t i = 0; config_sections[kind].timeouts &&
	    i < CONFIG_NTIMEOUTS; i++) {
		if (kind == CONFIG_ROUTE &&
		    (config_timeouts_keys[i].flags & CK_GLOBAL))
			continue;
		n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "",
		    config_key_name(&config_timeouts_keys[i]));
	}
}

/* Note what a key just stored means for the checks of the TLS keys. */
static void
config_key_parsed(struct config_parser *p, const struct config_sect *s,
    const struct config_key *k, const char *value)
{
	const struct config *cfg = p->cfg;
	struct config_fileref *f;

	if (k->type == CT_LISTEN && cfg->listen[cfg->nlisten - 1].tls &&
	    p->tls_listen_line == 0)
		p->tls_listen_line = p->line;
	if (k->type != CT_CERTS && k->type != CT_CERT && k->type != CT_FILE)
		return;
	f = reallocarray(p->files, p->nfiles + 1, sizeof *f);
	if (f == NULL) {
		p->nomem = 1;
		return;
	}
	p->files = f;
	f += p->nfiles;
	if ((f->value = strdup(value)) == NULL) {
		p->nomem = 1;
		return;
	}
	f->sect = s;
	f->key = k;
	f->line = p->line;
	p->nfiles++;
}

/* The inih handler: check and store one key of the current section. */
static int
config_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct config_parser *p = user;
	struct config_sect *s = p->cur;
	const struct config_key *k;
	const char *why = NULL;
	char *base = NULL, list[512], msg[768];
	int idx = 0;

	(void)section;
	if (p->long_line == p->line && p->long_key != NULL) {
		name = p->long_key;
		value = p->long_value;
	}
	if (s == NULL) {
		char kq[256], vq[1024];

		config_error(p, p->line, "%s = %s: key before any [section]",
		    config_escape(name, kq, sizeof kq, 0),
		    config_escape(value, vq, sizeof vq, 1));
		return 1;
	}
	if (s->skip)
		return 1;
	if ((k = config_key_find(p, s, name, &base, &idx)) == NULL) {
		config_key_list(s->kind, list, sizeof list);
		snprintf(msg, sizeof msg, "unknown key (keys: %s)", list);
		config_key_error(p, p->line, s->title, name, value, msg);
		return 1;
	}
	if (s->kind == CONFIG_ROUTE && (k->flags & CK_GLOBAL)) {
		snprintf(msg, sizeof msg, "%s; set it in [timeouts]",
		    k->global_why);
		config_key_error(p, p->line, s->title, name, value, msg);
		return 1;
	}
	if (s->keyline[idx] != 0 && !(k->flags & CK_REPEAT)) {
		snprintf(msg, sizeof msg, "already set on line %d",
		    s->keyline[idx]);
		config_key_error(p, p->line, s->title, name, value, msg);
		return 1;
	}
	if (s->keyline[idx] == 0) {
		s->keyline[idx] = p->line;
		/* The first listen replaces the default listener. */
		if (k->type == CT_LISTEN)
			config_listen_clear(p->cfg);
	}
	if (config_parse_key(k, base, value, p->dir, &why, p->why,
	    sizeof p->why) == 0) {
		config_key_parsed(p, s, k, value);
		return 1;
	}
	if (k->type == CT_ENUM) {
		list[0] = '\0';
		for (size_t i = 0, n = 0; k->enums[i].name != NULL; i++)
			n += (size_t)snprintf(list + n, sizeof list - n,
			    "%s%s", i ? ", " : "", k->enums[i].name);
		snprintf(msg, sizeof msg, "not one of %s (e.g. %s)", list,
		    k->example);
	} else
		snprintf(msg, sizeof msg, "%s (e.g. %s)", why, k->example);
	config_key_error(p, p->line, s->title, name, value, msg);
	return 1;
}

/* Copy timeouts, with a copy of the header name of their own. */
static int
config_timeouts_copy(struct config_timeouts *dst,
    const struct config_timeouts *src)
{
	*dst = *src;
	dst->deadline_header = strdup(src->deadline_header);
	return dst->deadline_header == NULL ? -1 : 0;
}

/* Fill dst with the [timeouts] keys, then apply the route's overrides. */
static int
config_timeouts_merge(struct config_timeouts *dst,
    const struct config_timeouts *global, const struct config_sect *s)
{
	const char *over = (const char *)&s->rt.timeouts;
	size_t own = CONFIG_NROUTE;
	char *d = (char *)dst;

	if (config_timeouts_copy(dst, global) == -1)
		return -1;
	for (size_t i = 0; i < CONFIG_NTIMEOUTS; i++) {
		const struct config_key *k = &config_timeouts_keys[i];

		if (s->keyline[own + i] == 0)
			continue;
		switch (k->type) {
		case CT_DURATION:
			memcpy(d + k->off, over + k->off, sizeof (uint32_t));
			break;
		case CT_UINT:
			memcpy(d + k->off, over + k->off, sizeof (unsigned));
			break;
		case CT_BOOL:
			memcpy(d + k->off, over + k->off, sizeof (bool));
			break;
		case CT_HEDGE:
			memcpy(d + k->off, over + k->off,
			    sizeof (struct config_hedge));
			break;
		default:	/* CT_TOKEN: deadline_header */
			free(dst->deadline_header);
			dst->deadline_header = strdup(s->rt.timeouts.deadline_header);
			if (dst->deadline_header == NULL)
				return -1;
			break;
		}
	}
	return 0;
}

/* Whether route a goes before b: longer prefix first, then host-specific. */
static int
config_route_before(const struct config_route *a, const struct config_route *b)
{
	size_t la = strlen(a->prefix), lb = strlen(b->prefix);

	if (la != lb)
		return la > lb;
	return a->host != NULL && b->host == NULL;
}

/* Move the good [upstream] sections into the config; check servers. */
static void
config_finish_upstreams(struct config_parser *p)
{
	struct config *cfg = p->cfg;
	size_t n = 0;

	for (size_t i = 0; i < p->nsects; i++) {
		struct config_sect *s = p->sects[i];

		if (s->kind != CONFIG_UPSTREAM || s->skip || s->bad)
			continue;
		/* A bad server line is reported already, on its own line. */
		if (s->up.nservers == 0 && s->keyline[CONFIG_UPSTREAM_SERVER] == 0)
			config_sect_error(p, s->line, s->title,
			    "no server (e.g. server = 127.0.0.1:9000)");
		n++;
	}
	if (n == 0)
		return;
	if ((cfg->upstreams = calloc(n, sizeof *cfg->upstreams)) == NULL) {
		p->nomem = 1;
		return;
	}
	for (size_t i = 0; i < p->nsects; i++) {
		struct config_sect *s = p->sects[i];

		if (s->kind != CONFIG_UPSTREAM || s->skip || s->bad)
			continue;
		cfg->upstreams[cfg->nupstreams++] = s->up;
		memset(&s->up, 0, sizeof s->up);
	}
}

/* Link a route section to its upstream; NULL after reporting why not. */
static struct config_upstream *
config_route_upstream(struct config_parser *p, struct config_sect *s)
{
	struct config *cfg = p->cfg;
	char list[512], msg[640];
	size_t n = 0;

	if (s->rt_upstream == NULL) {
		if (s->keyline[CONFIG_ROUTE_UPSTREAM] == 0)
			config_sect_error(p, s->line, s->title,
			    "missing upstream (e.g. upstream = origin)");
		return NULL;
	}
	list[0] = '\0';
	for (size_t i = 0; i < cfg->nupstreams; i++) {
		if (strcmp(cfg->upstreams[i].name, s->rt_upstream) == 0)
			return &cfg->upstreams[i];
		n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
		    i ? ", " : "", cfg->upstreams[i].name);
	}
	/* One defined but broken is reported already. */
	for (size_t i = 0; i < p->nsects; i++) {
		if (p->sects[i]->kind == CONFIG_UPSTREAM && !p->sects[i]->skip &&
		    strcmp(p->sects[i]->arg, s->rt_upstream) == 0)
			return NULL;
	}
	if (cfg->nupstreams == 0)
		snprintf(msg, sizeof msg, "no such upstream (no [upstream NAME] "
		    "section is defined)");
	else
		snprintf(msg, sizeof msg, "no such upstream (upstreams: %s)",
		    list);
	config_key_error(p, s->keyline[CONFIG_ROUTE_UPSTREAM], s->title, "upstream",
	    s->rt_upstream, msg);
	return NULL;
}

/* Check the routes against each other, then build routes[] in match order. */
static void
config_finish_routes(struct config_parser *p)
{
	struct config *cfg = p->cfg;
	struct config_upstream **ups;
	char msg[128];
	size_t n = 0;

	if ((ups = calloc(p->nsects + 1, sizeof *ups)) == NULL) {
		p->nomem = 1;
		return;
	}
	for (size_t i = 0; i < p->nsects; i++) {
		struct config_sect *s = p->sects[i];

		if (s->kind != CONFIG_ROUTE || s->skip)
			continue;
		ups[i] = config_route_upstream(p, s);
		for (size_t j = 0; j < i && !s->bad; j++) {
			struct config_sect *t = p->sects[j];

			if (t->kind != CONFIG_ROUTE || t->skip || t->bad ||
			    strcmp(t->arg, s->arg) != 0)
				continue;
			if ((t->rt.host == NULL) != (s->rt.host == NULL) ||
			    (s->rt.host != NULL &&
			    strcasecmp(t->rt.host, s->rt.host) != 0))
				continue;
			snprintf(msg, sizeof msg, "duplicate route (same prefix "
			    "and host as on line %d)", t->line);
			config_sect_error(p, s->line, s->title, msg);
			s->bad = 1;
		}
		n += !s->bad;
	}
	if (p->errs.n > 0 || n == 0) {
		free(ups);
		return;
	}
	if ((cfg->routes = calloc(n, sizeof *cfg->routes)) == NULL) {
		p->nomem = 1;
		free(ups);
		return;
	}
	for (size_t i = 0; i < p->nsects; i++) {
		struct config_sect *s = p->sects[i];
		struct config_route r = { 0 };
		size_t at;

		if (s->kind != CONFIG_ROUTE || s->skip || s->bad)
			continue;
		if (config_timeouts_merge(&r.timeouts, &cfg->timeouts, s) == -1) {
			free(r.timeouts.deadline_header);
			p->nomem = 1;
			break;
		}
		r.upgrade = s->rt.upgrade != NULL ? s->rt.upgrade :
		    strdup("websocket");
		if (r.upgrade == NULL) {
			free(r.timeouts.deadline_header);
			p->nomem = 1;
			break;
		}
		r.prefix = s->arg;
		r.host = s->rt.host;
		r.upstream = ups[i];
		s->arg = NULL;
		s->rt.host = NULL;
		s->rt.upgrade = NULL;
		/* Insertion keeps file order among equals: a stable sort. */
		for (at = cfg->nroutes; at > 0 &&
		    config_route_before(&r, &cfg->routes[at - 1]); at--)
			cfg->routes[at] = cfg->routes[at - 1];
		cfg->routes[at] = r;
		cfg->nroutes++;
	}
	free(ups);
}

/* The index of a scope's key in config_timeouts_keys. */
static size_t
config_scope_key(enum scope sc)
{
	size_t i;

	for (i = 0; i < CONFIG_NTIMEOUTS; i++)
		if (config_timeouts_keys[i].name == NULL &&
		    config_timeouts_keys[i].scope == (int)sc)
			break;
	return i;
}

/*
 * Warn about each inner timeout of one section that can never fire, because
 * a scope that encloses it is not longer: on a tie the outer scope wins.
 * tmo is the [timeouts] section (NULL if the file has none); rt is a
 * [route] or NULL for [timeouts] itself.  A route warns only where it sets
 * one of the two keys; the rest was said for [timeouts].
 */
static void
config_warn_nesting(struct config_parser *p, const struct config_sect *tmo,
    const struct config_sect *rt)
{
	static const enum scope inner[] = {
		SCOPE_TRY, SCOPE_CONNECT, SCOPE_UPSTREAM_HEADER,
		SCOPE_CLIENT_IDLE, SCOPE_UPSTREAM_IDLE,
	};
	const struct config_timeouts *g = &p->cfg->timeouts;
	uint32_t ms[SCOPE_COUNT];
	int line[SCOPE_COUNT] = { 0 }, set[SCOPE_COUNT] = { 0 };
	char a[32], b[32];

	for (int sc = 0; sc < SCOPE_COUNT; sc++) {
		size_t k = config_scope_key((enum scope)sc);

		ms[sc] = g->ms[sc];
		if (k == CONFIG_NTIMEOUTS)
			continue;
		if (tmo != NULL)
			line[sc] = tmo->keyline[k];
		if (rt != NULL && rt->keyline[CONFIG_NROUTE + k] != 0) {
			ms[sc] = rt->rt.timeouts.ms[sc];
			line[sc] = rt->keyline[CONFIG_NROUTE + k];
			set[sc] = 1;
		}
	}
	for (size_t i = 0; i < sizeof inner / sizeof inner[0]; i++) {
		enum scope in = inner[i], out = SCOPE_REQUEST;

		if ((in == SCOPE_CONNECT || in == SCOPE_UPSTREAM_HEADER) &&
		    ms[SCOPE_TRY] != 0 && ms[SCOPE_TRY] < ms[SCOPE_REQUEST])
			out = SCOPE_TRY;
		if (ms[in] == 0 || ms[in] < ms[out])
			continue;
		if (rt != NULL && !set[in] && !set[out])
			continue;
		/* The line of the inner key, unless a route sets only the
		 * outer one. */
		config_warning(p, line[in] != 0 && (rt == NULL || set[in]) ?
		    line[in] : line[out],
		    "[%s] %s = %s can never fire: it is not shorter than "
		    "%s = %s, which encloses it", rt != NULL ? rt->title :
		    "timeouts", scope_name(in),
		    config_fmt_duration(ms[in], a, sizeof a), scope_name(out),
		    config_fmt_duration(ms[out], b, sizeof b));
	}
	/* A tunnel's idle scope inside its lifetime. */
	if (ms[SCOPE_TUNNEL_MAX] != 0 && ms[SCOPE_TUNNEL_IDLE] != 0 &&
	    ms[SCOPE_TUNNEL_IDLE] >= ms[SCOPE_TUNNEL_MAX] &&
	    (rt == NULL || set[SCOPE_TUNNEL_IDLE] || set[SCOPE_TUNNEL_MAX]))
		config_warning(p, line[SCOPE_TUNNEL_IDLE] != 0 &&
		    (rt == NULL || set[SCOPE_TUNNEL_IDLE]) ?
		    line[SCOPE_TUNNEL_IDLE] : line[SCOPE_TUNNEL_MAX],
		    "[%s] tunnel_idle = %s can never fire: it is not shorter "
		    "than tunnel_max = %s", rt != NULL ? rt->title : "timeouts",
		    config_fmt_duration(ms[SCOPE_TUNNEL_IDLE], a, sizeof a),
		    config_fmt_duration(ms[SCOPE_TUNNEL_MAX], b, sizeof b));
}

/*
 * Warn about what loads but cannot work as written: no route at all, inner
 * timeouts that can never fire, a max_header too small for the request
 * lines that max_uri allows.
 */
static void
config_warn(struct config_parser *p)
{
	const struct config *cfg = p->cfg;
	const struct config_sect *lim = config_find_sect(p, CONFIG_LIMITS);
	uint64_t need;
	char a[32], b[32];

	if (cfg->nroutes == 0)
		config_warning(p, 0, "no [route PREFIX] section: every request "
		    "would get 503 (e.g. [route /] with upstream = NAME)");
	config_warn_nesting(p, config_find_sect(p, CONFIG_TIMEOUTS), NULL);
	for (size_t i = 0; i < p->nsects; i++) {
		const struct config_sect *s = p->sects[i];

		if (s->kind == CONFIG_ROUTE && !s->skip && !s->bad)
			config_warn_nesting(p,
			    config_find_sect(p, CONFIG_TIMEOUTS), s);
	}
	/* The method, two blanks, the version and CR LF take 17 bytes or
	 * more; 32 leaves room for a short Host field. */
	need = cfg->max_uri > UINT64_MAX - 32 ? UINT64_MAX : cfg->max_uri + 32;
	if (need < 64)
		need = 64;
	if (cfg->max_header < need)
		config_warning(p, lim == NULL ? 0 :
		    lim->keyline[CONFIG_LIMITS_MAX_HEADER] != 0 ?
		    lim->keyline[CONFIG_LIMITS_MAX_HEADER] :
		    lim->keyline[CONFIG_LIMITS_MAX_URI],
		    "[limits] max_header = %s is smaller than a request line "
		    "that max_uri = %s allows (max_uri + 32 bytes, at least "
		    "64): such a request gets 431, not 414",
		    config_fmt_size(cfg->max_header, a, sizeof a),
		    config_fmt_size(cfg->max_uri, b, sizeof b));
}

/* Order errors by line, then as found. */
static int
config_error_cmp(const void *a, const void *b)
{
	const struct config_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Join a list into one text, a line each, in the order of the file;
 * NULL if out of memory. */
static char *
config_msgs_text(struct config_msgs *list)
{
	size_t len = 1, at = 0;
	char *text;

	qsort(list->v, list->n, sizeof *list->v, config_error_cmp);
	for (size_t i = 0; i < list->n; i++)
		len += strlen(list->v[i].msg) + 1;
	if ((text = malloc(len)) == NULL)
		return NULL;
	for (size_t i = 0; i < list->n; i++)
		at += (size_t)sprintf(text + at, "%s\n", list->v[i].msg);
	text[at] = '\0';
	return text;
}

/* Free the messages of a list. */
static void
config_msgs_free(struct config_msgs *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->v[i].msg);
	free(list->v);
	list->v = NULL;
	list->n = 0;
}

/*
 * Open every file the [server] section names, as the daemon will (append,
 * create, never truncate; see accesslog_open()), and close it at once.
 * "stderr" and "off" name no file.
 */
static void
config_open_files(struct config_parser *p)
{
	const struct config_section *sec = &config_sections[CONFIG_SERVER];
	struct config_sect *s = config_find_sect(p, CONFIG_SERVER);
	char msg[256];
	const char *path;
	int fd;

	for (size_t i = 0; s != NULL && i < sec->nkeys; i++) {
		const struct config_key *k = &sec->keys[i];

		if (k->type != CT_PATH || s->keyline[i] == 0)
			continue;
		memcpy(&path, (const char *)p->cfg + k->off, sizeof path);
		if (strcmp(path, "stderr") == 0 || strcmp(path, "off") == 0)
			continue;
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd == -1) {
			snprintf(msg, sizeof msg, "cannot open it for writing: "
			    "%s", strerror(errno));
			config_key_error(p, s->keyline[i], s->title, k->name,
			    path, msg);
			continue;
		}
		close(fd);
	}
}

/* The nth key line of key type t in section s (nth from 0), or NULL. */
static const struct config_fileref *
config_fileref(const struct config_parser *p, const struct config_sect *s,
    enum config_type t, size_t nth)
{
	for (size_t i = 0; i < p->nfiles; i++)
		if (p->files[i].sect == s && p->files[i].key->type == t &&
		    nth-- == 0)
			return &p->files[i];
	return NULL;
}

/* The index of a key in its section's table. */
static int
config_key_index(enum config_kind kind, const char *name)
{
	const struct config_section *sec = &config_sections[kind];

	for (size_t i = 0; i < sec->nkeys; i++)
		if (strcmp(sec->keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * The server side: a tls listener needs a certificate, and its context is
 * built here, every certificate loaded and checked against its key; an
 * error names the tls_certificate line at fault.  Certificates without a
 * tls listener are a warning.
 */
static void
config_tls_server(struct config_parser *p)
{
	struct config *cfg = p->cfg;
	const struct config_sect *s = config_find_sect(p, CONFIG_SERVER);
	const struct config_fileref *f;
	const struct config_addr *tls = NULL;
	struct tls_server_conf conf;
	char err[512], e2[512];
	int bad = 0;

	for (size_t i = 0; i < cfg->nlisten && tls == NULL; i++)
		if (cfg->listen[i].tls)
			tls = &cfg->listen[i];
	if (tls == NULL) {
		if (cfg->ntls_certs > 0 &&
		    (f = config_fileref(p, s, CT_CERTS, 0)) != NULL)
			config_warning(p, f->line, "[server] tls_certificate "
			    "has no effect: no listen line ends in tls "
			    "(e.g. listen = *:8443 tls)");
		return;
	}
	if (cfg->ntls_certs == 0) {
		config_key_error(p, p->tls_listen_line, "server", "listen",
		    tls->text, "a tls listener needs a certificate "
		    "(e.g. tls_certificate = " CONFIG_CERT_EG ")");
		return;
	}
	conf.ts_certs = cfg->tls_certs;
	conf.ts_ncerts = cfg->ntls_certs;
	conf.ts_protocols = cfg->tls_protocols;
	conf.ts_ciphers = cfg->tls_ciphers;
	if ((cfg->tls_server = tls_server_new(&conf, err, sizeof err)) != NULL)
		return;
	/* Which certificate: each is checked again alone. */
	for (size_t i = 0; i < cfg->ntls_certs; i++) {
		if (tls_cert_check(&cfg->tls_certs[i], e2, sizeof e2) == 0 ||
		    (f = config_fileref(p, s, CT_CERTS, i)) == NULL)
			continue;
		config_key_error(p, f->line, "server", "tls_certificate",
		    f->value, e2);
		bad++;
	}
	if (bad == 0 && (f = config_fileref(p, s, CT_CERTS, 0)) != NULL)
		config_key_error(p, f->line, "server", "tls_certificate",
		    f->value, err);
}

/*
 * An upstream's side: with tls = yes, build its client context, an error
 * naming the line of tls_certificate, tls_ca or tls at fault; without,
 * each TLS key given is a warning.
 */
static void
config_tls_upstream(struct config_parser *p, const struct config_sect *s,
    struct config_upstream *up)
{
	const struct config_section *sec = &config_sections[CONFIG_UPSTREAM];
	int itls = config_key_index(CONFIG_UPSTREAM, "tls"),
	    ica = config_key_index(CONFIG_UPSTREAM, "tls_ca");
	const struct config_fileref *f;
	struct tls_client_conf conf = { 0 };
	char err[512];

	if (!up->tls) {
		for (size_t i = 0; i < sec->nkeys; i++)
			if ((sec->keys[i].flags & CK_TLS) && s->keyline[i] != 0)
				config_warning(p, s->keyline[i], "[%s] %s has no "
				    "effect without tls = yes", s->title,
				    sec->keys[i].name);
		return;
	}
	if (!up->tls_verify && up->tls_ca != NULL)
		config_warning(p, s->keyline[ica], "[%s] tls_ca has no effect "
		    "with tls_verify = no", s->title);
	conf.tcl_verify = up->tls_verify;
	conf.tcl_ca = up->tls_ca;
	conf.tcl_cert = up->tls_cert.tc_cert != NULL ? &up->tls_cert : NULL;
	if ((up->tls_client = tls_client_new(&conf, err, sizeof err)) != NULL)
		return;
	if (conf.tcl_cert != NULL &&
	    tls_cert_check(conf.tcl_cert, err, sizeof err) != 0 &&
	    (f = config_fileref(p, s, CT_CERT, 0)) != NULL)
		config_key_error(p, f->line, s->title, "tls_certificate",
		    f->value, err);
	else if (up->tls_ca != NULL &&
	    (f = config_fileref(p, s, CT_FILE, 0)) != NULL)
		config_key_error(p, f->line, s->title, "tls_ca", f->value, err);
	else
		config_key_error(p, s->keyline[itls], s->title, "tls", "yes",
		    err);
}

/* Check the TLS keys across sections and build the contexts. */
static void
config_finish_tls(struct config_parser *p)
{
	struct config *cfg = p->cfg;
	size_t u = 0;

	config_tls_server(p);
	for (size_t i = 0; i < p->nsects && u < cfg->nupstreams; i++) {
		const struct config_sect *s = p->sects[i];

		if (s->kind == CONFIG_UPSTREAM && !s->skip && !s->bad)
			config_tls_upstream(p, s, &cfg->upstreams[u++]);
	}
}

/* Parse len bytes of text; name stands for the file in messages. */
static struct config *
config_load_text(const char *text, size_t len, const char *name,
    int open_files, char **errors)
{
	struct config_parser p;
	struct config *cfg;
	int r;

	memset(&p, 0, sizeof p);
	*errors = NULL;
	p.name = name;
	p.pos = text;
	p.end = text + len;
	if ((p.dir = config_parse_dir(name)) == NULL ||
	    (p.cfg = config_new(name)) == NULL) {
		free(p.dir);
		if (asprintf(errors, "%s: out of memory\n", name) == -1)
			*errors = NULL;
		return NULL;
	}
	r = ini_parse_stream(config_reader, &p, config_handler, &p);
	if (r < 0)
		p.nomem = 1;
	else if (r > 0 && p.errs.n == 0)
		config_error(&p, r, "cannot parse this line");
	if (!p.nomem) {
		config_finish_upstreams(&p);
		config_finish_routes(&p);
	}
	if (!p.nomem && p.errs.n == 0) {
		config_warn(&p);
		config_finish_tls(&p);
		if (open_files)
			config_open_files(&p);
	}
	cfg = p.cfg;
	if (p.errs.n > 0 || p.nomem) {
		if (p.nomem)
			config_error(&p, 0, "out of memory");
		*errors = config_msgs_text(&p.errs);
		config_unref(cfg);
		cfg = NULL;
	} else if (p.warns.n > 0 &&
	    (cfg->warnings = config_msgs_text(&p.warns)) == NULL) {
		config_unref(cfg);
		cfg = NULL;
		if (asprintf(errors, "%s: out of memory\n", name) == -1)
			*errors = NULL;
	}
	config_msgs_free(&p.errs);
	config_msgs_free(&p.warns);
	for (size_t i = 0; i < p.nsects; i++)
		config_sect_free(p.sects[i]);
	free(p.sects);
	for (size_t i = 0; i < p.nfiles; i++)
		free(p.files[i].value);
	free(p.files);
	free(p.long_key);
	free(p.long_value);
	free(p.dir);
	return cfg;
}

/* Read and parse a file; open_files as for config_check(). */
static struct config *
config_load_file(const char *path, int open_files, char **errors)
{
	struct config *cfg;
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, n;
	FILE *f;

	*errors = NULL;
	if ((f = fopen(path, "re")) == NULL)
		goto fail;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16384;
			if (cap > CONFIG_MAXFILE) {
				errno = EFBIG;
				goto fail;
			}
			if ((nbuf = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nbuf;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		if (errno == 0)
			errno = EIO;
		goto fail;
	}
	fclose(f);
	cfg = config_load_text(buf, len, path, open_files, errors);
	free(buf);
	return cfg;
fail:
	if (asprintf(errors, "%s: %s\n", path, strerror(errno)) == -1)
		*errors = NULL;
	if (f != NULL)
		fclose(f);
	free(buf);
	return NULL;
}

/* Load and check an INI file; see config.h. */
struct config *
config_load(const char *path, char **errors)
{
	return config_load_file(path, 0, errors);
}

/* Load a file and open the files it names; see config.h. */
struct config *
config_check(const char *path, char **errors)
{
	return config_load_file(path, 1, errors);
}

/* Load and check INI text held in memory; see config.h. */
struct config *
config_load_string(const char *text, const char *name, char **errors)
{
	return config_load_text(text, strlen(text), name, 0, errors);
}

