/* Blocking HTTP transport: each dcs_http runs its requests one at a time,
 * to completion, on a multi engine of its own (dcs_engine.h), kept for the
 * life of the object so the engine's connection cache gives keep-alive
 * across requests.  Pure C: callers pass plain strings and get plain
 * buffers, or have the body written to a dcs_file.  The types here are
 * also the engine's: a request, its options, its response. */
#ifndef DCS_HTTP_H
#define DCS_HTTP_H

#include <stddef.h>

#include "dcs_buf.h"
#include "dcs_file.h"

typedef struct dcs_http dcs_http;

/* A response is malformed (DCS_HTTP_BAD_RESPONSE) when its final head is
 * not a valid block (dcs_headers.h), when it comes after more than this
 * many interim (1xx) answers or is a 101 (no request of ours asks to switch
 * protocols), or when its framing is ambiguous: a Content-Length that is
 * not one decimal number of at most DCS_HTTP_MAX_LENGTH_DIGITS digits
 * (equal repeats allowed), or one together with Transfer-Encoding
 * (RFC 9112 6.3: a sign of response splitting). */
#define DCS_HTTP_MAX_INTERIM 10
#define DCS_HTTP_MAX_LENGTH_DIGITS 15

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

/* Where the body of the final response goes, decided by on_head. */
typedef enum dcs_http_body_to {
    DCS_HTTP_BODY_BUFFER = 0,   /* res->body, capped by max_body */
    DCS_HTTP_BODY_FILE,         /* req->file, from libcurl's write callback in 256 KiB
                                 * writes, its digests on helper threads meanwhile */
    DCS_HTTP_BODY_REFUSE        /* stop the transfer (DCS_HTTP_ABORTED) */
} dcs_http_body_to;

typedef struct dcs_http_request {
    const char *method;         /* "GET", "POST", ... */
    const char *url;
    const char *const *headers; /* "Name: value" lines */
    size_t header_count;
    const char *body;
    size_t body_len;
    long timeout_ms;            /* > 0 overrides the config; < 0 means no total timeout */
    long stall_seconds;         /* > 0: fail when under min_speed bytes/s for this long */
    long min_speed;             /* bytes/s; used with stall_seconds */
    /* Called once, when the final response's header block is complete and
     * valid (never for 1xx or a proxy's CONNECT answer); NULL = buffer. */
    dcs_http_body_to (*on_head)(void *ud, long status, const char *block, size_t len);
    dcs_file *file;             /* the body's target when on_head says FILE; its
                                 * digests are complete when perform returns */
    /* Body bytes streamed so far: at most once per progress_step bytes and
     * once when the transfer completed; returns 0 to stop (DCS_HTTP_ABORTED). */
    int (*on_progress)(void *ud, long long bytes);
    long long progress_step;
    void *ud;                   /* for on_head and on_progress */
} dcs_http_request;

/* Why a transfer failed; lets callers tell DNS/connect/TLS failures (safe to
 * retry on another endpoint) from failures after the request went out. */
typedef enum dcs_http_failure {
    DCS_HTTP_OK = 0,
    DCS_HTTP_TIMEOUT,
    DCS_HTTP_STALL,             /* under min_speed for stall_seconds */
    DCS_HTTP_DNS,
    DCS_HTTP_CONNECT,
    DCS_HTTP_TLS,
    DCS_HTTP_SEND,
    DCS_HTTP_RECV,
    DCS_HTTP_BAD_RESPONSE,      /* malformed header block */
    DCS_HTTP_TOO_LARGE,
    DCS_HTTP_WRITE,             /* the body file refused bytes: res->file_error */
    DCS_HTTP_ABORTED,           /* on_head refused or on_progress asked to stop */
    DCS_HTTP_BAD_REQUEST,       /* bad URL or option */
    DCS_HTTP_CANCELLED,         /* dcs_transfer_cancel (dcs_engine.h) */
    DCS_HTTP_CLOSED,            /* the engine closed with the transfer in flight */
    DCS_HTTP_PROXY,             /* the proxy refused the CONNECT tunnel */
    DCS_HTTP_OTHER
} dcs_http_failure;

typedef struct dcs_http_response {
    long status;                /* of the final response; 0 until its head is complete */
    int head_done;              /* headers holds the final response's whole block */
    dcs_http_body_to body_to;
    dcs_buf headers;            /* raw header block of the final response */
    dcs_buf body;               /* empty when the body went to the file */
    long long streamed;         /* body bytes written to the file by this request */
    long long reported;         /* streamed at the last on_progress call */
    int file_error;             /* dcs_file code when failure == DCS_HTTP_WRITE */
    long new_connections;       /* 0 when an existing connection was reused */
    double total_seconds;
    dcs_http_failure failure;
    char message[320];          /* set when failure != DCS_HTTP_OK */
} dcs_http_response;

/* libcurl's global initialisation, once per process whatever the number
 * of threads and Lua states (under a mutex); 0 when it failed.  Every
 * thread calls it before its first libcurl call (luaopen_dcs_core does). */
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
/* libcurl's version, read once by dcs_http_global_init. */
DCS_INTERNAL const char *dcs_http_curl_version(void);

#endif
