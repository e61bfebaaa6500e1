/* One transfer of the multi engine, shared by dcs_engine.c (its life on
 * the engine) and dcs_transfer.c (libcurl's callbacks for it and how it
 * ended).  Internal: hosts and bindings see only dcs_engine.h. */
#ifndef DCS_TRANSFER_H
#define DCS_TRANSFER_H

#include <curl/curl.h>

#include "dcs_engine.h"

/* Bodies that may stream into a file: libcurl receives up to RECV_BUFFER
 * bytes at a time (its default is 16 KiB), and since it hands them over in
 * pieces of at most 16 KiB (CURL_MAX_WRITE_SIZE), they are gathered into
 * WRITE_BUFFER bytes for each write to the file: one pwrite and one hand-over
 * to the hashing helpers per 256 KiB instead of per 16 KiB. */
#define RECV_BUFFER (512L * 1024)
#define WRITE_BUFFER ((size_t)256 * 1024)

enum { T_QUEUED, T_RUNNING, T_DONE };

typedef struct dcs_easy_key dcs_easy_key;

struct dcs_transfer {
    dcs_engine *engine;         /* while attached: holding an easy handle */
    dcs_transfer *prev, *next;  /* the engine's attached transfers */
    dcs_transfer *next_done;    /* the engine's done notices */
    dcs_transfer *qprev, *qnext;  /* the engine's queue of transfers not yet in the multi */
    int in_queue;
    int shares;                 /* may multiplex on a shared connection: never held */
    long long started_us;       /* when it started (monotonic): total timeouts run from here */
    long total_ms;              /* its total timeout; 0 = none */
    int refs;                   /* owner + attached + done notice */
    int state;
    int in_multi;
    int finishing;              /* finish() is on the stack */
    dcs_http_failure ended_by;  /* DCS_HTTP_CANCELLED or _CLOSED, else OK */
    CURL *easy;
    dcs_easy_key *key;          /* the options easy was set up with; NULL: unknown */
    int attempts;               /* requests libcurl began for it: more than one is a retry */
    struct curl_slist *headers;
    dcs_http_request req;       /* the strings cleared: libcurl holds copies */
    dcs_http_response res;
    size_t max_body;
    int too_large;
    int bad_head;               /* malformed or oversized header block */
    const char *bad_why;        /* what was wrong with it, for the message */
    int interim;                /* 1xx answers so far */
    int lines;                  /* lines of the head being received, then trailer fields */
    size_t trailer_bytes;       /* of the trailers after a chunked body */
    int aborted;                /* on_head refused or on_progress said stop */
    int async;                  /* this transfer moved req.file's hashing to its helpers */
    unsigned char *wbuf;        /* NULL: each piece goes to the file as it comes */
    size_t pending;             /* bytes in wbuf, not yet in the file */
    char errbuf[CURL_ERROR_SIZE];
};

/* Sets up t's easy handle (fresh from curl_easy_init, or parked with its
 * key in t->key) for req with c's options, its header list and timeout with
 * it; multiplex: the engine's. */
DCS_INTERNAL CURLcode dcs_transfer_setup(dcs_transfer *t, const dcs_http_config *c,
                                         const dcs_http_request *req, int multiplex);
/* Readies t's easy handle, done, to wait idle for its next transfer, with
 * t->key (NULL when its options cannot be kept); 0 when it cannot be
 * reused at all. */
DCS_INTERNAL int dcs_transfer_park(dcs_transfer *t);
/* The gathered bytes to the file; 0 when the write failed. */
DCS_INTERNAL int dcs_transfer_flush(dcs_transfer *t);
/* Tells the progress callback; 0 when the transfer must stop. */
DCS_INTERNAL int dcs_transfer_report_progress(dcs_transfer *t);
/* t->res.failure and message from our flags, then libcurl's code rc;
 * sent: whether the request went out. */
DCS_INTERNAL void dcs_transfer_conclude(dcs_transfer *t, CURLcode rc, int sent);

#endif
