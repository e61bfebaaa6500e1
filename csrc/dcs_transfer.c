/* One transfer's side of the multi engine: its easy handle's options and
 * header list; libcurl's callbacks for it (the blocking transport's
 * handling, unchanged: the head checked by dcs_headers_parse, a body
 * buffered (capped by max_body) or streamed into a dcs_file in 256 KiB
 * writes while helper threads hash it, progress), which run inside a step;
 * and how it ended: failures classified from our own flags first, then
 * libcurl's code.  Nothing here knows the engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dcs_headers.h"
#include "dcs_transfer.h"

/* ---- one transfer's callbacks (from libcurl, inside a step) ---- */

static int is_blank_line(const char *data, size_t n)
{
    return (n == 1 && data[0] == '\n') || (n == 2 && data[0] == '\r' && data[1] == '\n');
}

/* The framing fields of a head (see DCS_HTTP_MAX_LENGTH_DIGITS). */
typedef struct framing {
    dcs_str length;             /* the first Content-Length item */
    int has_length, has_te, bad;
} framing;

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* One item of a Content-Length list, [b, e) before trimming. */
static void length_item(framing *f, const char *b, const char *e)
{
    size_t n, i;
    while (b < e && is_blank(*b))
        b++;
    while (e > b && is_blank(e[-1]))
        e--;
    n = (size_t)(e - b);
    if (n == 0 || n > DCS_HTTP_MAX_LENGTH_DIGITS)
        f->bad = 1;
    for (i = 0; i < n; i++)
        if (b[i] < '0' || b[i] > '9')
            f->bad = 1;
    if (f->has_length && (n != f->length.len || memcmp(b, f->length.ptr, n) != 0))
        f->bad = 1;
    f->length.ptr = b;
    f->length.len = n;
    f->has_length = 1;
}

/* dcs_headers_parse callback: notes Content-Length and Transfer-Encoding. */
static int note_framing(void *ud, dcs_str name, dcs_str value)
{
    framing *f = ud;
    const char *p = value.ptr, *end = value.ptr + value.len, *comma;

    if (dcs_str_ieq(name.ptr, name.len, "transfer-encoding", 17)) {
        f->has_te = 1;
    } else if (dcs_str_ieq(name.ptr, name.len, "content-length", 14)) {
        while ((comma = memchr(p, ',', (size_t)(end - p))) != NULL) {
            length_item(f, p, comma);
            p = comma + 1;
        }
        length_item(f, p, end);
    }
    return 1;
}

static int refuse_head(dcs_transfer *t, const char *why)
{
    t->bad_head = 1;
    t->bad_why = why;
    return 0;
}

/* A final head that may go to on_head: 0 (refused) when it is malformed,
 * an interim answer too many, a 101, or ambiguous framing; -1 for an
 * interim answer (skipped); else its status. */
static int check_head(dcs_transfer *t)
{
    dcs_http_response *res = &t->res;
    framing f;
    int status;

    memset(&f, 0, sizeof f);
    status = dcs_headers_parse(res->headers.data, res->headers.len, note_framing, &f);
    if (status < 0)
        return refuse_head(t, "malformed response header block");
    if (status == 101)
        return refuse_head(t, "101 Switching Protocols, which no request of ours asks for");
    if (status < 200) {
        if (++t->interim > DCS_HTTP_MAX_INTERIM)
            return refuse_head(t, "more than 10 interim (1xx) responses");
        dcs_buf_reset(&res->headers);
        t->lines = 0;
        return -1;
    }
    if (f.bad)
        return refuse_head(t, "malformed or conflicting Content-Length");
    if (f.has_length && f.has_te)
        return refuse_head(t, "both Content-Length and Transfer-Encoding (response splitting?)");
    return status;
}

/* The header block is complete: check it, skip an interim (1xx) response,
 * and let on_head say where the body goes. */
static int head_complete(dcs_transfer *t)
{
    const dcs_http_request *req = &t->req;
    dcs_http_response *res = &t->res;
    int status = check_head(t);
    dcs_http_body_to to;

    if (status <= 0)
        return status < 0;
    res->status = status;
    res->head_done = 1;
    t->lines = 0;               /* from now on, trailers (on_trailer) */
    to = req->on_head ? req->on_head(req->ud, status, res->headers.data, res->headers.len)
                      : DCS_HTTP_BODY_BUFFER;
    if (t->state != T_RUNNING || t->ended_by != DCS_HTTP_OK)
        return 0;               /* the callback cancelled it or closed the engine */
    res->body_to = to == DCS_HTTP_BODY_FILE && req->file == NULL ? DCS_HTTP_BODY_BUFFER : to;
    if (res->body_to == DCS_HTTP_BODY_REFUSE) {
        t->aborted = 1;
        return 0;
    }
    /* The body streams into the file: hash on helper threads while libcurl
     * receives (inline if they cannot start); finish() ends it. */
    if (res->body_to == DCS_HTTP_BODY_FILE) {
        if (t->wbuf == NULL)
            t->wbuf = malloc(WRITE_BUFFER);     /* without it, bodies go unbuffered */
        if (!t->async)
            t->async = dcs_file_async_begin(req->file, 0) == 0;
    }
    return 1;
}

/* A trailer line after a chunked body: not part of the head and not
 * kept, but bounded as a head is, or a server could send them for ever.
 * libcurl hands over each field with its CRLF (not the final blank line)
 * and refuses a line over 64 KiB itself. */
static int on_trailer(dcs_transfer *t, const char *data, size_t n)
{
    if (n > DCS_HEADERS_MAX_BYTES - t->trailer_bytes)
        return refuse_head(t, "response trailers larger than 65536 bytes");
    t->trailer_bytes += n;
    if (!is_blank_line(data, n) && ++t->lines > DCS_HEADERS_MAX_FIELDS)
        return refuse_head(t, "more than 200 trailer fields");
    return 1;
}

/* libcurl hands over one header line at a time, the final blank one
 * included; the proxy's CONNECT answer never comes here
 * (CURLOPT_SUPPRESS_CONNECT_HEADERS). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    dcs_transfer *t = ud;
    size_t n = size * nmemb;

    if (t->state != T_RUNNING || t->ended_by != DCS_HTTP_OK)
        return 0;
    if (t->res.head_done)
        return on_trailer(t, data, n) ? n : 0;
    if (n > DCS_HEADERS_MAX_BYTES - t->res.headers.len)
        return refuse_head(t, "response header block larger than 65536 bytes");
    /* the status line, the fields and the blank line: fail as soon as
     * there are too many, not when the block ends (if it ever does) */
    if (++t->lines > DCS_HEADERS_MAX_FIELDS + 2)
        return refuse_head(t, "more than 200 header fields");
    dcs_buf_add(&t->res.headers, data, n);
    if (!dcs_buf_ok(&t->res.headers))
        return 0;
    if (is_blank_line(data, n) && !head_complete(t))
        return 0;
    return n;
}

/* 0 when the transfer must stop: the callback said so, cancelled it or
 * closed the engine. */
int dcs_transfer_report_progress(dcs_transfer *t)
{
    dcs_http_response *res = &t->res;
    res->reported = res->streamed;
    if (!t->req.on_progress(t->req.ud, res->streamed))
        t->aborted = 1;
    return !t->aborted && t->ended_by == DCS_HTTP_OK;
}

/* Writes n body bytes to the file; 0 (with res.file_error) on failure. */
static int write_file(dcs_transfer *t, const void *data, size_t n)
{
    int rc = dcs_file_write(t->req.file, data, n);
    if (rc != 0) {
        t->res.file_error = rc;
        return 0;
    }
    t->res.streamed += (long long)n;
    return 1;
}

/* The gathered bytes to the file (after the transfer too: a body cut short
 * keeps every byte received, for a resume). */
int dcs_transfer_flush(dcs_transfer *t)
{
    size_t n = t->pending;
    t->pending = 0;
    return n == 0 || write_file(t, t->wbuf, n);
}

/* After bytes reached the file: a progress report when one is due. */
static int progress_due(dcs_transfer *t)
{
    dcs_http_response *res = &t->res;
    if (t->req.on_progress == NULL ||
        res->streamed - (res->reported < 0 ? 0 : res->reported) < t->req.progress_step)
        return 1;
    return dcs_transfer_report_progress(t);
}

static size_t to_file(dcs_transfer *t, const char *data, size_t n)
{
    size_t left = n;

    if (t->wbuf == NULL)
        return write_file(t, data, n) && progress_due(t) ? n : 0;
    while (left > 0) {
        size_t k = WRITE_BUFFER - t->pending;
        if (k > left)
            k = left;
        memcpy(t->wbuf + t->pending, data, k);
        t->pending += k;
        data += k;
        left -= k;
        if (t->pending == WRITE_BUFFER && !(dcs_transfer_flush(t) && progress_due(t)))
            return 0;
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    dcs_transfer *t = ud;
    dcs_http_response *res = &t->res;
    size_t n = size * nmemb;

    if (t->state != T_RUNNING || t->ended_by != DCS_HTTP_OK)
        return 0;
    if (res->body_to == DCS_HTTP_BODY_FILE)
        return to_file(t, data, n);
    if (t->max_body > 0 && res->body.len + n > t->max_body) {
        t->too_large = 1;
        return 0;
    }
    dcs_buf_add(&res->body, data, n);
    return dcs_buf_ok(&res->body) ? n : 0;
}

/* Before each request libcurl sends for t, a retry included (7.80 on). */
#if LIBCURL_VERSION_NUM >= 0x075000
#define COUNTS_ATTEMPTS 1
static int on_request(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
    dcs_transfer *t = ud;
    (void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
    t->attempts++;
    return CURL_PREREQFUNC_OK;
}
#else
#define COUNTS_ATTEMPTS 0
#endif

/* ---- setting up its easy handle ---- */

#define MAX_HEADERS 100000      /* a sanity bound: lreq.c allows 1000 */

/* The options an easy handle was set up with that are the same for every
 * transfer of a client (dcs_http_config's, but the total timeout and
 * max_body), kept with the handle while the engine pools it: libcurl keeps
 * a handle's options from one transfer to the next, so a transfer with the
 * same ones sets only its own, where curl_easy_reset and every option again
 * cost more than the rest of its setup.  One allocation. */
struct dcs_easy_key {
    long connect_timeout_ms;
    int insecure;
    size_t len[4];              /* of each string in text, NUL included; 0: NULL */
    char text[];
};

#define KEY_STRINGS(c) { (c)->ca_file, (c)->proxy, (c)->no_proxy, (c)->user_agent }

static int key_matches(const dcs_easy_key *k, const dcs_http_config *c)
{
    const char *s[4] = KEY_STRINGS(c);
    const char *p = k->text;
    int i;

    if (k->connect_timeout_ms != c->connect_timeout_ms || k->insecure != c->insecure)
        return 0;
    for (i = 0; i < 4; p += k->len[i], i++)
        if ((s[i] == NULL) != (k->len[i] == 0) || (s[i] != NULL && strcmp(s[i], p) != 0))
            return 0;
    return 1;
}

/* NULL when out of memory: the handle is then set up anew each time. */
static dcs_easy_key *key_of(const dcs_http_config *c)
{
    const char *s[4] = KEY_STRINGS(c);
    size_t len[4], total = 0;
    dcs_easy_key *k;
    char *p;
    int i;

    for (i = 0; i < 4; i++) {
        len[i] = s[i] != NULL ? strlen(s[i]) + 1 : 0;
        if (len[i] > (size_t)-1 - sizeof *k - total)
            return NULL;
        total += len[i];
    }
    if ((k = malloc(sizeof *k + total)) == NULL)
        return NULL;
    k->connect_timeout_ms = c->connect_timeout_ms;
    k->insecure = c->insecure;
    for (p = k->text, i = 0; i < 4; p += len[i], i++) {
        k->len[i] = len[i];
        if (len[i] > 0)
            memcpy(p, s[i], len[i]);
    }
    return k;
}

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)

/* The options every transfer with c's options shares (dcs_easy_key), on a
 * handle fresh from curl_easy_init or curl_easy_reset. */
static CURLcode apply_config(CURL *e, const dcs_http_config *c)
{
    CURLcode rc = CURLE_OK;

    SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    SET(CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
    if (c->ca_file)
        SET(CURLOPT_CAINFO, c->ca_file);
    if (c->proxy)
        SET(CURLOPT_PROXY, c->proxy);
    if (c->no_proxy)
        SET(CURLOPT_NOPROXY, c->no_proxy);
    if (c->user_agent)
        SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_WRITEFUNCTION, on_body);
#if COUNTS_ATTEMPTS
    SET(CURLOPT_PREREQFUNCTION, on_request);
#endif
    return rc;
}

/* The options of this transfer alone: each one set every time, to its
 * default when the request does not use it, so nothing carries over from
 * the handle's last transfer. */
static CURLcode apply_request(dcs_transfer *t, const dcs_http_config *c,
                              const dcs_http_request *req, int multiplex)
{
    CURL *e = t->easy;
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : (req->timeout_ms < 0 ? 0 : c->timeout_ms);
    int stall = req->stall_seconds > 0;
    CURLcode rc = CURLE_OK;

    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_TIMEOUT_MS, timeout);
    t->total_ms = timeout;
    SET(CURLOPT_LOW_SPEED_LIMIT, stall ? (req->min_speed > 0 ? req->min_speed : 1L) : 0L);
    SET(CURLOPT_LOW_SPEED_TIME, stall ? req->stall_seconds : 0L);
    SET(CURLOPT_HTTPHEADER, t->headers);
    SET(CURLOPT_ERRORBUFFER, t->errbuf);
    SET(CURLOPT_HEADERDATA, t);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_PRIVATE, t);
#if COUNTS_ATTEMPTS
    SET(CURLOPT_PREREQDATA, t);
#endif
    /* Wait for a connection that may turn out to multiplex (HTTP/2)
     * rather than open one more for each transfer started meanwhile.  Only
     * over TLS, where ALPN tells within the handshake: on plain http://
     * (HTTP/1.1 here) libcurl would hold every other transfer until the
     * first response came back. */
    t->shares = multiplex && strncasecmp(req->url, "https:", 6) == 0;
    SET(CURLOPT_PIPEWAIT, t->shares ? 1L : 0L);
    if (req->file != NULL)      /* the handle has the default (dcs_transfer_park) */
        SET(CURLOPT_BUFFERSIZE, RECV_BUFFER);
    return rc;
}

/* The method and its body; the body is copied (CURLOPT_COPYPOSTFIELDS,
 * its size first), so the caller's string may go once start returns.
 * GET first, with no custom method: what the handle's last transfer chose
 * (a HEAD, a POST) does not carry over. */
static CURLcode apply_method(CURL *e, const dcs_http_request *req)
{
    CURLcode rc = CURLE_OK;

    SET(CURLOPT_HTTPGET, 1L);
    SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
    if (strcmp(req->method, "GET") == 0 && req->body_len == 0)
        return rc;
    if (strcmp(req->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(req->method, "POST") == 0)
            SET(CURLOPT_POST, 1L);
        else
            SET(CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body_len > 0 || strcmp(req->method, "POST") == 0) {
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            SET(CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
        }
    }
    return rc;
}

#undef SET

/* The request's header lines as a curl_slist, "Expect:" first (libcurl
 * would otherwise send "Expect: 100-continue" for large bodies): the nodes
 * and a copy of the lines in one allocation, freed with free().  libcurl
 * only reads a list it is given, and the copy keeps the engine's promise
 * that the caller's strings may go once start returns.  NULL when out of
 * memory. */
static struct curl_slist *header_list(const dcs_http_request *req)
{
    static const char expect[] = "Expect:";
    size_t n = req->header_count + 1, text = sizeof expect, len, i;
    struct curl_slist *nodes;
    char *out;

    if (req->header_count > MAX_HEADERS)
        return NULL;
    for (i = 0; i < req->header_count; i++) {
        len = strlen(req->headers[i]) + 1;
        if (len > (size_t)-1 / 4 - text)
            return NULL;
        text += len;
    }
    if ((nodes = malloc(n * sizeof *nodes + text)) == NULL)
        return NULL;
    out = (char *)(nodes + n);
    memcpy(out, expect, sizeof expect);
    nodes[0].data = out;
    out += sizeof expect;
    for (i = 1; i < n; i++) {
        len = strlen(req->headers[i - 1]) + 1;
        memcpy(out, req->headers[i - 1], len);
        nodes[i].data = out;
        out += len;
        nodes[i - 1].next = &nodes[i];
    }
    nodes[n - 1].next = NULL;
    return nodes;
}

/* Whether t's handle, set up with t->key, serves req with c's options as
 * it is.  Not for a request with a stall limit: libcurl keeps the last
 * transfer's speed on a handle until curl_easy_reset, and measures the
 * next one's only from the next whole second, so the stall would be seen
 * up to about a second late (a timeout instead, when that comes first). */
static int handle_fits(const dcs_transfer *t, const dcs_http_config *c, const dcs_http_request *req)
{
    return t->key != NULL && key_matches(t->key, c) && req->stall_seconds <= 0;
}

/* Sets up t's easy handle for req with c's options: those it was last set
 * up with kept when it fits (handle_fits), else reset and set anew.
 * t->headers, t->total_ms and t->shares with it. */
CURLcode dcs_transfer_setup(dcs_transfer *t, const dcs_http_config *c, const dcs_http_request *req,
                            int multiplex)
{
    CURLcode rc;

    if ((t->headers = header_list(req)) == NULL)
        return CURLE_OUT_OF_MEMORY;
    if (!handle_fits(t, c, req)) {
        if (t->key != NULL) {
            curl_easy_reset(t->easy);
            free(t->key);
            t->key = NULL;
        }
        if ((rc = apply_config(t->easy, c)) != CURLE_OK)
            return rc;
        t->key = key_of(c);
    }
    rc = apply_request(t, c, req, multiplex);
    return rc == CURLE_OK ? apply_method(t->easy, req) : rc;
}

/* The per-request options that point into a transfer or copy its URL and body. */
static void clear_request(CURL *easy)
{
    curl_easy_setopt(easy, CURLOPT_URL, (char *)NULL);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, (char *)NULL);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, (void *)NULL);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, (void *)NULL);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (void *)NULL);
#if COUNTS_ATTEMPTS
    curl_easy_setopt(easy, CURLOPT_PREREQDATA, (void *)NULL);
#endif
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, (char *)NULL);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
}

/* Whether t's handle may keep its options for the next transfer: only
 * after a single request that got its answer on a connection it did not
 * open.  libcurl before 8.17 counts the retries on dead kept-alive
 * connections across a handle's transfers, until curl_easy_reset, and
 * fails the sixth; a retry opens a connection or, with another one idle to
 * the same host, is a second request. */
static int keeps_options(const dcs_transfer *t)
{
    return COUNTS_ATTEMPTS && t->res.failure == DCS_HTTP_OK && t->res.new_connections == 0 &&
           t->attempts == 1;
}

/* An idle handle keeps no pointer into the transfer it ran, nor a copy of
 * its URL or body; when it may not keep its options, they go too.  Its
 * receive buffer goes back to the default size, which libcurl 7.88 refuses
 * while the handle still holds the buffer: it keeps it after a transfer
 * that ended before it had a connection, or that shared an HTTP/2 one
 * still in use, and no reset frees it.  Such a handle could never stream a
 * download (nor, if it kept its options, start anything): 0. */
int dcs_transfer_park(dcs_transfer *t)
{
    if (t->key != NULL && keeps_options(t)) {
        clear_request(t->easy);
    } else {
        curl_easy_reset(t->easy);
        free(t->key);
        t->key = NULL;
    }
    return curl_easy_setopt(t->easy, CURLOPT_BUFFERSIZE, (long)CURL_MAX_WRITE_SIZE) == CURLE_OK;
}

/* ---- the end of a transfer ---- */

/* libcurl's chunked decoder refuses a malformed chunk, or a trailer line
 * over its own limit (4 KiB), as a receive error whose message ends so:
 * that is the server's malformed answer, as on the cosockets. */
static int chunked_refused(const dcs_transfer *t, CURLcode rc)
{
    static const char tail[] = " in chunked-encoding";
    size_t n = strlen(t->errbuf), k = sizeof tail - 1;
    return rc == CURLE_RECV_ERROR && n >= k && strcmp(t->errbuf + n - k, tail) == 0;
}

/* Whether the proxy answered the CONNECT with anything but 2xx: libcurl
 * 7.88 reports that as a receive error ("CONNECT tunnel failed"), which
 * would read as a broken connection to the server. */
static int tunnel_refused(const dcs_transfer *t, CURLcode rc)
{
    long code = 0;

    if (rc == CURLE_OK || t->easy == NULL ||
        curl_easy_getinfo(t->easy, CURLINFO_HTTP_CONNECTCODE, &code) != CURLE_OK)
        return 0;
    return code >= 300;
}

/* What went wrong: the flags our callbacks set first (libcurl only sees a
 * write error), then libcurl's own code.  `sent` is nonzero once the
 * request went out: what libcurl then calls an unsupported protocol (no
 * status line, HTTP/0.9, a status out of range) or running out of memory
 * before the head was complete (a header line over its own limit) is the
 * server's malformed answer. */
static dcs_http_failure classify(CURLcode rc, const dcs_transfer *t, int sent)
{
    if (t->ended_by != DCS_HTTP_OK)
        return t->ended_by;
    if (sent && !t->res.head_done && (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_OUT_OF_MEMORY))
        return DCS_HTTP_BAD_RESPONSE;
    if (t->bad_head)
        return DCS_HTTP_BAD_RESPONSE;
    if (t->res.file_error != 0)
        return DCS_HTTP_WRITE;
    if (t->aborted)
        return DCS_HTTP_ABORTED;
    if (t->too_large)
        return DCS_HTTP_TOO_LARGE;
    if (chunked_refused(t, rc))
        return DCS_HTTP_BAD_RESPONSE;
    if (tunnel_refused(t, rc))
        return DCS_HTTP_PROXY;
    switch (rc) {
    case CURLE_OK: return t->res.head_done ? DCS_HTTP_OK : DCS_HTTP_BAD_RESPONSE;
    case CURLE_OPERATION_TIMEDOUT:
        /* The low-speed check and the total timeout share this code; the
         * message libcurl has written since 2000 tells them apart. */
        if (t->req.stall_seconds > 0 && strncmp(t->errbuf, "Operation too slow", 18) == 0)
            return DCS_HTTP_STALL;
        return DCS_HTTP_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return DCS_HTTP_DNS;
    case CURLE_COULDNT_CONNECT: return DCS_HTTP_CONNECT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED: return DCS_HTTP_TLS;
    /* libcurl reports a socket error poll finds while it reads as a send
     * error ("select/poll returned error"): once the head has come, the
     * connection broke while receiving. */
    case CURLE_SEND_ERROR: return t->res.head_done ? DCS_HTTP_RECV : DCS_HTTP_SEND;
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return DCS_HTTP_RECV;
    case CURLE_WEIRD_SERVER_REPLY: return DCS_HTTP_BAD_RESPONSE;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return DCS_HTTP_BAD_REQUEST;
    default: return DCS_HTTP_OTHER;
    }
}

static void set_message(dcs_transfer *t, CURLcode rc)
{
    dcs_http_response *res = &t->res;
    const char *errbuf = t->errbuf;

    if (res->failure == DCS_HTTP_CANCELLED)
        snprintf(res->message, sizeof res->message, "the transfer was cancelled");
    else if (res->failure == DCS_HTTP_CLOSED)
        snprintf(res->message, sizeof res->message, "the engine was closed");
    else if (res->failure == DCS_HTTP_TOO_LARGE)
        snprintf(res->message, sizeof res->message, "response body larger than %lu bytes",
                 (unsigned long)t->max_body);
    else if (res->failure == DCS_HTTP_BAD_RESPONSE && (t->bad_head || rc == CURLE_OK))
        snprintf(res->message, sizeof res->message, "%s",
                 t->bad_why ? t->bad_why : "malformed response header block");
    else if (res->failure == DCS_HTTP_BAD_RESPONSE && rc == CURLE_OUT_OF_MEMORY)
        snprintf(res->message, sizeof res->message,
                 "malformed response: a header line longer than libcurl accepts");
    else if (res->failure == DCS_HTTP_BAD_RESPONSE && strncmp(errbuf, "Out of memory in chunked", 24) == 0)
        snprintf(res->message, sizeof res->message,
                 "malformed chunked body: a chunk size or trailer line longer than libcurl accepts");
    else if (res->failure == DCS_HTTP_WRITE)
        snprintf(res->message, sizeof res->message, "cannot write the body to the file: %s",
                 dcs_file_strerror(res->file_error));
    else if (res->failure == DCS_HTTP_ABORTED)
        snprintf(res->message, sizeof res->message, "transfer stopped by a callback");
    else if (res->failure == DCS_HTTP_BAD_RESPONSE)  /* libcurl's own parser refused it */
        snprintf(res->message, sizeof res->message, "malformed response: %s",
                 errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    else if (errbuf[0] != '\0')
        snprintf(res->message, sizeof res->message, "%s: %s", curl_easy_strerror(rc), errbuf);
    else
        snprintf(res->message, sizeof res->message, "%s", curl_easy_strerror(rc));
}

void dcs_transfer_conclude(dcs_transfer *t, CURLcode rc, int sent)
{
    dcs_http_response *res = &t->res;

    res->failure = classify(rc, t, sent);
    if (res->failure != DCS_HTTP_OK)
        set_message(t, rc);
    else if (!dcs_buf_ok(&res->body) || !dcs_buf_ok(&res->headers)) {
        res->failure = DCS_HTTP_OTHER;
        snprintf(res->message, sizeof res->message, "out of memory");
    }
}
