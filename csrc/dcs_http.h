/* Blocking HTTP transport over one libcurl easy handle.  The handle is kept
 * for the life of the object so libcurl's connection cache gives keep-alive
 * across requests.  Pure C: callers pass plain strings and get plain buffers. */
#ifndef DCS_HTTP_H
#define DCS_HTTP_H

#include <stddef.h>

#include "dcs_buf.h"

typedef struct dcs_http dcs_http;

typedef struct dcs_http_config {
    long timeout_ms;            /* whole transfer; 0 = none */
    long connect_timeout_ms;
    int insecure;               /* 1 = skip TLS peer and host verification */
    const char *ca_file;        /* NULL = system store */
    const char *proxy;          /* NULL = libcurl's default (the *_proxy env vars); "" = none */
    const char *no_proxy;       /* hosts that bypass the proxy; NULL = libcurl's default */
    const char *user_agent;
    size_t max_body;            /* buffered bodies above this fail; 0 = no limit */
} dcs_http_config;

/* Streaming body consumer for 2xx responses (other statuses are buffered so
 * their error body can be read); returns 0 to abort the transfer. */
typedef int (*dcs_http_sink)(void *ud, long status, long long content_length, const char *data,
                             size_t n);

typedef struct dcs_http_request {
    const char *method;         /* "GET", "POST", ... */
    const char *url;
    const char *const *headers; /* "Name: value" lines */
    size_t header_count;
    const char *body;
    size_t body_len;
    long timeout_ms;            /* > 0 overrides the config; < 0 means no total timeout */
    long stall_seconds;         /* > 0: fail when under 1 byte/s for this long */
    dcs_http_sink sink;         /* NULL = buffer the body */
    void *sink_ud;
} dcs_http_request;

/* Why a transfer failed; lets callers tell DNS/connect/TLS failures (safe to
 * retry on another endpoint) from failures after the request went out. */
typedef enum dcs_http_failure {
    DCS_HTTP_OK = 0,
    DCS_HTTP_TIMEOUT,
    DCS_HTTP_DNS,
    DCS_HTTP_CONNECT,
    DCS_HTTP_TLS,
    DCS_HTTP_SEND,
    DCS_HTTP_RECV,
    DCS_HTTP_TOO_LARGE,
    DCS_HTTP_ABORTED,           /* the sink asked to stop */
    DCS_HTTP_BAD_REQUEST,       /* bad URL or option */
    DCS_HTTP_OTHER
} dcs_http_failure;

typedef struct dcs_http_response {
    long status;
    dcs_buf headers;            /* raw header block of the final response */
    dcs_buf body;               /* empty when a sink took a 2xx body */
    long new_connections;       /* 0 when an existing connection was reused */
    double total_seconds;
    dcs_http_failure failure;
    char message[320];          /* set when failure != DCS_HTTP_OK */
} dcs_http_response;

DCS_INTERNAL int  dcs_http_global_init(void);
DCS_INTERNAL dcs_http *dcs_http_new(void);
DCS_INTERNAL int  dcs_http_configure(dcs_http *h, const dcs_http_config *cfg); /* 0 = ENOMEM */
DCS_INTERNAL void dcs_http_free(dcs_http *h);
DCS_INTERNAL void dcs_http_response_init(dcs_http_response *res);
DCS_INTERNAL void dcs_http_response_free(dcs_http_response *res);
/* Returns DCS_HTTP_OK when a response arrived, whatever its status. */
DCS_INTERNAL dcs_http_failure dcs_http_perform(dcs_http *h, const dcs_http_request *req,
                                               dcs_http_response *res);
DCS_INTERNAL const char *dcs_http_failure_name(dcs_http_failure f);
DCS_INTERNAL const char *dcs_http_curl_version(void);

#endif
