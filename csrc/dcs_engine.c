/* The multi engine (dcs_engine.h).  Nothing here knows about Lua.
 *
 * libcurl's socket interface drives it: the socket callback keeps the
 * table of descriptors and the events wanted on each, the timer callback
 * the next deadline; a step polls that table (with a zero timeout first),
 * hands each ready descriptor to curl_multi_socket_action, fires the timer
 * when due, and finishes the transfers libcurl reports done.
 *
 * Transfers beyond the connection cap wait in the engine's own queue (see
 * dcs_engine.h).  A transfer's easy handle options, its own callbacks
 * (head, body, progress) and the classification of how it ended are in
 * dcs_transfer.c. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <curl/curl.h>

#include "dcs_engine.h"
#include "dcs_transfer.h"

#define POOL_MAX 16             /* idle easy handles kept for reuse */
#define POLL_ON_STACK 64

struct dcs_engine {
    CURLM *multi;               /* NULL once shut down */
    dcs_engine_config cfg;
    dcs_transfer *attached;
    dcs_transfer *done_head, *done_tail;
    size_t running;             /* transfers not done */
    dcs_transfer *queue_head, *queue_tail;  /* started, waiting to join the multi; oldest first */
    size_t exclusive;           /* transfers in the multi that need a connection each */
    size_t queued_shares;       /* queued transfers that may multiplex: never held */
    long long held_until;       /* us, no later than the earliest deadline of a queued
                                 * transfer; -1: none */
    dcs_engine_fd *fds;
    size_t nfds, fds_cap;
    int has_timer;
    long long deadline;         /* ms, monotonic clock */
    int stepping;
    int closed;
    int finished;               /* transfers finished during this step */
    size_t deferred;            /* done during this step, their detach deferred */
    size_t next_fd;             /* where a step's walk of ready descriptors starts */
    struct {
        CURL *easy;
        dcs_easy_key *key;      /* the options it was set up with */
    } pool[POOL_MAX];
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
    e->held_until = -1;
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
    free(t->headers);
    free(t->wbuf);
    dcs_http_response_free(&t->res);
    free(t);
}

/* The transfer's easy handle, parked (dcs_transfer_park) with the key of
 * its options, into the pool, or freed. */
static void recycle(dcs_engine *e, dcs_transfer *t)
{
    if (e->multi != NULL && e->npool < POOL_MAX && dcs_transfer_park(t)) {
        e->pool[e->npool].easy = t->easy;
        e->pool[e->npool++].key = t->key;
    } else {
        curl_easy_cleanup(t->easy);
        free(t->key);
    }
    t->easy = NULL;
    t->key = NULL;
}

/* The transfer gives its easy handle back; the engine's reference goes. */
static void detach(dcs_transfer *t)
{
    dcs_engine *e = t->engine;

    if (t->in_multi) {
        curl_multi_remove_handle(e->multi, t->easy);
        t->in_multi = 0;
        if (!t->shares)
            e->exclusive--;
    }
    if (t->easy != NULL)
        recycle(e, t);
    free(t->headers);
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
    while (e->npool > 0) {
        e->npool--;
        curl_easy_cleanup(e->pool[e->npool].easy);
        free(e->pool[e->npool].key);
    }
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

/* Whether a transfer that needs a connection of its own may join the
 * multi now.  It waits in the engine's queue while the multi holds as many
 * of those as the engine may open connections: libcurl would hold it too,
 * but its cost for each transfer it holds grows with their number (every
 * step went through them), while a transfer here costs nothing until it
 * joins.  With a cap per host, libcurl holds the transfers beyond it in the
 * multi, where they would count against the total here and hold back
 * transfers to other hosts: libcurl keeps the caps then. */
static int room(const dcs_engine *e)
{
    return e->cfg.max_connections <= 0 || e->cfg.max_host_connections > 0 ||
           e->exclusive < (size_t)e->cfg.max_connections;
}

/* Whether t may join now: one that may multiplex (HTTP/2 over TLS) is
 * left to libcurl. */
static int may_join(const dcs_engine *e, const dcs_transfer *t)
{
    return t->shares || room(e);
}

/* When t's total timeout runs out, in microseconds on the monotonic
 * clock; -1: it has none. */
static long long deadline_us(const dcs_transfer *t)
{
    return t->total_ms > 0 ? t->started_us + t->total_ms * 1000LL : -1;
}

/* The sooner of two times, -1 being none. */
static long long sooner(long long a, long long b)
{
    return a < 0 || (b >= 0 && b < a) ? b : a;
}

/* The sooner of libcurl's timer and the deadlines of the transfers held
 * in the queue; 0 when a queued transfer may join now. */
long dcs_engine_timeout(const dcs_engine *e)
{
    long long now, at = -1;

    if (e->multi == NULL)
        return -1;
    if (e->queue_head != NULL && (room(e) || e->queued_shares > 0))
        return 0;
    if (e->queue_head != NULL)
        at = e->held_until;     /* early at worst: one step more */
    if (e->has_timer)
        at = sooner(at, e->deadline * 1000);
    if (at < 0)
        return -1;
    now = now_us();
    return at > now ? (long)((at - now + 999) / 1000) : 0;
}

static void queue_append(dcs_engine *e, dcs_transfer *t)
{
    t->qprev = e->queue_tail;
    t->qnext = NULL;
    if (e->queue_tail != NULL)
        e->queue_tail->qnext = t;
    else
        e->queue_head = t;
    e->queue_tail = t;
    t->in_queue = 1;
    e->queued_shares += t->shares != 0;
    e->held_until = sooner(e->held_until, deadline_us(t));
}

static void queue_remove(dcs_engine *e, dcs_transfer *t)
{
    if (!t->in_queue)
        return;
    if (t->qprev != NULL)
        t->qprev->qnext = t->qnext;
    else
        e->queue_head = t->qnext;
    if (t->qnext != NULL)
        t->qnext->qprev = t->qprev;
    else
        e->queue_tail = t->qprev;
    t->qprev = t->qnext = NULL;
    t->in_queue = 0;
    e->queued_shares -= t->shares != 0;
    if (e->queue_head == NULL)
        e->held_until = -1;
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
        dcs_transfer_flush(t);
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
        dcs_transfer_report_progress(t);
    queue_remove(e, t);
    t->state = T_DONE;
    t->finishing = 0;
    e->running--;
    e->finished++;
    dcs_transfer_conclude(t, rc, request_size > 0);
    notify_done(e, t);
    if (!e->stepping)
        detach(t);
    else
        e->deferred++;
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
    t->started_us = now_us();
    if (e->closed) {
        t->ended_by = DCS_HTTP_CLOSED;
        return start_failed(t, CURLE_OK, NULL);
    }
    if (e->npool > 0) {
        e->npool--;
        t->easy = e->pool[e->npool].easy;
        t->key = e->pool[e->npool].key;
    } else {
        t->easy = curl_easy_init();
    }
    rc = t->easy != NULL ? dcs_transfer_setup(t, cfg, req, e->cfg.multiplex) : CURLE_OUT_OF_MEMORY;
    if (rc != CURLE_OK)
        return start_failed(t, rc, rc == CURLE_OUT_OF_MEMORY ? "out of memory" : NULL);
    queue_append(e, t);
    return t;
}

/* ---- a step ---- */

/* A transfer whose total timeout ran out in the queue. */
static void expire(dcs_transfer *t)
{
    snprintf(t->errbuf, sizeof t->errbuf, "no connection became free within its %ld ms "
             "(at most %ld at a time)", t->total_ms, t->engine->cfg.max_connections);
    finish(t, CURLE_OPERATION_TIMEDOUT);
}

/* Whether t's total timeout ran out while it waited (now: microseconds). */
static int expired(const dcs_transfer *t, long long now)
{
    return deadline_us(t) >= 0 && now >= deadline_us(t);
}

/* t joins the multi with what is left of its total timeout, counted in
 * whole milliseconds waited (rounded down: never shorter than asked). */
static void join(dcs_engine *e, dcs_transfer *t, long long now)
{
    long waited_ms = (long)((now - t->started_us) / 1000);

    if (t->total_ms > 0 && waited_ms > 0)
        curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, t->total_ms - waited_ms);
    if (curl_multi_add_handle(e->multi, t->easy) != CURLM_OK) {
        start_failed(t, CURLE_OUT_OF_MEMORY, "cannot add the transfer to the engine");
        return;
    }
    queue_remove(e, t);
    t->in_multi = 1;
    t->state = T_RUNNING;
    if (!t->shares)
        e->exclusive++;
}

/* The queued transfers join the multi, oldest first, as far as they may;
 * those still waiting when their total timeout ran out fail.  With a
 * budget (stop_us >= 0, on the monotonic clock) each one starts as it
 * joins, so that its cost counts, and the joining stops once the budget
 * is spent (after one at least): the rest join in the next step. */
static void add_queued(dcs_engine *e, long long stop_us)
{
    dcs_transfer *t, *next;
    long long now, until = -1;
    int running, all;

    if (e->queue_head == NULL)
        return;
    now = now_us();
    /* A deadline may have come: every queued transfer is looked at, and
     * the earliest deadline found again.  Else the walk ends where no
     * later transfer may join: held ones cost nothing. */
    all = e->held_until >= 0 && now >= e->held_until;
    for (t = e->queue_head; t != NULL && !e->closed; t = next) {
        /* A callback run by a start below may have ended the next one:
         * out of the queue, it leads nowhere; the rest wait for the next
         * step. */
        if (!t->in_queue)
            break;
        next = t->qnext;
        if (expired(t, now)) {
            expire(t);
        } else if (may_join(e, t)) {
            join(e, t, now);
            if (stop_us < 0)
                continue;
            curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
            if (now_us() >= stop_us)
                break;
        } else if (!all && e->queued_shares == 0) {
            break;
        } else {
            until = sooner(until, deadline_us(t));
        }
    }
    /* A walk cut short leaves a deadline unseen: the next step looks again. */
    if (all)
        e->held_until = t == NULL ? until : now;
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

/* What poll said of a descriptor, as libcurl's own wait reads it
 * (Curl_socket_check): on a descriptor it reads, an error or a hang-up
 * makes it readable, so that libcurl reads and meets the error itself (a
 * reset is a receive error, not "select/poll returned error"); on one it
 * writes, they are errors. */
static int curl_events(short events, short revents)
{
    int mask = 0;
    if (events & POLLIN) {
        if (revents & (POLLIN | POLLHUP | POLLERR))
            mask |= CURL_CSELECT_IN;
        if (revents & POLLNVAL)
            mask |= CURL_CSELECT_ERR;
    }
    if (events & POLLOUT) {
        if (revents & POLLOUT)
            mask |= CURL_CSELECT_OUT;
        if (revents & (POLLERR | POLLHUP | POLLNVAL))
            mask |= CURL_CSELECT_ERR;
    }
    return mask;
}

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
        curl_multi_socket_action(e->multi, pfds[i].fd, curl_events(pfds[i].events, pfds[i].revents),
                                 &running);
        if (budget_us >= 0 && now_us() >= stop) {
            e->next_fd = i + 1;
            return;
        }
    }
    e->next_fd = 0;
}

/* Polls the descriptors (at most wait_ms), gives libcurl the ready ones,
 * fires the timer when due, finishes what is done. */
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
    long long stop_us;

    if (e->stepping)
        return -1;
    if (e->multi == NULL || e->closed || e->running == 0)
        return 0;
    e->stepping = 1;
    e->finished = 0;
    stop_us = budget_us >= 0 ? now_us() + budget_us : -1;
    add_queued(e, stop_us);
    if (stop_us >= 0) {
        long long left = stop_us - now_us();
        budget_us = left > 0 ? (long)left : 0;     /* 0: one descriptor still */
    }
    run_ready(e, 0, budget_us);
    if (e->finished == 0 && timeout_ms > 0 && e->running > 0 && !e->closed)
        run_ready(e, wait_bound(e, timeout_ms), budget_us);
    e->stepping = 0;
    /* What callbacks asked for while libcurl was on the stack. */
    for (t = e->deferred > 0 ? e->attached : NULL; t != NULL; t = next) {
        next = t->next;
        if (t->state == T_DONE)
            detach(t);
    }
    e->deferred = 0;
    if (e->closed)
        shutdown_multi(e);
    return e->finished;
}
