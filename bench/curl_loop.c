/* The peer of bench/throughput.lua: the link call as a plain libcurl loop.
 * One easy handle, reused for every call, so one kept-alive connection;
 * the same POST with the same headers the SDK sends (the Authorization
 * and X-Sdk-Date fixed: the server accepts any signature), the body kept
 * in memory.  Nothing is signed, built or decoded: this is what the
 * transfer alone costs.
 *
 *   curl_loop URL CALLS  ->  "<calls per second> <status> <body bytes> <CPU us a call>"
 * (the CPU: this process's, user and system, over the loop).
 * URL is the whole link URL (built by bench/throughput.lua).  Built by
 * `make bench` (build/bench/curl_loop). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "c_loop.h"

typedef struct body {
    char data[4096];
    size_t len;
} body;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    body *b = ud;
    size_t k = size * n;
    if (k > sizeof b->data - b->len)
        return 0;
    memcpy(b->data + b->len, p, k);
    b->len += k;
    return k;
}

/* LINK_HEADERS, and no Expect: for the POST. */
static struct curl_slist *headers(void)
{
    struct curl_slist *list = curl_slist_append(NULL, "Expect:");
    size_t i;
    for (i = 0; i < LINK_HEADER_COUNT; i++)
        list = curl_slist_append(list, LINK_HEADERS[i]);
    return list;
}

int main(int argc, char **argv)
{
    CURL *h;
    struct curl_slist *list;
    body b;
    long status = 0, calls, i;
    double t0, c0;

    if (argc != 3 || (calls = atol(argv[2])) <= 0) {
        fprintf(stderr, "usage: curl_loop URL CALLS\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    h = curl_easy_init();
    list = headers();
    curl_easy_setopt(h, CURLOPT_URL, argv[1]);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "lua-dcs/0.2.0 (Lua 5.4; libcurl/7.88.1)");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    t0 = now();
    c0 = cpu();
    for (i = 0; i < calls; i++) {
        b.len = 0;
        if (curl_easy_perform(h) != CURLE_OK) {
            fprintf(stderr, "curl_loop: call %ld failed\n", i);
            return 1;
        }
    }
    t0 = now() - t0;
    c0 = cpu() - c0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    printf("%.0f %ld %lu %.2f\n", (double)calls / t0, status, (unsigned long)b.len, c0 / (double)calls * 1e6);
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return 0;
}
