/* The multi engine alone, from C: the link call of bench/throughput.lua as
 * a loop over csrc/dcs_engine.c (start, step until done, release), with no
 * Lua at all.  The same POST with the same headers as bench/curl_loop.c,
 * on one engine, so one kept-alive connection.  Beside the raw libcurl
 * loop it shows what the engine itself adds to a call; beside the SDK and
 * the floor (the engine from Lua) it shows what the Lua side adds.
 *
 *   engine_loop URL CALLS  ->  "<calls per second> <status> <body bytes> <CPU us a call>"
 * (the CPU: this process's, user and system, over the loop).
 * Built by `make bench` (build/bench/engine_loop) from the engine's own
 * sources. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcs_engine.h"

#include "c_loop.h"

/* One call: start, step until done, take its notice.  0 and the status, or
 * -1 when the transfer failed. */
static int one_call(dcs_engine *e, const dcs_http_config *cfg, const dcs_http_request *req,
                    long *status, size_t *body_len)
{
    dcs_transfer *t = dcs_engine_start(e, cfg, req);
    dcs_http_response *res;
    void *ud;
    int ok;

    if (t == NULL)
        return -1;
    while (!dcs_transfer_done(t))
        dcs_engine_step(e, 50, -1);
    while (dcs_engine_take_done(e, &ud))
        ;
    res = dcs_transfer_response(t);
    ok = res->failure == DCS_HTTP_OK;
    *status = res->status;
    *body_len = res->body.len;
    dcs_transfer_release(t);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    dcs_engine_config ecfg = {64, 0, 1};
    dcs_http_config cfg;
    dcs_http_request req;
    dcs_engine *e;
    long status = 0, calls, i;
    size_t body_len = 0;
    double t0, c0;

    if (argc != 3 || (calls = atol(argv[2])) <= 0) {
        fprintf(stderr, "usage: engine_loop URL CALLS\n");
        return 2;
    }
    if (!dcs_http_global_init() || (e = dcs_engine_new(&ecfg)) == NULL) {
        fprintf(stderr, "engine_loop: cannot start the engine\n");
        return 1;
    }
    /* the options the SDK's client gives its transfers by default */
    memset(&cfg, 0, sizeof cfg);
    cfg.proxy = "";
    cfg.user_agent = "lua-dcs/0.2.0 (Lua 5.4; libcurl/7.88.1)";
    cfg.timeout_ms = 120000;
    cfg.connect_timeout_ms = 60000;
    cfg.max_body = 2 * 1024 * 1024;
    memset(&req, 0, sizeof req);
    req.method = "POST";
    req.url = argv[1];
    req.headers = LINK_HEADERS;
    req.header_count = LINK_HEADER_COUNT;
    req.body = "";
    t0 = now();
    c0 = cpu();
    for (i = 0; i < calls; i++) {
        if (one_call(e, &cfg, &req, &status, &body_len) != 0) {
            fprintf(stderr, "engine_loop: call %ld failed\n", i);
            return 1;
        }
    }
    t0 = now() - t0;
    c0 = cpu() - c0;
    printf("%.0f %ld %lu %.2f\n", (double)calls / t0, status, (unsigned long)body_len, c0 / (double)calls * 1e6);
    dcs_engine_free(e);
    return 0;
}
