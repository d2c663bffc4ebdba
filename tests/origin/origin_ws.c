/*
 * origin_ws.c: the tunnels of the test origin, /ws and /upgrade
 * (origin_routes.c lists what each endpoint does).
 *
 * tunnel_start() answers the request: a 101, or 426 or 400 when the request
 * does not ask for an upgrade the endpoint can give.  After a 101 the
 * connection is CONN_TUNNEL (or CONN_SILENT for /upgrade/silent) and
 * tunnel_input() consumes cn_in each time origin_conn.c has read into it.
 *
 * Raw tunnel: each read is moved whole to cn_out (no copy), unless it
 * begins with a command line.  cn_in is empty before every read, since
 * reading stops while cn_out holds ORIGIN_OUT_HIGH bytes or more, so "the
 * start of cn_in" is "the start of a read".
 *
 * WebSocket: a data frame's header is answered at once with ours (no
 * mask, the same FIN bit, opcode and length) and its payload is unmasked
 * and relayed as it arrives, so a frame of any length streams through in
 * bounded memory.  A control frame (at most 125 bytes) is answered once it
 * is whole.
 *
 * tunnel_end_log() writes the "done" event once our FIN or RST goes out.
 */
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "origin.h"

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN	24	/* base64 of 16 bytes */
#define WS_CHUNK	16384	/* payload bytes unmasked per step */

enum {
	WS_CONT = 0x0,
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,
	WS_PING = 0x9,
	WS_PONG = 0xa,
};

#define WS_PROTOCOL_ERROR	1002

/* Whether a comma-separated header value holds a token, case-insensitively. */
static int
tunnel_has_token(const char *v, size_t len, const char *tok)
{
	size_t	 tl = strlen(tok), i = 0, s, e;

	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
			return 1;
	}
	return 0;
}

/* A Sec-WebSocket-Key: 24 characters of base64 that end in "==". */
static int
tunnel_key_ok(const char *k, size_t len)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t	 i;

	if (len != WS_KEY_LEN || k[22] != '=' || k[23] != '=')
		return 0;
	for (i = 0; i < 22; i++)
		if (k[i] == '\0' || strchr(b64, k[i]) == NULL)
			return 0;
	return 1;
}

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key GUID)), NUL-terminated. */
static void
tunnel_accept(const char *key, size_t len, char out[29])
{
	unsigned char	 md[SHA_DIGEST_LENGTH];
	char		 in[WS_KEY_LEN + sizeof WS_GUID];

	memcpy(in, key, len);
	memcpy(in + len, WS_GUID, sizeof WS_GUID - 1);
	SHA1((unsigned char *)in, len + sizeof WS_GUID - 1, md);
	EVP_EncodeBlock((unsigned char *)out, md, sizeof md);
}

/* Log "done" once, when a tunnel's side of the origin ends (FIN or RST). */
void
tunnel_end_log(struct conn *c)
{
	if (c->tn_kind == TUNNEL_NONE || c->tn_end_logged)
		return;
	c->tn_end_logged = 1;
	origin_event(c, "done");
}

/* Answer a request to /ws or /upgrade*: 101 and a tunnel, or 426 or 400. */
void
tunnel_start(struct conn *c)
{
	char	 head[512], accept[32];
	int	 n, ws = c->rs_route == ROUTE_WS;

	if (!c->rq_http11 || !c->rq_conn_upgrade || c->rq_upgrade_len == 0 ||
	    c->rq_upgrade_len >= sizeof c->rq_upgrade ||
	    (ws && (!tunnel_has_token(c->rq_upgrade, c->rq_upgrade_len,
	    "websocket") || c->rq_ws_version != 13))) {
		static const char body[] = "426 Upgrade Required\n";

		routes_answer(c, 426, "Upgrade: websocket\r\n"
		    "Sec-WebSocket-Version: 13\r\n", body, sizeof body - 1);
		return;
	}
	if (!c->rq_get || (ws && (c->rq_ws_key_len >= sizeof c->rq_ws_key ||
	    !tunnel_key_ok(c->rq_ws_key, c->rq_ws_key_len)))) {
		routes_error(c, 400);
		return;
	}
	if (ws) {
		tunnel_accept(c->rq_ws_key, c->rq_ws_key_len, accept);
		n = snprintf(head, sizeof head, "HTTP/1.1 101 Switching Protocols"
		    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	} else
		n = snprintf(head, sizeof head, "HTTP/1.1 101 Switching Protocols"
		    "\r\nConnection: upgrade\r\nUpgrade: %s\r\n\r\n",
		    c->rq_upgrade);
	if (n < 0 || (size_t)n >= sizeof head) {
		routes_error(c, 500);
		return;
	}
	evbuffer_add(c->cn_out, head, (size_t)n);
	c->tn_kind = ws ? TUNNEL_WS : TUNNEL_RAW;
	c->ws_left = 0;
	origin_event(c, "upgrade");

	switch (c->rs_route) {
	case ROUTE_UPGRADE_CLOSE:
		conn_set_state(c, CONN_CLOSING);
		break;
	case ROUTE_UPGRADE_RESET:
		evbuffer_write(c->cn_out, c->cn_fd);
		conn_close(c, 1);
		break;
	case ROUTE_UPGRADE_SILENT:
		conn_set_state(c, CONN_SILENT);
		break;
	default:
		conn_set_state(c, CONN_TUNNEL);
		break;
	}
}

/*
 * A read that begins with a command line: carry it out and return 1;
 * 0 if the read is data.
 */
static int
tunnel_command(struct conn *c)
{
	static const struct {
		const char	*name;
		enum conn_state	 to;
	} cmds[] = {
		{ "!silent", CONN_SILENT },
		{ "!close", CONN_CLOSING },
		{ "!reset", CONN_DEAD },
		{ "!shut", CONN_SHUT },
	};
	char	 line[16];
	size_t	 n, len, i;

	n = evbuffer_copyout(c->cn_in, line, sizeof line);
	if (n == 0 || line[0] != '!')
		return 0;
	for (len = 0; len < n && line[len] != '\n'; len++)
		;
	if (len == n)
		return 0;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		if (len != strlen(cmds[i].name) ||
		    memcmp(line, cmds[i].name, len) != 0)
			continue;
		if (origin.verbose)
			origin_debug("conn %llu: %s", (unsigned long long)c->cn_id,
			    cmds[i].name);
		/* The rest of the read goes with the command. */
		evbuffer_drain(c->cn_in, evbuffer_get_length(c->cn_in));
		if (cmds[i].to == CONN_DEAD)
			conn_close(c, 1);
		else
			conn_set_state(c, cmds[i].to);
		return 1;
	}
	return 0;
}

/* Queue a frame from the server: never masked, the shortest length form. */
static void
ws_frame_head(struct conn *c, unsigned b0, uint64_t len)
{
	unsigned char	 h[10];
	size_t		 hl;
	int		 i;

	h[0] = (unsigned char)b0;
	if (len < 126) {
		h[1] = (unsigned char)len;
		hl = 2;
	} else if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)(len >> (56 - 8 * i));
		hl = 10;
	}
	evbuffer_add(c->cn_out, h, hl);
}

/* Close the WebSocket with a code: our close frame, then our FIN. */
static void
ws_close(struct conn *c, unsigned code)
{
	unsigned char	 p[2] = { (unsigned char)(code >> 8), (unsigned char)code };

	ws_frame_head(c, 0x80 | WS_CLOSE, code != 0 ? 2 : 0);
	if (code != 0)
		evbuffer_add(c->cn_out, p, 2);
	evbuffer_drain(c->cn_in, evbuffer_get_length(c->cn_in));
	conn_set_state(c, CONN_CLOSING);
}

/* Remove n payload bytes from cn_in into buf, unmasked. */
static void
ws_unmask(struct conn *c, unsigned char *buf, size_t n)
{
	size_t	 i;

	evbuffer_remove(c->cn_in, buf, n);
	for (i = 0; i < n; i++)
		buf[i] ^= c->ws_mask[(c->ws_off + i) & 3];
	c->ws_off += n;
}

/* A whole control frame is at the front of cn_in, after hl header bytes. */
static void
ws_control(struct conn *c, unsigned op, size_t hl, size_t len)
{
	unsigned char	 p[125];

	evbuffer_drain(c->cn_in, hl);
	c->ws_off = 0;
	ws_unmask(c, p, len);
	switch (op) {
	case WS_PING:
		ws_frame_head(c, 0x80 | WS_PONG, len);
		evbuffer_add(c->cn_out, p, len);
		break;
	case WS_CLOSE:
		if (len == 1)
			ws_close(c, WS_PROTOCOL_ERROR);
		else
			ws_close(c, len == 0 ? 0 : (unsigned)p[0] << 8 | p[1]);
		break;
	default:		/* a pong: nothing to answer */
		break;
	}
}

/*
 * Echo the frames in cn_in while less than ORIGIN_OUT_HIGH is queued; stop
 * at an incomplete header or control frame.
 */
static void
ws_input(struct conn *c)
{
	unsigned char	 h[14], buf[WS_CHUNK];
	uint64_t	 len;
	size_t		 have, hl, n;
	unsigned	 op;
	int		 i;

	while (c->cn_state == CONN_TUNNEL &&
	    evbuffer_get_length(c->cn_out) < ORIGIN_OUT_HIGH) {
		have = evbuffer_get_length(c->cn_in);
		if (c->ws_left > 0) {
			if (have == 0)
				return;
			n = have < sizeof buf ? have : sizeof buf;
			if (n > c->ws_left)
				n = (size_t)c->ws_left;
			ws_unmask(c, buf, n);
			evbuffer_add(c->cn_out, buf, n);
			c->ws_left -= n;
			continue;
		}
		n = evbuffer_copyout(c->cn_in, h, sizeof h);
		if (n < 2)
			return;
		op = h[0] & 0x0f;
		len = h[1] & 0x7f;
		if ((h[0] & 0x70) != 0 || (h[1] & 0x80) == 0 ||
		    (op > WS_BINARY && op < WS_CLOSE) || op > WS_PONG ||
		    ((op & 0x8) && ((h[0] & 0x80) == 0 || len > 125))) {
			ws_close(c, WS_PROTOCOL_ERROR);
			return;
		}
		hl = 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + 4;
		if (n < hl)
			return;
		if (len == 126)
			len = (uint64_t)h[2] << 8 | h[3];
		else if (len == 127) {
			for (len = 0, i = 0; i < 8; i++)
				len = len << 8 | h[2 + i];
			if (len >> 63 != 0) {
				ws_close(c, WS_PROTOCOL_ERROR);
				return;
			}
		}
		memcpy(c->ws_mask, h + hl - 4, 4);
		if (op & 0x8) {
			if (have < hl + len)
				return;
			ws_control(c, op, hl, (size_t)len);
			continue;
		}
		evbuffer_drain(c->cn_in, hl);
		ws_frame_head(c, h[0] & 0x8f, len);
		c->ws_left = len;
		c->ws_off = 0;
	}
}

/* Consume what was read after a 101: echo it, drop it, or act on it. */
void
tunnel_input(struct conn *c)
{
	if (evbuffer_get_length(c->cn_in) == 0)
		return;
	if (c->tn_kind == TUNNEL_WS) {
		if (c->cn_state == CONN_TUNNEL)
			ws_input(c);
		else
			evbuffer_drain(c->cn_in, evbuffer_get_length(c->cn_in));
		return;
	}
	if (tunnel_command(c))
		return;
	if (c->cn_state == CONN_SILENT)
		evbuffer_drain(c->cn_in, evbuffer_get_length(c->cn_in));
	else
		evbuffer_add_buffer(c->cn_out, c->cn_in);
}
