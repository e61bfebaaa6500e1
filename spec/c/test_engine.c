/* Unit tests of the multi engine (csrc/dcs_engine.c) and the blocking
 * transport on top of it (csrc/dcs_http.c), against a real loopback server:
 * tools/hostile-server, started here (run from the repository's root, as
 * tools/check does) and scripted through the blocking transport itself.
 * Time appears only as generous bounds. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "dcs_engine.h"
#include "dcs_file.h"
#include "dcs_http.h"
#include "tap.h"

static char base[128];              /* http://127.0.0.1:PORT */
static FILE *server;
static int server_pid;
static dcs_http *admin;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int start_server(void)
{
    char line[256];
    const char *at;
    server = popen("exec python3 tools/hostile-server --port 0 --exit-with-parent --quiet", "r");
    if (server == NULL || fgets(line, sizeof line, server) == NULL)
        return 0;
    at = strstr(line, "http://");
    if (at == NULL || sscanf(at, "%127[^ ]", base) != 1)
        return 0;
    at = strstr(line, "pid=");
    server_pid = at != NULL ? atoi(at + 4) : 0;
    return server_pid > 0;
}

static const dcs_http_config plain = {10000, 10000, 0, NULL, "", NULL, NULL, 0};

static dcs_http_request get(const char *url)
{
    dcs_http_request r;
    memset(&r, 0, sizeof r);
    r.method = "GET";
    r.url = url;
    return r;
}

/* A control call to the server; its status, the body in out (if given). */
static long control(const char *method, const char *path, const char *json, dcs_buf *out)
{
    static const char *const ctype[] = {"Content-Type: application/json"};
    char url[256] = "";
    dcs_http_request r = get(url);
    dcs_http_response res;
    long status;

    snprintf(url, sizeof url, "%s%s", base, path);
    r.method = method;
    if (json != NULL) {
        r.body = json;
        r.body_len = strlen(json);
        r.headers = ctype;
        r.header_count = 1;
    }
    dcs_http_response_init(&res);
    status = dcs_http_perform(admin, &r, &res) == DCS_HTTP_OK ? res.status : -1;
    if (out != NULL)
        dcs_buf_add(out, res.body.data, res.body.len);
    dcs_http_response_free(&res);
    return status;
}

/* The number after "key": in a JSON text, or -1. */
static long json_number(dcs_buf *b, const char *key)
{
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(dcs_buf_cstr(b), pat);
    return p == NULL ? -1 : strtol(p + strlen(pat), NULL, 10);
}

/* Resets the server once no request of an earlier test is in flight there
 * (its handler may still be finishing one the client is done with), so that
 * its peak counts this test's requests only. */
static void reset_when_quiet(void)
{
    struct timespec pause = {0, 10 * 1000 * 1000};
    int i;

    for (i = 0; i < 200; i++) {
        dcs_buf stats = DCS_BUF_INIT;
        long n;
        control("GET", "/_hostile/stats", NULL, &stats);
        n = json_number(&stats, "in_flight");
        dcs_buf_free(&stats);
        if (n == 0)
            break;
        nanosleep(&pause, NULL);
    }
    control("POST", "/_hostile/reset", NULL, NULL);
}

/* The string after "key": in a JSON text, into out. */
static int json_string(dcs_buf *b, const char *key, char *out, size_t n)
{
    char pat[64];
    const char *p, *q;
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    p = strstr(dcs_buf_cstr(b), pat);
    if (p == NULL)
        return 0;
    p += strlen(pat);
    q = strchr(p, '"');
    if (q == NULL || (size_t)(q - p) >= n)
        return 0;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = '\0';
    return 1;
}

/* Steps until nothing is in flight or `limit` seconds passed. */
static int run(dcs_engine *e, double limit)
{
    double until = now() + limit;
    int steps = 0;
    while (dcs_engine_running(e) > 0 && now() < until) {
        dcs_engine_step(e, 200, -1);
        steps++;
    }
    return steps;
}

static void test_empty_engine(void)
{
    dcs_engine_config cfg = {4, 0, 1};
    dcs_engine *e = dcs_engine_new(&cfg);
    double t0;
    ok(e != NULL, "an engine");
    check_int("nothing in flight", (long long)dcs_engine_running(e), 0);
    check_int("no timer", dcs_engine_timeout(e), -1);
    check_int("no descriptor", (long long)dcs_engine_fds(e, NULL, 0), 0);
    t0 = now();
    check_int("a step with nothing to do", dcs_engine_step(e, 5000, -1), 0);
    ok(now() - t0 < 1.0, "returns at once when nothing is in flight");
    dcs_engine_close(e);
    dcs_engine_close(e);
    ok(dcs_engine_free(e), "closes twice, frees");
}

static void test_blocking_keepalive(void)
{
    char url[256] = "";
    dcs_http *h = dcs_http_new();
    dcs_http_request r = get(url);
    dcs_http_response res;
    int i;

    ok(control("POST", "/_hostile/file", "{\"path\": \"/small\", \"size\": 1000}", NULL) == 200,
       "a served file");
    snprintf(url, sizeof url, "%s/small", base);
    dcs_http_configure(h, &plain);
    for (i = 0; i < 3; i++) {
        dcs_http_response_init(&res);
        dcs_http_perform(h, &r, &res);
        ok(res.failure == DCS_HTTP_OK && res.status == 200 && res.body.len == 1000,
           "blocking GET %d: 200 and the body", i + 1);
        check_int("  new connections", res.new_connections, i == 0 ? 1 : 0);
        dcs_http_response_free(&res);
    }
    dcs_http_free(h);
}

/* 16 transfers on a server that answers each after 0.3 s, 4 connections at
 * most: about 4 rounds, and the server sees 4 requests at once. */
static void test_concurrency(void)
{
    enum { N = 16, CAP = 4 };
    dcs_engine_config cfg = {CAP, 0, 1};
    dcs_engine *e = dcs_engine_new(&cfg);
    dcs_transfer *t[N];
    char url[N][160];
    dcs_buf stats = DCS_BUF_INIT;
    double t0, elapsed;
    int i, good = 0;
    long conns = 0;

    reset_when_quiet();
    control("POST", "/_hostile/script", "{\"match\": {\"path_prefix\": \"/slow\"}, \"times\": -1, "
            "\"steps\": [{\"sleep\": 0.3}, {\"respond\": {\"body\": \"slow\"}}]}", NULL);
    t0 = now();
    for (i = 0; i < N; i++) {
        dcs_http_request r;
        snprintf(url[i], sizeof url[i], "%s/slow/%d", base, i);
        r = get(url[i]);
        t[i] = dcs_engine_start(e, &plain, &r);
    }
    check_int("all in flight", (long long)dcs_engine_running(e), N);
    check_int("a step is due at once", dcs_engine_timeout(e), 0);
    run(e, 30);
    elapsed = now() - t0;
    for (i = 0; i < N; i++) {
        dcs_http_response *res = dcs_transfer_response(t[i]);
        good += dcs_transfer_done(t[i]) && res->failure == DCS_HTTP_OK && res->body.len == 4;
        conns += res->new_connections;
        dcs_transfer_release(t[i]);
    }
    check_int("every transfer answered", good, N);
    ok(elapsed < N * 0.3 / 2, "in %.2f s, well under %d x 0.3 s", elapsed, N);
    ok(conns <= CAP, "%ld connections, the cap is %d", conns, CAP);
    control("GET", "/_hostile/stats", NULL, &stats);
    check_int("the server saw the cap's worth at once", json_number(&stats, "peak_in_flight"), CAP);
    dcs_buf_free(&stats);
    dcs_engine_free(e);
}

/* A server that never answers: step(0) never waits, and the engine waits
 * for the answer on its socket (read), with a timer (the request's timeout). */
static void test_zero_step(void)
{
    dcs_engine_config cfg = {4, 0, 1};
    dcs_engine *e = dcs_engine_new(&cfg);
    dcs_buf out = DCS_BUF_INIT;
    char url[200] = "";
    dcs_http_request r = get(url);
    dcs_engine_fd fds[4];
    dcs_transfer *t;
    double t0, took;
    long due;
    int i, steps = 0;

    control("POST", "/_hostile/listener", "{\"kind\": \"silent\"}", &out);
    json_string(&out, "url", url, sizeof url - 4);
    strcat(url, "/x");
    r.timeout_ms = 60000;
    t = dcs_engine_start(e, &plain, &r);
    while (steps++ < 50 && !(dcs_engine_fds(e, fds, 4) == 1 && fds[0].events == DCS_ENGINE_READ))
        dcs_engine_step(e, 100, -1);
    ok(dcs_engine_fds(e, fds, 4) == 1 && fds[0].events == DCS_ENGINE_READ && fds[0].fd >= 0,
       "waits to read on one socket once the request is out");
    ok(dcs_engine_timeout(e) > 0 && dcs_engine_timeout(e) <= 60000, "a timer: %ld ms",
       dcs_engine_timeout(e));
    t0 = now();
    for (i = 0; i < 1000; i++)
        dcs_engine_step(e, 0, -1);
    took = now() - t0;
    ok(took < 1.0, "1000 steps with a zero timeout take %.4f s", took);
    /* Its wait ends with the first of its bound and the engine's timer. */
    due = dcs_engine_timeout(e);
    due = due >= 0 && due < 300 ? due : 300;
    t0 = now();
    dcs_engine_step(e, 300, -1);
    took = now() - t0;
    ok(took >= due / 1000.0 - 0.02 && took < 0.3 + 1.0,
       "a step of 0.3 s waits for its bound or the timer (%ld ms): %.3f s", due, took);
    check_int("still in flight", dcs_transfer_done(t), 0);
    dcs_transfer_cancel(t);
    dcs_transfer_cancel(t);
    ok(dcs_transfer_done(t) && dcs_transfer_response(t)->failure == DCS_HTTP_CANCELLED,
       "cancel ends it at once: %s", dcs_transfer_response(t)->message);
    check_int("nothing in flight after the cancel", (long long)dcs_engine_running(e), 0);
    check_int("no descriptor left", (long long)dcs_engine_fds(e, fds, 4), 0);
    dcs_transfer_release(t);
    dcs_buf_free(&out);
    dcs_engine_free(e);
}

typedef struct sink {
    dcs_engine *e;
    dcs_transfer *other;
    int calls;
    long long last;
    int action;                 /* 0 none, 1 cancel other, 2 close the engine, 3 cancel self */
    dcs_transfer *self;
} sink;

static dcs_http_body_to to_file(void *ud, long status, const char *block, size_t len)
{
    (void)ud, (void)block, (void)len;
    return status == 200 ? DCS_HTTP_BODY_FILE : DCS_HTTP_BODY_BUFFER;
}

static int progress(void *ud, long long bytes)
{
    sink *s = ud;
    s->calls++;
    s->last = bytes;
    if (s->action == 1 && s->other != NULL)
        dcs_transfer_cancel(s->other);
    else if (s->action == 2)
        dcs_engine_close(s->e);
    else if (s->action == 3)
        dcs_transfer_cancel(s->self);
    return 1;
}

static dcs_http_request file_request(const char *url, dcs_file *f, sink *s)
{
    dcs_http_request r = get(url);
    r.on_head = to_file;
    r.on_progress = progress;
    r.progress_step = 256 * 1024;
    r.file = f;
    r.ud = s;
    return r;
}

static void test_file_sink(const char *url, const char *sha)
{
    dcs_engine_config cfg = {4, 0, 1};
    dcs_engine *e = dcs_engine_new(&cfg);
    char path[] = "/tmp/dcs-engine-XXXXXX", hex[65];
    int fd = mkstemp(path);
    dcs_file f;
    sink s;
    dcs_http_request r;
    dcs_transfer *t;

    memset(&s, 0, sizeof s);
    close(fd);
    unlink(path);
    dcs_file_init(&f);
    dcs_file_open(&f, path, DCS_FILE_NEW, DCS_FILE_SHA256);
    r = file_request(url, &f, &s);
    t = dcs_engine_start(e, &plain, &r);
    run(e, 30);
    ok(dcs_transfer_done(t) && dcs_transfer_response(t)->failure == DCS_HTTP_OK,
       "a 3 MB body streamed into a file: %s", dcs_transfer_response(t)->message);
    check_int("  bytes in the file", f.size, 3000000);
    check_int("  streamed", dcs_transfer_response(t)->streamed, 3000000);
    check_int("  the last progress report is the whole body", s.last, 3000000);
    ok(s.calls >= 2, "  progress reported along the way (%d calls)", s.calls);
    ok(dcs_file_sha256(&f, hex) == 0 && strcmp(hex, sha) == 0, "  its SHA-256, hashed on the helpers");
    dcs_transfer_release(t);
    dcs_file_close(&f);
    unlink(path);
    dcs_engine_free(e);
}

/* A download and a transfer answered after 1 s; a progress callback of the
 * first cancels the second, or closes the engine, or cancels itself, while
 * libcurl is on the stack. */
static void test_callbacks_end_transfers(const char *url, const char *late, int action)
{
    static const char *const what[] = {"", "cancels the other", "closes the engine",
                                       "cancels itself"};
    dcs_engine_config cfg = {4, 0, 1};
    dcs_engine *e = dcs_engine_new(&cfg);
    dcs_file f[2];
    sink s[2];
    dcs_transfer *t[2];
    char path[2][32];
    int i;
    dcs_http_failure a, b;

    for (i = 0; i < 2; i++) {
        dcs_http_request r;
        snprintf(path[i], sizeof path[i], "/tmp/dcs-engine-cb-%d-%d", (int)getpid(), i);
        unlink(path[i]);
        dcs_file_init(&f[i]);
        dcs_file_open(&f[i], path[i], DCS_FILE_NEW, DCS_FILE_SHA256);
        memset(&s[i], 0, sizeof s[i]);
        s[i].e = e;
        r = file_request(i == 0 ? url : late, &f[i], &s[i]);
        t[i] = dcs_engine_start(e, &plain, &r);
        s[i].self = t[i];
    }
    s[0].other = t[1];
    s[0].action = action;
    run(e, 30);
    a = dcs_transfer_response(t[0])->failure;
    b = dcs_transfer_response(t[1])->failure;
    if (action == 1)
        ok(a == DCS_HTTP_OK && b == DCS_HTTP_CANCELLED, "a callback %s: %d, %d", what[action], a, b);
    else if (action == 2)
        ok(a == DCS_HTTP_CLOSED && b == DCS_HTTP_CLOSED, "a callback %s: %d, %d", what[action], a, b);
    else
        ok(a == DCS_HTTP_CANCELLED && b == DCS_HTTP_OK, "a callback %s: %d, %d", what[action], a, b);
    ok(f[0].size == dcs_transfer_response(t[0])->streamed &&
       f[1].size == dcs_transfer_response(t[1])->streamed,
       "  every byte received is in the files (%lld, %lld)", f[0].size, f[1].size);
    check_int("  nothing in flight", (long long)dcs_engine_running(e), 0);
    for (i = 0; i < 2; i++) {
        dcs_transfer_release(t[i]);
        dcs_file_close(&f[i]);
        unlink(path[i]);
    }
    dcs_engine_free(e);
}

/* Closing with transfers in flight ends them (closed); a transfer may
 * outlive its engine; releasing a running transfer cancels it. */
static void test_close_in_flight(void)
{
    dcs_engine_config cfg = {2, 0, 1};
    dcs_engine *e = dcs_engine_new(&cfg);
    char url[200] = "";
    dcs_http_request r;
    dcs_transfer *t[5], *late;
    int i, closed = 0, notices = 0;
    void *ud;

    control("POST", "/_hostile/script", "{\"match\": {\"path_prefix\": \"/slow\"}, \"times\": -1, "
            "\"steps\": [{\"sleep\": 0.3}, {\"respond\": {\"body\": \"slow\"}}]}", NULL);
    snprintf(url, sizeof url, "%s/slow/close", base);
    r = get(url);
    for (i = 0; i < 5; i++)
        t[i] = dcs_engine_start(e, &plain, &r);
    dcs_engine_step(e, 50, -1);
    dcs_engine_step(e, 50, -1);
    dcs_transfer_release(t[4]);         /* running: cancelled, then let go */
    check_int("4 in flight after one was let go", (long long)dcs_engine_running(e), 4);
    dcs_engine_close(e);
    for (i = 0; i < 4; i++)
        closed += dcs_transfer_done(t[i]) && dcs_transfer_response(t[i])->failure == DCS_HTTP_CLOSED;
    check_int("close ends every transfer in flight, closed", closed, 4);
    ok(strstr(dcs_transfer_response(t[0])->message, "closed") != NULL, "  \"%s\"",
       dcs_transfer_response(t[0])->message);
    late = dcs_engine_start(e, &plain, &r);
    ok(dcs_transfer_done(late) && dcs_transfer_response(late)->failure == DCS_HTTP_CLOSED,
       "a start after the close is done at once, closed");
    check_int("a step after the close does nothing", dcs_engine_step(e, 100, -1), 0);
    while (dcs_engine_take_done(e, &ud))
        notices++;
    check_int("one done notice per transfer", notices, 6);
    dcs_engine_free(e);
    for (i = 0; i < 4; i++)
        dcs_transfer_release(t[i]);     /* after the engine: they never touch it again */
    dcs_transfer_release(late);
}

static void test_failures(void)
{
    dcs_engine_config cfg = {4, 0, 1};
    dcs_engine *e = dcs_engine_new(&cfg);
    dcs_http_request r[3];
    dcs_transfer *t[3];
    char big[200];
    dcs_http_config small = plain;
    int i;

    snprintf(big, sizeof big, "%s/small", base);
    r[0] = get("http://127.0.0.1:1/");
    r[1] = get("gopher://127.0.0.1/");
    r[2] = get(big);
    small.max_body = 10;
    for (i = 0; i < 3; i++)
        t[i] = dcs_engine_start(e, i == 2 ? &small : &plain, &r[i]);
    run(e, 30);
    check_int("a refused connection", dcs_transfer_response(t[0])->failure, DCS_HTTP_CONNECT);
    check_int("a protocol other than http(s)", dcs_transfer_response(t[1])->failure,
              DCS_HTTP_BAD_REQUEST);
    check_int("a body over the transfer's own max_body", dcs_transfer_response(t[2])->failure,
              DCS_HTTP_TOO_LARGE);
    for (i = 0; i < 3; i++)
        dcs_transfer_release(t[i]);
    dcs_engine_free(e);
}

/* Several threads, each with its own transport, at once: the global
 * initialisation runs once (TSan watches this stage). */
static void *thread_main(void *arg)
{
    char url[256] = "";
    dcs_http *h;
    dcs_http_request r = get(url);
    long *good = arg;
    int i;

    *good = dcs_http_global_init();
    h = dcs_http_new();
    dcs_http_configure(h, &plain);
    snprintf(url, sizeof url, "%s/small", base);
    for (i = 0; i < 5; i++) {
        dcs_http_response res;
        dcs_http_response_init(&res);
        *good += dcs_http_perform(h, &r, &res) == DCS_HTTP_OK && res.status == 200;
        dcs_http_response_free(&res);
    }
    dcs_http_free(h);
    return NULL;
}

static void test_threads(void)
{
    enum { THREADS = 4 };
    pthread_t th[THREADS];
    long good[THREADS];
    int i, started = 0, all = 1;

    for (i = 0; i < THREADS; i++)
        started += pthread_create(&th[i], NULL, thread_main, &good[i]) == 0;
    check_int("threads started", started, THREADS);
    for (i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        all = all && good[i] == 6;
    }
    ok(all, "each thread's transport works beside the others");
    ok(strcmp(dcs_http_curl_version(), "unknown") != 0, "libcurl's version, read once: %s",
       dcs_http_curl_version());
}

int main(void)
{
    dcs_buf out = DCS_BUF_INIT;
    char url[200], late[200], sha[65];

    if (!ok(dcs_http_global_init(), "curl_global_init") ||
        !ok(start_server(), "tools/hostile-server started: %s", base))
        return tap_done();
    admin = dcs_http_new();
    dcs_http_configure(admin, &plain);
    test_empty_engine();
    test_blocking_keepalive();
    test_threads();
    test_concurrency();
    test_zero_step();
    control("POST", "/_hostile/file", "{\"path\": \"/big\", \"size\": 3000000}", &out);
    ok(json_string(&out, "sha256", sha, sizeof sha), "a 3 MB served file");
    snprintf(url, sizeof url, "%s/big", base);
    control("POST", "/_hostile/file", "{\"path\": \"/small\", \"size\": 1000}", NULL);
    test_file_sink(url, sha);
    control("POST", "/_hostile/script", "{\"match\": {\"path_prefix\": \"/late\"}, \"times\": -1, "
            "\"steps\": [{\"sleep\": 1}, {\"respond\": {\"body\": \"late\"}}]}", NULL);
    snprintf(late, sizeof late, "%s/late", base);
    test_callbacks_end_transfers(url, late, 1);
    test_callbacks_end_transfers(url, late, 2);
    test_callbacks_end_transfers(url, late, 3);
    test_close_in_flight();
    test_failures();
    dcs_buf_free(&out);
    dcs_http_free(admin);
    kill(server_pid, SIGTERM);
    pclose(server);
    curl_global_cleanup();
    return tap_done();
}
