/*
 * fuzz_framing.c: a byte stream's messages as hourglass's parser sees
 * them, and as strict llhttp sees them (see fuzz_framing.h).
 *
 * The strict llhttp is the same Debian source as the library's, compiled
 * a second time with LLHTTP_STRICT_MODE=1 (fuzz.mk), its symbols renamed
 * with a strict_ prefix; its header is the same llhttp.h, whose types do
 * not depend on the mode.  No lenient flag is set.  A message's end is
 * found by pausing in on_message_complete, as http.c does.
 */
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "fuzz_framing.h"
#include "fuzz_rig.h"

/* The strict copy's entry points (fuzz.mk: llhttp_strict.o). */
void	strict_llhttp_init(llhttp_t *, llhttp_type_t,
	    const llhttp_settings_t *);
void	strict_llhttp_settings_init(llhttp_settings_t *);
llhttp_errno_t strict_llhttp_execute(llhttp_t *, const char *, size_t);
llhttp_errno_t strict_llhttp_finish(llhttp_t *);
void	strict_llhttp_resume(llhttp_t *);
const char *strict_llhttp_get_error_pos(const llhttp_t *);
const char *strict_llhttp_get_error_reason(const llhttp_t *);
void	strict_llhttp_set_lenient_headers(llhttp_t *, int);
void	strict_llhttp_set_lenient_chunked_length(llhttp_t *, int);
void	strict_llhttp_set_lenient_keep_alive(llhttp_t *, int);
void	strict_llhttp_set_lenient_transfer_encoding(llhttp_t *, int);

/* A parse under way. */
struct framing_run {
	struct framing	*fr;
	size_t		 next_start;	/* where the next message begins */
	uint32_t	 head_mask;
	unsigned	 nfinal;	/* final responses so far */
};

static void __attribute__((noreturn))
framing_oom(void)
{
	fprintf(stderr, "fuzz framing: out of memory\n");
	abort();
}

/* Append len bytes to a growing buffer. */
static void
framing_append(uint8_t **buf, size_t *blen, size_t *cap, const void *p,
    size_t len)
{
	if (len == 0)
		return;
	if (*blen + len > *cap) {
		size_t ncap = *cap ? *cap : 256;

		while (ncap < *blen + len)
			ncap *= 2;
		if ((*buf = realloc(*buf, ncap)) == NULL)
			framing_oom();
		*cap = ncap;
	}
	memcpy(*buf + *blen, p, len);
	*blen += len;
}

/* Start a new message at start. */
static struct framing_msg *
framing_add(struct framing *fr, size_t start)
{
	struct framing_msg *m;

	if (fr->n == fr->cap) {
		fr->cap = fr->cap ? fr->cap * 2 : 8;
		if ((fr->msgs = realloc(fr->msgs, fr->cap * sizeof *m)) ==
		    NULL)
			framing_oom();
	}
	m = &fr->msgs[fr->n++];
	memset(m, 0, sizeof *m);
	m->start = start;
	m->method = -1;
	return m;
}

static struct framing_msg *
framing_last(struct framing *fr)
{
	return fr->n > 0 ? &fr->msgs[fr->n - 1] : NULL;
}

/* Set a message's target to a copy of len bytes at p (or add them). */
static void
framing_url(struct framing_msg *m, const char *p, size_t len)
{
	char *u;

	if ((u = realloc(m->url, m->url_len + len + 1)) == NULL)
		framing_oom();
	memcpy(u + m->url_len, p, len);
	m->url = u;
	m->url_len += len;
	u[m->url_len] = '\0';
}

static void
framing_fail(struct framing *fr, const char *reason, size_t at)
{
	fr->failed = true;
	fr->reason = reason != NULL ? reason : "?";
	fr->fail_at = at;
}

/* Whether the next final response answers a HEAD; counts it. */
static bool
framing_next_head(struct framing_run *r)
{
	unsigned i = r->nfinal++;

	return i < 32 && (r->head_mask >> i & 1);
}

/* --- hourglass's own parser --- */

/* A chunked body's data, de-chunked by http_chunked.c. */
static int
framing_hg_body(void *arg, const char *data, size_t len)
{
	struct framing_msg *m = framing_last(arg);

	framing_append(&m->body, &m->body_len, &m->body_cap, data, len);
	return 0;
}

/*
 * Parse with http_feed(), as the proxy does: one parser per connection
 * direction, reset after each message.  No feed of body bytes crosses
 * cut.  Returns where llhttp failed in a body, or SIZE_MAX; *at_cut tells
 * whether it was in a feed that stopped at cut.
 */
static size_t
framing_hg_run(struct framing *fr, enum http_kind kind, const uint8_t *p,
    size_t len, bool eof, uint32_t head_mask, size_t cut, bool *at_cut)
{
	struct framing_run r = { fr, 0, head_mask, 0 };
	struct http_limits lim = { 0, 0 };
	const char *s = (const char *)p;
	struct framing_msg *m = NULL;
	struct http_parser hp;
	struct http_msg hm;
	enum http_verdict v;
	size_t pos = 0, start = 0, used, n, ll_fail = SIZE_MAX;
	bool in_body = false, head = false, drawn = false;

	memset(fr, 0, sizeof *fr);
	http_parser_init(&hp, kind, &hm, &lim);
	http_parser_set_body_cb(&hp, framing_hg_body, fr, true);
	for (;;) {
		if (m == NULL) {
			if (pos == len)
				break;
			start = pos;
			m = framing_add(fr, start);
			in_body = false;
			if (kind == HTTP_KIND_RESPONSE) {
				if (!drawn)
					head = framing_next_head(&r);
				drawn = true;
				http_parser_set_head_request(&hp, head);
			}
		}
		n = len - pos;
		*at_cut = in_body && pos < cut && n > cut - pos;
		if (*at_cut)
			n = cut - pos;
		v = http_feed(&hp, s + start, s + pos, n, &used);
		if (in_body && !(hm.flags & HTTP_F_CHUNKED))
			framing_append(&m->body, &m->body_len, &m->body_cap,
			    s + pos, used);
		pos += used;
		if (v == HTTP_MORE && pos < len)
			continue;
		if (v == HTTP_MORE)
			break;
		if (v == HTTP_GOT_HEAD) {
			m->head_done = true;
			in_body = true;
			if (kind == HTTP_KIND_REQUEST) {
				m->method = hm.method_id;
				framing_url(m, s + start + hm.path.off,
				    hm.path.len);
			} else
				m->status = hm.status;
			continue;
		}
		if (v != HTTP_DONE) {
			framing_fail(fr, hp.hp_reason, pos);
			if (in_body && hp.hp_ll.error != HPE_OK &&
			    hp.hp_ll.error != HPE_PAUSED &&
			    hp.hp_ll.error_pos >= s + pos &&
			    hp.hp_ll.error_pos <= s + len)
				ll_fail = (size_t)(hp.hp_ll.error_pos - s);
			break;
		}
		m->done = true;
		m->end = pos;
		/* An interim response answers the same request as the next. */
		if (m->status >= 200)
			drawn = false;
		http_parser_reset(&hp);
		m = NULL;
	}
	if (eof && m != NULL && !fr->failed) {
		if (http_finish(&hp) == HTTP_DONE) {
			m->done = true;
			m->by_eof = true;
			m->end = len;
		}
	}
	http_msg_free(&hm);
	return ll_fail;
}

/*
 * One feed per message part.  When llhttp fails in a body, that feed
 * hands none of its data on (http_chunked.c sees the bytes only after
 * llhttp), while a proxy reading in small pieces relays the data before
 * the error: parse again with a feed that stops right before it.  llhttp
 * points at the bad byte or just past it, so the stop moves back a byte
 * while the feed that ends there fails.
 */
void
framing_hourglass(struct framing *fr, enum http_kind kind, const uint8_t *p,
    size_t len, bool eof, uint32_t head_mask)
{
	size_t cut;
	bool at_cut;

	cut = framing_hg_run(fr, kind, p, len, eof, head_mask, SIZE_MAX,
	    &at_cut);
	for (int tries = 0; cut != SIZE_MAX && cut > 0 && tries < 4;
	    tries++) {
		framing_free(fr);
		if (framing_hg_run(fr, kind, p, len, eof, head_mask, cut,
		    &at_cut) == SIZE_MAX || !at_cut)
			break;
		cut--;
	}
}

/* --- strict llhttp --- */

static int
framing_st_begin(llhttp_t *ll)
{
	struct framing_run *r = ll->data;

	framing_add(r->fr, r->next_start);
	return 0;
}

static int
framing_st_url(llhttp_t *ll, const char *at, size_t len)
{
	struct framing_run *r = ll->data;

	framing_url(framing_last(r->fr), at, len);
	return 0;
}

/*
 * The head is complete: 1 tells llhttp that no body follows.  llhttp 8.1
 * leaves that to its caller for a response to HEAD, and for 1xx, 204 and
 * 304 too (it would read a 304's Content-Length bytes as a body), which
 * never have one (RFC 9110, 6.4.1).
 */
static int
framing_st_headers(llhttp_t *ll)
{
	struct framing_run *r = ll->data;
	struct framing_msg *m = framing_last(r->fr);
	bool head;

	m->head_done = true;
	if (ll->type == HTTP_REQUEST) {
		m->method = ll->method;
		return 0;
	}
	m->status = ll->status_code;
	if (m->status < 200)
		return 1;
	head = framing_next_head(r);
	return head || m->status == 204 || m->status == 304 ? 1 : 0;
}

static int
framing_st_body(llhttp_t *ll, const char *at, size_t len)
{
	struct framing_run *r = ll->data;
	struct framing_msg *m = framing_last(r->fr);

	framing_append(&m->body, &m->body_len, &m->body_cap, at, len);
	return 0;
}

/* Pause, so that llhttp_execute() returns where the message ends. */
static int
framing_st_complete(llhttp_t *ll)
{
	struct framing_run *r = ll->data;

	framing_last(r->fr)->done = true;
	return HPE_PAUSED;
}

/* Parse with strict llhttp, all lenient flags off. */
void
framing_strict(struct framing *fr, enum http_kind kind, const uint8_t *p,
    size_t len, bool eof, uint32_t head_mask)
{
	struct framing_run r = { fr, 0, head_mask, 0 };
	const char *s = (const char *)p;
	llhttp_settings_t set;
	llhttp_errno_t e;
	llhttp_t ll;
	size_t pos = 0, end;

	memset(fr, 0, sizeof *fr);
	strict_llhttp_settings_init(&set);
	set.on_message_begin = framing_st_begin;
	set.on_url = framing_st_url;
	set.on_headers_complete = framing_st_headers;
	set.on_body = framing_st_body;
	set.on_message_complete = framing_st_complete;
	strict_llhttp_init(&ll, kind == HTTP_KIND_REQUEST ? HTTP_REQUEST :
	    HTTP_RESPONSE, &set);
	strict_llhttp_set_lenient_headers(&ll, 0);
	strict_llhttp_set_lenient_chunked_length(&ll, 0);
	strict_llhttp_set_lenient_keep_alive(&ll, 0);
	strict_llhttp_set_lenient_transfer_encoding(&ll, 0);
	ll.data = &r;
	while (pos < len) {
		e = strict_llhttp_execute(&ll, s + pos, len - pos);
		if (e == HPE_OK)
			break;
		end = (size_t)(strict_llhttp_get_error_pos(&ll) - s);
		if (e != HPE_PAUSED) {
			framing_fail(fr, e == HPE_PAUSED_UPGRADE ?
			    "upgrade" : strict_llhttp_get_error_reason(&ll),
			    end);
			return;
		}
		framing_last(fr)->end = end;
		r.next_start = pos = end;
		strict_llhttp_resume(&ll);
	}
	if (eof && framing_last(fr) != NULL && !framing_last(fr)->done) {
		/* A close-delimited body ends here; anything else is cut. */
		if (strict_llhttp_finish(&ll) == HPE_PAUSED) {
			framing_last(fr)->by_eof = true;
			framing_last(fr)->end = len;
		}
	}
}

/* --- records --- */

void
framing_free(struct framing *fr)
{
	for (size_t i = 0; i < fr->n; i++) {
		free(fr->msgs[i].url);
		free(fr->msgs[i].body);
	}
	free(fr->msgs);
	memset(fr, 0, sizeof *fr);
}

/* How many messages have a complete head (only the last may not). */
static size_t
framing_nheads(const struct framing *fr)
{
	return fr->n > 0 && !fr->msgs[fr->n - 1].head_done ? fr->n - 1 :
	    fr->n;
}

bool
framing_body_in(const struct framing_msg *a, const struct framing_msg *b,
    bool prefix)
{
	if (prefix ? a->body_len > b->body_len : a->body_len != b->body_len)
		return false;
	return a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0;
}

const char *
framing_differ(const struct framing *a, const struct framing *b)
{
	static char why[256];
	const struct framing_msg *x, *y;
	size_t n = framing_nheads(a);

	if (a->failed != b->failed) {
		snprintf(why, sizeof why, "only one refuses the stream (%s)",
		    a->failed ? a->reason : b->reason);
		return why;
	}
	if (n != framing_nheads(b)) {
		snprintf(why, sizeof why, "%zu messages against %zu", n,
		    framing_nheads(b));
		return why;
	}
	for (size_t i = 0; i < n; i++) {
		x = &a->msgs[i];
		y = &b->msgs[i];
		if (x->method != y->method || x->status != y->status ||
		    x->url_len != y->url_len ||
		    (x->url_len > 0 && memcmp(x->url, y->url, x->url_len)))
			snprintf(why, sizeof why, "message %zu: another head",
			    i);
		else if (x->done != y->done || x->by_eof != y->by_eof)
			snprintf(why, sizeof why, "message %zu: complete for "
			    "one only", i);
		else if (x->done && x->end != y->end)
			snprintf(why, sizeof why, "message %zu ends at %zu "
			    "against %zu", i, x->end, y->end);
		else if (!framing_body_in(x, y, false))
			snprintf(why, sizeof why, "message %zu: another body "
			    "(%zu bytes against %zu)", i, x->body_len,
			    y->body_len);
		else
			continue;
		return why;
	}
	return NULL;
}

/* Write len bytes at p escaped: CR as \\r, other controls and bytes
 * 0x7f-0xff as \\xNN; LF as \\n and, with lines, a new line. */
static void
framing_escape(FILE *f, const uint8_t *p, size_t len, bool lines)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t ch = p[i];

		if (ch == '\n')
			fputs(lines ? "\\n\n" : "\\n", f);
		else if (ch == '\r')
			fputs("\\r", f);
		else if (ch == '\\')
			fputs("\\\\", f);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
}

void
framing_print(FILE *f, const char *title, const struct framing *fr)
{
	const struct framing_msg *m;

	fprintf(f, "%s: %zu messages\n", title, fr->n);
	for (size_t i = 0; i < fr->n; i++) {
		m = &fr->msgs[i];
		fprintf(f, "  #%zu at %zu: ", i, m->start);
		if (m->method >= 0) {
			fprintf(f, "%s ", llhttp_method_name(
			    (llhttp_method_t)m->method));
			framing_escape(f, (const uint8_t *)m->url, m->url_len,
			    false);
		} else if (m->head_done)
			fprintf(f, "%d", m->status);
		else
			fprintf(f, "(head cut short)");
		fprintf(f, ", body %zu bytes, ", m->body_len);
		if (m->done)
			fprintf(f, "ends at %zu%s\n", m->end,
			    m->by_eof ? " (by the end of stream)" : "");
		else
			fprintf(f, "cut short\n");
	}
	if (fr->failed)
		fprintf(f, "  then an error near byte %zu: %s\n", fr->fail_at,
		    fr->reason);
}

void
framing_print_bytes(FILE *f, const char *title, const uint8_t *p, size_t len)
{
	fprintf(f, "%s (%zu bytes):\n", title, len);
	framing_escape(f, p, len < 4096 ? len : 4096, true);
	if (len > 4096)
		fputs("...", f);
	fputc('\n', f);
}

/* --- the property over the rig's streams --- */

/* Whether a forwarded message f stands for the client's message c: the
 * same method and target, and the same body (or its start, cut short). */
static bool
same_request(const struct framing_msg *f, const struct framing_msg *c)
{
	if (!c->head_done || f->method != c->method ||
	    f->url_len != c->url_len || memcmp(f->url, c->url, f->url_len) != 0)
		return false;
	if (f->done)
		return c->done && framing_body_in(f, c, false);
	return framing_body_in(f, c, true);
}

/* The framing property broken: say how, show both sides, and crash. */
static void __attribute__((noreturn))
framing_broken(const char *target, const char *why, size_t conn,
    const struct framing *client, const struct framing *up,
    const uint8_t *cb, size_t clen, const uint8_t *ub, size_t ulen)
{
	fprintf(stderr, "%s: framing property: upstream connection %zu: %s\n",
	    target, conn, why);
	framing_print(stderr, "hourglass's parse of what the client sent",
	    client);
	framing_print(stderr, "strict llhttp's parse of what the upstream "
	    "received", up);
	framing_print_bytes(stderr, "the client sent", cb, clen);
	framing_print_bytes(stderr, "the upstream received", ub, ulen);
	abort();
}

/* The request path's framing property over the rig's streams. */
void
framing_check_forwarded(const char *target)
{
	struct framing client, st, hg;
	const uint8_t *cb, *ub;
	const char *why;
	char msg[160];
	size_t clen, ulen, next;

	cb = rig_client_sent(&clen);
	framing_hourglass(&client, HTTP_KIND_REQUEST, cb, clen, false, 0);
	for (size_t u = 0; u < rig_upstream_count(); u++) {
		ub = rig_upstream_bytes(u, &ulen);
		framing_hourglass(&hg, HTTP_KIND_REQUEST, ub, ulen, true, 0);
		framing_strict(&st, HTTP_KIND_REQUEST, ub, ulen, true, 0);
		if (st.failed) {
			snprintf(msg, sizeof msg, "strict llhttp refuses it "
			    "near byte %zu: %s", st.fail_at, st.reason);
			framing_broken(target, msg, u, &client, &st, cb,
			    clen, ub, ulen);
		}
		if ((why = framing_differ(&hg, &st)) != NULL) {
			snprintf(msg, sizeof msg, "hourglass's parser and "
			    "strict llhttp frame it differently: %s", why);
			framing_broken(target, msg, u, &client, &st, cb,
			    clen, ub, ulen);
		}
		framing_free(&hg);
		next = 0;
		for (size_t i = 0; i < st.n; i++) {
			const struct framing_msg *f = &st.msgs[i];

			if (!f->head_done)
				break;	/* cut in the head: nothing to say */
			while (next < client.n &&
			    !same_request(f, &client.msgs[next]))
				next++;
			if (next == client.n) {
				snprintf(msg, sizeof msg, "message %zu (%s) is "
				    "none of the client's, in order", i,
				    f->done ? "whole" : "cut short");
				framing_broken(target, msg, u, &client, &st,
				    cb, clen, ub, ulen);
			}
			next++;
		}
		framing_free(&st);
	}
	framing_free(&client);
}
