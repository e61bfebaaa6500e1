/* libcurl transport.  Nothing here knows about Lua: the binding in lhttp.c
 * translates tables to dcs_http_request and dcs_http_response back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "dcs_headers.h"
#include "dcs_http.h"

/* Bodies that may stream into a file: libcurl receives up to RECV_BUFFER
 * bytes at a time (its default is 16 KiB), and since it hands them over in
 * pieces of at most 16 KiB (CURL_MAX_WRITE_SIZE), they are gathered into
 * WRITE_BUFFER bytes for each write to the file: one pwrite and one hand-over
 * to the hashing helpers per 256 KiB instead of per 16 KiB. */
#define RECV_BUFFER (512L * 1024)
#define WRITE_BUFFER ((size_t)256 * 1024)

struct dcs_http {
    CURL *easy;
    dcs_http_config cfg;        /* strings below are owned copies */
    char errbuf[CURL_ERROR_SIZE];
    unsigned char *wbuf;        /* WRITE_BUFFER bytes, made on the first file body */
};

typedef struct transfer {
    CURL *easy;
    const dcs_http_request *req;
    dcs_http_response *res;
    size_t max_body;
    int too_large;
    int bad_head;               /* malformed or oversized header block */
    const char *bad_why;        /* what was wrong with it, for the message */
    int interim;                /* 1xx answers so far */
    int lines;                  /* lines of the head being received */
    int aborted;                /* on_head refused or on_progress said stop */
    int async;                  /* this transfer moved req->file's hashing to its helpers */
    unsigned char *wbuf;        /* NULL: each piece goes to the file as it comes */
    size_t pending;             /* bytes in wbuf, not yet in the file */
} transfer;

int dcs_http_global_init(void)
{
    /* curl_global_init is not thread-safe; luaopen runs it once per process
     * under the host's loader, and later calls are cheap no-ops here. */
    static int done = 0;
    if (!done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return 0;
        done = 1;
    }
    return 1;
}

const char *dcs_http_curl_version(void)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    return v && v->version ? v->version : "unknown";
}

static char *dup_or_null(const char *s)
{
    char *p;
    size_t n;
    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void free_config_strings(dcs_http_config *cfg)
{
    free((char *)cfg->ca_file);
    free((char *)cfg->proxy);
    free((char *)cfg->no_proxy);
    free((char *)cfg->user_agent);
    cfg->ca_file = cfg->proxy = cfg->no_proxy = cfg->user_agent = NULL;
}

dcs_http *dcs_http_new(void)
{
    dcs_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->easy = curl_easy_init();
    if (h->easy == NULL) {
        free(h);
        return NULL;
    }
    return h;
}

int dcs_http_configure(dcs_http *h, const dcs_http_config *cfg)
{
    dcs_http_config c = *cfg;
    c.ca_file = dup_or_null(cfg->ca_file);
    c.proxy = dup_or_null(cfg->proxy);
    c.no_proxy = dup_or_null(cfg->no_proxy);
    c.user_agent = dup_or_null(cfg->user_agent);
    if ((cfg->ca_file && !c.ca_file) || (cfg->proxy && !c.proxy) ||
        (cfg->no_proxy && !c.no_proxy) || (cfg->user_agent && !c.user_agent)) {
        free_config_strings(&c);
        return 0;
    }
    free_config_strings(&h->cfg);
    h->cfg = c;
    return 1;
}

void dcs_http_free(dcs_http *h)
{
    if (h == NULL)
        return;
    if (h->easy != NULL)
        curl_easy_cleanup(h->easy);
    free_config_strings(&h->cfg);
    free(h->wbuf);
    free(h);
}

void dcs_http_response_init(dcs_http_response *res)
{
    memset(res, 0, sizeof *res);
    dcs_buf_init(&res->headers);
    dcs_buf_init(&res->body);
}

void dcs_http_response_free(dcs_http_response *res)
{
    dcs_buf_free(&res->headers);
    dcs_buf_free(&res->body);
}

const char *dcs_http_failure_name(dcs_http_failure f)
{
    switch (f) {
    case DCS_HTTP_OK: return "ok";
    case DCS_HTTP_TIMEOUT: return "timeout";
    case DCS_HTTP_STALL: return "stall";
    case DCS_HTTP_DNS: return "dns";
    case DCS_HTTP_CONNECT: return "connect";
    case DCS_HTTP_TLS: return "tls";
    case DCS_HTTP_SEND: return "send";
    case DCS_HTTP_RECV: return "recv";
    case DCS_HTTP_BAD_RESPONSE: return "bad_response";
    case DCS_HTTP_TOO_LARGE: return "too_large";
    case DCS_HTTP_WRITE: return "write";
    case DCS_HTTP_ABORTED: return "aborted";
    case DCS_HTTP_BAD_REQUEST: return "bad_request";
    default: return "other";
    }
}

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

static int refuse_head(transfer *t, const char *why)
{
    t->bad_head = 1;
    t->bad_why = why;
    return 0;
}

/* The header block is complete: check it, skip an interim (1xx) response,
 * and let on_head say where the body goes. */
static int head_complete(transfer *t)
{
    const dcs_http_request *req = t->req;
    dcs_http_response *res = t->res;
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
        return 1;
    }
    if (f.bad)
        return refuse_head(t, "malformed or conflicting Content-Length");
    if (f.has_length && f.has_te)
        return refuse_head(t, "both Content-Length and Transfer-Encoding (response splitting?)");
    res->status = status;
    res->head_done = 1;
    res->body_to = req->on_head ? req->on_head(req->ud, status, res->headers.data,
                                               res->headers.len)
                                : DCS_HTTP_BODY_BUFFER;
    if (res->body_to == DCS_HTTP_BODY_FILE && req->file == NULL)
        res->body_to = DCS_HTTP_BODY_BUFFER;
    if (res->body_to == DCS_HTTP_BODY_REFUSE) {
        t->aborted = 1;
        return 0;
    }
    /* The body streams into the file: hash on helper threads while libcurl
     * receives (inline if they cannot start); dcs_http_perform ends it. */
    if (res->body_to == DCS_HTTP_BODY_FILE && !t->async)
        t->async = dcs_file_async_begin(req->file, 0) == 0;
    return 1;
}

/* libcurl hands over one header line at a time, the final blank one
 * included; the proxy's CONNECT answer never comes here
 * (CURLOPT_SUPPRESS_CONNECT_HEADERS). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    transfer *t = ud;
    size_t n = size * nmemb;

    if (t->res->head_done)
        return n;               /* trailers after a chunked body: not part of the head */
    if (n > DCS_HEADERS_MAX_BYTES - t->res->headers.len)
        return refuse_head(t, "response header block larger than 65536 bytes");
    /* the status line, the fields and the blank line: fail as soon as
     * there are too many, not when the block ends (if it ever does) */
    if (++t->lines > DCS_HEADERS_MAX_FIELDS + 2)
        return refuse_head(t, "more than 200 header fields");
    dcs_buf_add(&t->res->headers, data, n);
    if (!dcs_buf_ok(&t->res->headers))
        return 0;
    if (is_blank_line(data, n) && !head_complete(t))
        return 0;
    return n;
}

static int report_progress(transfer *t)
{
    dcs_http_response *res = t->res;
    res->reported = res->streamed;
    if (!t->req->on_progress(t->req->ud, res->streamed)) {
        t->aborted = 1;
        return 0;
    }
    return 1;
}

/* Writes n body bytes to the file; 0 (with res->file_error) on failure. */
static int write_file(transfer *t, const void *data, size_t n)
{
    int rc = dcs_file_write(t->req->file, data, n);
    if (rc != 0) {
        t->res->file_error = rc;
        return 0;
    }
    t->res->streamed += (long long)n;
    return 1;
}

/* The gathered bytes to the file (after the transfer too: a body cut short
 * keeps every byte received, for a resume). */
static int flush_pending(transfer *t)
{
    size_t n = t->pending;
    t->pending = 0;
    return n == 0 || write_file(t, t->wbuf, n);
}

/* After bytes reached the file: a progress report when one is due. */
static int progress_due(transfer *t)
{
    dcs_http_response *res = t->res;
    if (t->req->on_progress == NULL ||
        res->streamed - (res->reported < 0 ? 0 : res->reported) < t->req->progress_step)
        return 1;
    return report_progress(t);
}

static size_t to_file(transfer *t, const char *data, size_t n)
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
        if (t->pending == WRITE_BUFFER && !(flush_pending(t) && progress_due(t)))
            return 0;
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    transfer *t = ud;
    dcs_http_response *res = t->res;
    size_t n = size * nmemb;

    if (res->body_to == DCS_HTTP_BODY_FILE)
        return to_file(t, data, n);
    if (t->max_body > 0 && res->body.len + n > t->max_body) {
        t->too_large = 1;
        return 0;
    }
    dcs_buf_add(&res->body, data, n);
    return dcs_buf_ok(&res->body) ? n : 0;
}

/* What went wrong: the flags our callbacks set first (libcurl only sees a
 * write error), then libcurl's own code.  `sent` is nonzero once the
 * request went out: what libcurl then calls an unsupported protocol (no
 * status line, HTTP/0.9, a status out of range) or running out of memory
 * before the head was complete (a header line over its own limit) is the
 * server's malformed answer. */
static dcs_http_failure classify(CURLcode rc, const transfer *t, const char *errbuf, int sent)
{
    if (sent && !t->res->head_done && (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_OUT_OF_MEMORY))
        return DCS_HTTP_BAD_RESPONSE;
    if (t->bad_head)
        return DCS_HTTP_BAD_RESPONSE;
    if (t->res->file_error != 0)
        return DCS_HTTP_WRITE;
    if (t->aborted)
        return DCS_HTTP_ABORTED;
    if (t->too_large)
        return DCS_HTTP_TOO_LARGE;
    switch (rc) {
    case CURLE_OK: return t->res->head_done ? DCS_HTTP_OK : DCS_HTTP_BAD_RESPONSE;
    case CURLE_OPERATION_TIMEDOUT:
        /* The low-speed check and the total timeout share this code; the
         * message libcurl has written since 2000 tells them apart. */
        if (t->req->stall_seconds > 0 && strncmp(errbuf, "Operation too slow", 18) == 0)
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
    case CURLE_SEND_ERROR: return DCS_HTTP_SEND;
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return DCS_HTTP_RECV;
    case CURLE_WEIRD_SERVER_REPLY: return DCS_HTTP_BAD_RESPONSE;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return DCS_HTTP_BAD_REQUEST;
    default: return DCS_HTTP_OTHER;
    }
}

/* Sets every option again on each call: curl_easy_reset keeps the
 * connection cache (keep-alive) but forgets the previous request. */
static CURLcode apply_options(dcs_http *h, const dcs_http_request *req, transfer *t,
                              struct curl_slist *headers)
{
    CURL *e = h->easy;
    const dcs_http_config *c = &h->cfg;
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : (req->timeout_ms < 0 ? 0 : c->timeout_ms);
    CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TIMEOUT_MS, timeout);
    SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    if (req->stall_seconds > 0) {
        SET(CURLOPT_LOW_SPEED_LIMIT, req->min_speed > 0 ? req->min_speed : 1L);
        SET(CURLOPT_LOW_SPEED_TIME, req->stall_seconds);
    }
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
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_ERRORBUFFER, h->errbuf);
    SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, t);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, t);
    if (req->file != NULL)
        SET(CURLOPT_BUFFERSIZE, RECV_BUFFER);

    if (strcmp(req->method, "GET") == 0 && req->body_len == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(req->method, "POST") == 0)
            SET(CURLOPT_POST, 1L);
        else
            SET(CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body_len > 0 || strcmp(req->method, "POST") == 0) {
            /* The body string is owned by the caller and outlives perform. */
            SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        }
    }
#undef SET
    return rc;
}

/* "Expect:" first: libcurl would otherwise send "Expect: 100-continue" for
 * large bodies.  NULL when out of memory. */
static struct curl_slist *header_list(const dcs_http_request *req)
{
    struct curl_slist *list = curl_slist_append(NULL, "Expect:"), *grown;
    size_t i;

    for (i = 0; list != NULL && i < req->header_count; i++) {
        grown = curl_slist_append(list, req->headers[i]);
        if (grown == NULL)
            curl_slist_free_all(list);
        list = grown;
    }
    return list;
}

static void set_message(dcs_http_response *res, CURLcode rc, const transfer *t,
                        const char *errbuf)
{
    if (res->failure == DCS_HTTP_TOO_LARGE)
        snprintf(res->message, sizeof res->message, "response body larger than %lu bytes",
                 (unsigned long)t->max_body);
    else if (res->failure == DCS_HTTP_BAD_RESPONSE && (t->bad_head || rc == CURLE_OK))
        snprintf(res->message, sizeof res->message, "%s",
                 t->bad_why ? t->bad_why : "malformed response header block");
    else if (res->failure == DCS_HTTP_BAD_RESPONSE && rc == CURLE_OUT_OF_MEMORY)
        snprintf(res->message, sizeof res->message,
                 "malformed response: a header line longer than libcurl accepts");
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

dcs_http_failure dcs_http_perform(dcs_http *h, const dcs_http_request *req,
                                  dcs_http_response *res)
{
    struct curl_slist *headers;
    transfer t;
    CURLcode rc;
    long connects = 0, request_size = 0;

    memset(&t, 0, sizeof t);
    t.easy = h->easy;
    t.req = req;
    t.res = res;
    t.max_body = h->cfg.max_body;
    if (req->file != NULL && h->wbuf == NULL)
        h->wbuf = malloc(WRITE_BUFFER);     /* without it, bodies go unbuffered */
    t.wbuf = req->file != NULL ? h->wbuf : NULL;
    h->errbuf[0] = '\0';
    res->status = 0;
    res->head_done = 0;
    res->body_to = DCS_HTTP_BODY_BUFFER;
    res->streamed = 0;
    res->reported = -1;
    res->file_error = 0;
    res->failure = DCS_HTTP_OK;
    res->message[0] = '\0';

    headers = header_list(req);
    if (headers == NULL) {
        res->failure = DCS_HTTP_OTHER;
        snprintf(res->message, sizeof res->message, "out of memory");
        return res->failure;
    }
    curl_easy_reset(h->easy);
    rc = apply_options(h, req, &t, headers);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(h->easy);
    if (t.pending > 0 && res->file_error == 0)
        flush_pending(&t);
    /* Every byte written is hashed before anyone can ask for a digest. */
    if (t.async)
        dcs_file_async_end(req->file);
    curl_slist_free_all(headers);
    /* Never leave pointers to this call's stack frame inside the handle. */
    curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h->easy, CURLOPT_HEADERDATA, NULL);
    curl_easy_setopt(h->easy, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, NULL);

    curl_easy_getinfo(h->easy, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_getinfo(h->easy, CURLINFO_REQUEST_SIZE, &request_size);
    curl_easy_getinfo(h->easy, CURLINFO_TOTAL_TIME, &res->total_seconds);
    res->new_connections = connects;

    /* The last progress report: the whole streamed body. */
    if (rc == CURLE_OK && res->body_to == DCS_HTTP_BODY_FILE && req->on_progress != NULL &&
        res->reported != res->streamed)
        report_progress(&t);
    res->failure = classify(rc, &t, h->errbuf, request_size > 0);
    if (res->failure != DCS_HTTP_OK)
        set_message(res, rc, &t, h->errbuf);
    else if (!dcs_buf_ok(&res->body) || !dcs_buf_ok(&res->headers)) {
        res->failure = DCS_HTTP_OTHER;
        snprintf(res->message, sizeof res->message, "out of memory");
    }
    return res->failure;
}
