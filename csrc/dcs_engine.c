/* The multi engine (dcs_engine.h).  Nothing here knows about Lua.
 *
 * libcurl's socket interface drives it: the socket callback keeps the
 * table of descriptors and the events wanted on each, the timer callback
 * the next deadline; a step polls that table (with a zero timeout first),
 * hands each ready descriptor to curl_multi_socket_action, fires the timer
 * when due, and finishes the transfers libcurl reports done.
 *
 * A transfer's body, header and progress handling is the blocking
 * transport's, unchanged: the head checked by dcs_headers_parse, a body
 * buffered (capped by max_body) or streamed into a dcs_file in 256 KiB
 * writes while helper threads hash it, failures classified from our own
 * flags first, then libcurl's code. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "dcs_engine.h"
#include "dcs_headers.h"

/* Bodies that may stream into a file: libcurl receives up to RECV_BUFFER
 * bytes at a time (its default is 16 KiB), and since it hands them over in
 * pieces of at most 16 KiB (CURL_MAX_WRITE_SIZE), they are gathered into
 * WRITE_BUFFER bytes for each write to the file: one pwrite and one hand-over
 * to the hashing helpers per 256 KiB instead of per 16 KiB. */
#define RECV_BUFFER (512L * 1024)
#define WRITE_BUFFER ((size_t)256 * 1024)
#define POOL_MAX 16             /* idle easy handles kept for reuse */
#define POLL_ON_STACK 64

enum { T_QUEUED, T_RUNNING, T_DONE };

struct dcs_transfer {
    dcs_engine *engine;         /* while attached: holding an easy handle */
    dcs_transfer *prev, *next;  /* the engine's attached transfers */
    dcs_transfer *next_done;    /* the engine's done notices */
    int refs;                   /* owner + attached + done notice */
    int state;
    int in_multi;
    int finishing;              /* finish() is on the stack */
    dcs_http_failure ended_by;  /* DCS_HTTP_CANCELLED or _CLOSED, else OK */
    CURL *easy;
    struct curl_slist *headers;
    dcs_http_request req;       /* the strings cleared: libcurl holds copies */
    dcs_http_response res;
    size_t max_body;
    int too_large;
    int bad_head;               /* malformed or oversized header block */
    const char *bad_why;        /* what was wrong with it, for the message */
    int interim;                /* 1xx answers so far */
    int lines;                  /* lines of the head being received */
    int aborted;                /* on_head refused or on_progress said stop */
    int async;                  /* this transfer moved req.file's hashing to its helpers */
    unsigned char *wbuf;        /* NULL: each piece goes to the file as it comes */
    size_t pending;             /* bytes in wbuf, not yet in the file */
    char errbuf[CURL_ERROR_SIZE];
};

struct dcs_engine {
    CURLM *multi;               /* NULL once shut down */
    dcs_engine_config cfg;
    dcs_transfer *attached;
    dcs_transfer *done_head, *done_tail;
    size_t running;             /* transfers not done */
    size_t queued;              /* started, waiting for the next step to join the multi */
    dcs_engine_fd *fds;
    size_t nfds, fds_cap;
    int has_timer;
    long long deadline;         /* ms, monotonic clock */
    int stepping;
    int closed;
    int finished;               /* transfers finished during this step */
    size_t next_fd;             /* where a step's walk of ready descriptors starts */
    CURL *pool[POOL_MAX];
    size_t npool;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- libcurl's socket and timer callbacks: bookkeeping only ---- */

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    dcs_engine *e = userp;
    size_t i;
    (void)easy, (void)socketp;

    for (i = 0; i < e->nfds && e->fds[i].fd != (int)s; i++)
        ;
    if (what == CURL_POLL_REMOVE) {
        if (i < e->nfds)
            e->fds[i] = e->fds[--e->nfds];
        return 0;
    }
    if (i == e->nfds) {
        if (e->nfds == e->fds_cap) {
            size_t cap = e->fds_cap ? 2 * e->fds_cap : 16;
            dcs_engine_fd *grown = realloc(e->fds, cap * sizeof *grown);
            if (grown == NULL)
                return -1;
            e->fds = grown;
            e->fds_cap = cap;
        }
        e->fds[e->nfds++].fd = (int)s;
    }
    e->fds[i].events = (what & CURL_POLL_IN ? DCS_ENGINE_READ : 0) |
                       (what & CURL_POLL_OUT ? DCS_ENGINE_WRITE : 0);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    dcs_engine *e = userp;
    (void)multi;
    e->has_timer = timeout_ms >= 0;
    e->deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    return 0;
}

/* The timer from libcurl's own account, after it ran: its callback is
 * not called again for a deadline it already announced. */
static void sync_timer(dcs_engine *e)
{
    long ms = -1;
    if (e->multi == NULL || curl_multi_timeout(e->multi, &ms) != CURLM_OK)
        return;
    e->has_timer = ms >= 0;
    e->deadline = now_ms() + (ms > 0 ? ms : 0);
}

/* ---- the engine ---- */

dcs_engine *dcs_engine_new(const dcs_engine_config *cfg)
{
    dcs_engine *e = calloc(1, sizeof *e);
    CURLM *m;

    if (e == NULL)
        return NULL;
    e->cfg = *cfg;
    m = e->multi = curl_multi_init();
    if (m == NULL) {
        free(e);
        return NULL;
    }
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, e);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(m, CURLMOPT_TIMERDATA, e);
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, cfg->max_connections);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, cfg->max_host_connections);
    /* Idle connections kept for reuse: as many as may be open at once
     * (libcurl's default, four per easy handle in the multi, would let
     * them go between two blocking calls). */
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, cfg->max_connections > 0 ? cfg->max_connections
                                                                        : 64L);
    curl_multi_setopt(m, CURLMOPT_PIPELINING, cfg->multiplex ? CURLPIPE_MULTIPLEX
                                                             : CURLPIPE_NOTHING);
    return e;
}

static void unref(dcs_transfer *t)
{
    if (--t->refs > 0)
        return;
    curl_slist_free_all(t->headers);
    free(t->wbuf);
    dcs_http_response_free(&t->res);
    free(t);
}

/* An idle easy handle, reset so it keeps no pointer into a transfer. */
static void recycle(dcs_engine *e, CURL *easy)
{
    curl_easy_reset(easy);
    if (e->multi != NULL && e->npool < POOL_MAX)
        e->pool[e->npool++] = easy;
    else
        curl_easy_cleanup(easy);
}

/* The transfer gives its easy handle back; the engine's reference goes. */
static void detach(dcs_transfer *t)
{
    dcs_engine *e = t->engine;

    if (t->in_multi) {
        curl_multi_remove_handle(e->multi, t->easy);
        t->in_multi = 0;
    }
    if (t->easy != NULL) {
        recycle(e, t->easy);
        t->easy = NULL;
    }
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    free(t->wbuf);
    t->wbuf = NULL;
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        e->attached = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    t->engine = NULL;
    unref(t);
}

/* Every transfer gone from the multi, the multi and the idle handles freed;
 * every transfer is done by then. */
static void shutdown_multi(dcs_engine *e)
{
    while (e->attached != NULL)
        detach(e->attached);
    if (e->multi != NULL)
        curl_multi_cleanup(e->multi);
    e->multi = NULL;
    while (e->npool > 0)
        curl_easy_cleanup(e->pool[--e->npool]);
    e->nfds = 0;
    e->has_timer = 0;
}

int dcs_engine_take_done(dcs_engine *e, void **ud)
{
    dcs_transfer *t = e->done_head;
    if (t == NULL)
        return 0;
    e->done_head = t->next_done;
    if (e->done_head == NULL)
        e->done_tail = NULL;
    t->next_done = NULL;
    if (ud != NULL)
        *ud = t->req.ud;
    unref(t);
    return 1;
}

size_t dcs_engine_running(const dcs_engine *e)
{
    return e->running;
}

size_t dcs_engine_fds(const dcs_engine *e, dcs_engine_fd *out, size_t max)
{
    size_t i;
    for (i = 0; i < e->nfds && i < max; i++)
        out[i] = e->fds[i];
    return e->nfds;
}

long dcs_engine_timeout(const dcs_engine *e)
{
    long long left;
    if (e->queued > 0)
        return 0;
    if (!e->has_timer || e->multi == NULL)
        return -1;
    left = e->deadline - now_ms();
    return left > 0 ? (long)left : 0;
}

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
        return n;               /* trailers after a chunked body: not part of the head */
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
static int report_progress(dcs_transfer *t)
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
static int flush_pending(dcs_transfer *t)
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
    return report_progress(t);
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
        if (t->pending == WRITE_BUFFER && !(flush_pending(t) && progress_due(t)))
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

/* ---- the end of a transfer ---- */

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

static void notify_done(dcs_engine *e, dcs_transfer *t)
{
    t->refs++;
    if (e->done_tail != NULL)
        e->done_tail->next_done = t;
    else
        e->done_head = t;
    e->done_tail = t;
}

/* Ends t once: its last bytes in the file, its digests complete, the last
 * progress report, its failure classified.  The easy handle leaves the
 * multi now, or at the end of the step when libcurl is on the stack. */
static void finish(dcs_transfer *t, CURLcode rc)
{
    dcs_engine *e = t->engine;
    dcs_http_response *res = &t->res;
    long connects = 0, request_size = 0;

    if (t->state == T_DONE || t->finishing)
        return;                 /* finishing: finish() sees ended_by when it resumes */
    t->finishing = 1;
    if (t->pending > 0 && res->file_error == 0)
        flush_pending(t);
    t->pending = 0;
    if (t->async) {
        dcs_file_async_end(t->req.file);   /* every byte written is hashed */
        t->async = 0;
    }
    if (t->in_multi) {
        curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects);
        curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &request_size);
        curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &res->total_seconds);
    }
    res->new_connections = connects;
    /* The last progress report: the whole streamed body.  It runs the
     * caller's code, which may cancel t or close the engine. */
    if (rc == CURLE_OK && t->ended_by == DCS_HTTP_OK && res->body_to == DCS_HTTP_BODY_FILE &&
        t->req.on_progress != NULL && res->reported != res->streamed && res->file_error == 0)
        report_progress(t);
    if (t->state == T_QUEUED)
        e->queued--;
    t->state = T_DONE;
    t->finishing = 0;
    e->running--;
    e->finished++;
    res->failure = classify(rc, t, request_size > 0);
    if (res->failure != DCS_HTTP_OK)
        set_message(t, rc);
    else if (!dcs_buf_ok(&res->body) || !dcs_buf_ok(&res->headers)) {
        res->failure = DCS_HTTP_OTHER;
        snprintf(res->message, sizeof res->message, "out of memory");
    }
    notify_done(e, t);
    if (!e->stepping)
        detach(t);
}

void dcs_transfer_cancel(dcs_transfer *t)
{
    if (t->state == T_DONE)
        return;
    if (t->ended_by == DCS_HTTP_OK)
        t->ended_by = DCS_HTTP_CANCELLED;
    finish(t, CURLE_OK);
}

void dcs_engine_close(dcs_engine *e)
{
    dcs_transfer *t, *next;

    if (e->closed)
        return;
    e->closed = 1;
    for (t = e->attached; t != NULL; t = next) {
        next = t->next;         /* finish() may detach t, never another */
        if (t->state == T_DONE)
            continue;
        if (t->ended_by == DCS_HTTP_OK)
            t->ended_by = DCS_HTTP_CLOSED;
        finish(t, CURLE_OK);
    }
    if (!e->stepping)
        shutdown_multi(e);
}

int dcs_engine_free(dcs_engine *e)
{
    if (e == NULL)
        return 1;
    if (e->stepping)
        return 0;
    dcs_engine_close(e);
    while (dcs_engine_take_done(e, NULL))
        ;
    free(e->fds);
    free(e);
    return 1;
}

int dcs_transfer_done(const dcs_transfer *t)
{
    return t->state == T_DONE;
}

dcs_http_response *dcs_transfer_response(dcs_transfer *t)
{
    return &t->res;
}

void dcs_transfer_release(dcs_transfer *t)
{
    if (t == NULL)
        return;
    dcs_transfer_cancel(t);
    unref(t);
}

/* ---- starting a transfer ---- */

/* Every option, on an easy handle fresh from curl_easy_init or
 * curl_easy_reset. */
static CURLcode apply_options(dcs_transfer *t, const dcs_http_config *c,
                              const dcs_http_request *req)
{
    CURL *e = t->easy;
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
    SET(CURLOPT_HTTPHEADER, t->headers);
    SET(CURLOPT_ERRORBUFFER, t->errbuf);
    SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, t);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_PRIVATE, t);
    /* Wait for a connection that may turn out to multiplex (HTTP/2)
     * rather than open one more for each transfer started meanwhile.  Only
     * over TLS, where ALPN tells within the handshake: on plain http://
     * (HTTP/1.1 here) libcurl would hold every other transfer until the
     * first response came back. */
    if (t->engine->cfg.multiplex && strncasecmp(req->url, "https:", 6) == 0)
        SET(CURLOPT_PIPEWAIT, 1L);
    if (req->file != NULL)
        SET(CURLOPT_BUFFERSIZE, RECV_BUFFER);
#undef SET
    return rc;
}

/* The method and its body; the body is copied (CURLOPT_COPYPOSTFIELDS,
 * its size first), so the caller's string may go once start returns. */
static CURLcode apply_method(CURL *e, const dcs_http_request *req)
{
    CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
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
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            SET(CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
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

/* A transfer that cannot run: done at once, with its failure. */
static dcs_transfer *start_failed(dcs_transfer *t, CURLcode rc, const char *message)
{
    finish(t, rc);
    if (message != NULL) {
        t->res.failure = DCS_HTTP_OTHER;
        snprintf(t->res.message, sizeof t->res.message, "%s", message);
    }
    return t;
}

dcs_transfer *dcs_engine_start(dcs_engine *e, const dcs_http_config *cfg,
                               const dcs_http_request *req)
{
    dcs_transfer *t = calloc(1, sizeof *t);
    CURLcode rc;

    if (t == NULL)
        return NULL;
    t->refs = 2;                /* the owner's and the engine's (attached) */
    t->state = T_QUEUED;
    dcs_http_response_init(&t->res);
    t->res.reported = -1;
    t->req = *req;
    t->req.method = t->req.url = t->req.body = NULL;
    t->req.headers = NULL;
    t->req.header_count = 0;
    t->max_body = cfg->max_body;
    t->engine = e;
    t->next = e->attached;
    if (e->attached != NULL)
        e->attached->prev = t;
    e->attached = t;
    e->running++;
    e->queued++;
    if (e->closed) {
        t->ended_by = DCS_HTTP_CLOSED;
        return start_failed(t, CURLE_OK, NULL);
    }
    t->easy = e->npool > 0 ? e->pool[--e->npool] : curl_easy_init();
    t->headers = header_list(req);
    if (t->easy == NULL || t->headers == NULL)
        return start_failed(t, CURLE_OUT_OF_MEMORY, "out of memory");
    rc = apply_options(t, cfg, req);
    if (rc == CURLE_OK)
        rc = apply_method(t->easy, req);
    return rc == CURLE_OK ? t : start_failed(t, rc, NULL);
}

/* ---- a step ---- */

/* The transfers started since the last step join the multi. */
static void add_queued(dcs_engine *e)
{
    dcs_transfer *t, *next;

    for (t = e->attached; t != NULL && e->queued > 0; t = next) {
        next = t->next;
        if (t->state != T_QUEUED)
            continue;
        if (curl_multi_add_handle(e->multi, t->easy) != CURLM_OK) {
            start_failed(t, CURLE_OUT_OF_MEMORY, "cannot add the transfer to the engine");
            continue;
        }
        t->in_multi = 1;
        t->state = T_RUNNING;
        e->queued--;
    }
}

/* Finishes the transfers libcurl reports done.  finish() may run the
 * caller's code, which cannot remove handles from the multi (the step
 * defers that), so the messages stay valid. */
static void collect(dcs_engine *e)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(e->multi, &left)) != NULL) {
        void *p = NULL;
        CURLcode rc = msg->data.result;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &p);
        if (p != NULL)
            finish((dcs_transfer *)p, rc);
    }
}

static int curl_events(short revents)
{
    int mask = 0;
    if (revents & (POLLIN | POLLHUP))
        mask |= CURL_CSELECT_IN;
    if (revents & POLLOUT)
        mask |= CURL_CSELECT_OUT;
    if (revents & (POLLERR | POLLNVAL))
        mask |= CURL_CSELECT_ERR;
    return mask;
}

/* Polls the descriptors (at most wait_ms), gives libcurl the ready ones,
 * fires the timer when due, finishes what is done. */
/* Hands libcurl the ready descriptors of pfds, from e->next_fd on and
 * round the list, until budget_us has gone (at least one; all when
 * budget_us < 0).  poll is level-triggered: the ones left wait for the next
 * step, which starts where this one stopped. */
static void act_on_ready(dcs_engine *e, const struct pollfd *pfds, size_t n, long budget_us)
{
    long long stop = budget_us >= 0 ? now_us() + budget_us : 0;
    size_t k, i;
    int running;

    for (k = 0; k < n && !e->closed; k++) {
        i = (e->next_fd + k) % n;
        if (pfds[i].revents == 0)
            continue;
        curl_multi_socket_action(e->multi, pfds[i].fd, curl_events(pfds[i].revents), &running);
        if (budget_us >= 0 && now_us() >= stop) {
            e->next_fd = i + 1;
            return;
        }
    }
    e->next_fd = 0;
}

static void run_ready(dcs_engine *e, long wait_ms, long budget_us)
{
    struct pollfd on_stack[POLL_ON_STACK], *pfds = on_stack;
    size_t i, n = e->nfds;
    int running;

    if (n > POLL_ON_STACK && (pfds = malloc(n * sizeof *pfds)) == NULL) {
        pfds = on_stack;
        n = POLL_ON_STACK;      /* out of memory: the rest wait for the next step */
    }
    for (i = 0; i < n; i++) {
        pfds[i].fd = e->fds[i].fd;
        pfds[i].events = (short)((e->fds[i].events & DCS_ENGINE_READ ? POLLIN : 0) |
                                 (e->fds[i].events & DCS_ENGINE_WRITE ? POLLOUT : 0));
        pfds[i].revents = 0;
    }
    /* A descriptor libcurl closed meanwhile is ignored by it.  Nothing to
     * poll and no wait (a transfer just added, its connection not yet
     * announced): no system call. */
    if ((n > 0 || wait_ms > 0) && poll(pfds, (nfds_t)n, (int)wait_ms) > 0)
        act_on_ready(e, pfds, n, budget_us);
    if (pfds != on_stack)
        free(pfds);
    if (!e->closed && e->has_timer && now_ms() >= e->deadline) {
        e->has_timer = 0;
        curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    collect(e);
    sync_timer(e);
}

/* How long a step may wait: the caller's bound, the timer's deadline. */
static long wait_bound(const dcs_engine *e, long timeout_ms)
{
    long t = dcs_engine_timeout(e);
    if (timeout_ms > 24L * 3600 * 1000)
        timeout_ms = 24L * 3600 * 1000;
    return t >= 0 && t < timeout_ms ? t : timeout_ms;
}

int dcs_engine_step(dcs_engine *e, long timeout_ms, long budget_us)
{
    dcs_transfer *t, *next;

    if (e->stepping)
        return -1;
    if (e->multi == NULL || e->closed || e->running == 0)
        return 0;
    e->stepping = 1;
    e->finished = 0;
    add_queued(e);
    run_ready(e, 0, budget_us);
    if (e->finished == 0 && timeout_ms > 0 && e->running > 0 && !e->closed)
        run_ready(e, wait_bound(e, timeout_ms), budget_us);
    e->stepping = 0;
    /* What callbacks asked for while libcurl was on the stack. */
    for (t = e->attached; t != NULL; t = next) {
        next = t->next;
        if (t->state == T_DONE)
            detach(t);
    }
    if (e->closed)
        shutdown_multi(e);
    return e->finished;
}
