/* The blocking transport: one request at a time, run to completion on the
 * handle's own engine (dcs_engine.c holds the libcurl code).  Nothing here
 * knows about Lua: the binding in lhttp.c translates tables to
 * dcs_http_request and dcs_http_response back. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "dcs_engine.h"
#include "dcs_http.h"

/* How long one wait of the blocking loop may last; libcurl's own timer
 * (the request's timeouts) wakes it sooner. */
#define BLOCKING_WAIT_MS 1000L

struct dcs_http {
    dcs_engine *engine;         /* its connection cache gives keep-alive */
    dcs_http_config cfg;        /* strings below are owned copies */
};

/* libcurl's global state is set up once per process, whatever the number
 * of threads and Lua states loading the module: curl_global_init is not
 * thread-safe, so it runs once, under a lock, and curl_version_info (which
 * may write static buffers) is read there too, once, for
 * dcs_http_curl_version.  A mutex rather than pthread_once: both are
 * cheap here (a state's luaopen and curl_version only), and every race
 * detector (TSan, helgrind, drd) sees what a mutex orders, so libcurl's
 * globals written by the first thread are seen ordered before the others'
 * reads; helgrind and drd do not model pthread_once. */
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static int global_done, global_ok;
static const char *curl_version_string = "unknown";

int dcs_http_global_init(void)
{
    int ok;
    pthread_mutex_lock(&global_lock);
    if (!global_done) {
        const curl_version_info_data *v;
        global_done = 1;
        global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
        v = curl_version_info(CURLVERSION_NOW);
        if (v != NULL && v->version != NULL)
            curl_version_string = v->version;
    }
    ok = global_ok;
    pthread_mutex_unlock(&global_lock);
    return ok;
}

const char *dcs_http_curl_version(void)
{
    const char *v;
    dcs_http_global_init();
    pthread_mutex_lock(&global_lock);
    v = curl_version_string;
    pthread_mutex_unlock(&global_lock);
    return v;
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
    /* One transfer at a time: no cap needed; HTTP/2 when the server offers it. */
    static const dcs_engine_config one = {0, 0, 1};
    dcs_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->engine = dcs_engine_new(&one);
    if (h->engine == NULL) {
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
    dcs_engine_free(h->engine);
    free_config_strings(&h->cfg);
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
    case DCS_HTTP_CANCELLED: return "cancelled";
    case DCS_HTTP_CLOSED: return "closed";
    case DCS_HTTP_PROXY: return "proxy";
    default: return "other";
    }
}

/* Runs one transfer on the handle's engine until it is done and moves its
 * response into res. */
dcs_http_failure dcs_http_perform(dcs_http *h, const dcs_http_request *req,
                                  dcs_http_response *res)
{
    dcs_transfer *t = dcs_engine_start(h->engine, &h->cfg, req);
    dcs_http_response *done;

    if (t == NULL) {
        res->failure = DCS_HTTP_OTHER;
        snprintf(res->message, sizeof res->message, "out of memory");
        return res->failure;
    }
    while (!dcs_transfer_done(t))
        if (dcs_engine_step(h->engine, BLOCKING_WAIT_MS, -1) < 0)
            dcs_transfer_cancel(t);     /* called from inside one of its own callbacks */
    while (dcs_engine_take_done(h->engine, NULL))
        ;
    done = dcs_transfer_response(t);
    dcs_http_response_free(res);
    *res = *done;
    dcs_http_response_init(done);
    dcs_transfer_release(t);
    return res->failure;
}
