/* SDK-HMAC-SHA256 request signing, as the Huawei Cloud API gateway checks it
 * (docs/api.md, "Signing").  Pure C: no Lua types, no I/O, no
 * clock, so it can be unit-tested and fuzzed on its own. */
#ifndef DCS_SIGN_H
#define DCS_SIGN_H

#include <stddef.h>
#include <time.h>

#include "dcs_buf.h"

typedef struct dcs_pair {
    dcs_str key;
    dcs_str value;
} dcs_pair;

typedef struct dcs_sign_request {
    dcs_str method;
    dcs_str path;               /* as it goes on the wire, e.g. "/v2/p/instances" */
    const dcs_pair *query;      /* raw, unencoded; any order; may repeat keys */
    size_t query_count;
    const dcs_pair *headers;    /* must contain Host and X-Sdk-Date (any case) */
    size_t header_count;
    dcs_str body;
    const char *body_hash;      /* sha256(body) in hex (64 bytes) if known, else NULL */
    dcs_str ak;
    dcs_str sk;
} dcs_sign_request;

typedef struct dcs_sign_result {
    dcs_buf canonical_query;    /* also the query string to send */
    dcs_buf canonical_request;
    dcs_buf signed_headers;
    dcs_buf authorization;
} dcs_sign_result;

/* Limits of one request.  Real requests are far below them; above, the
 * request is refused before any work that grows with it.  Host and
 * X-Sdk-Date count as headers; a pair is one key=value of the query. */
#define DCS_SIGN_MAX_HEADERS 256
#define DCS_SIGN_MAX_QUERY 1024
#define DCS_SIGN_MAX_AK 128         /* bytes */

enum {
    DCS_SIGN_OK = 0,
    DCS_SIGN_ENOMEM,
    DCS_SIGN_ENODATE,           /* no X-Sdk-Date header */
    DCS_SIGN_ENOHOST,           /* no Host header */
    DCS_SIGN_EDUPHEADER,        /* two headers with the same name */
    DCS_SIGN_EBADHEADER,        /* name not an HTTP token, or CR/LF/NUL in a value */
    DCS_SIGN_EBADMETHOD,        /* method not an HTTP token */
    DCS_SIGN_ECRYPTO,
    DCS_SIGN_EBADAK,            /* AK not an HTTP token of 1..DCS_SIGN_MAX_AK bytes */
    DCS_SIGN_ETOOMANY,          /* more than DCS_SIGN_MAX_HEADERS headers */
    DCS_SIGN_ETOOMANYQUERY      /* more than DCS_SIGN_MAX_QUERY query pairs */
};

/* What depends only on the SK: HMAC-SHA256's inner and outer hash states
 * after the key block, computed once and cloned for each signature, so a
 * signature costs no key set-up and no allocation.  SK-derived material:
 * dcs_sign_key_free zeroes it.  Not for two threads at once (it keeps a
 * working hash state). */
typedef struct dcs_sign_key dcs_sign_key;

/* NULL when out of memory (or mbedTLS fails). */
DCS_INTERNAL dcs_sign_key *dcs_sign_key_new(const void *sk, size_t len);
DCS_INTERNAL void dcs_sign_key_free(dcs_sign_key *key);     /* zeroes; NULL is fine */
/* Whether key was made from this SK (a NULL key matches nothing). */
DCS_INTERNAL int dcs_sign_key_matches(const dcs_sign_key *key, const void *sk, size_t len);
/* HMAC-SHA256(SK, "SDK-HMAC-SHA256\n" date "\n" hash) in hex; 0 if mbedTLS fails. */
DCS_INTERNAL int dcs_sign_key_signature(dcs_sign_key *key, dcs_str date, const char hash[64],
                                        char out[65]);

/* What dcs_sign_with_key writes, all inside its one buffer. */
typedef struct dcs_sign_out {
    dcs_str canonical_request;
    dcs_str canonical_query;    /* also the query string to send */
    dcs_str signed_headers;
    dcs_str authorization;
} dcs_sign_out;

/* dcs_sign with a key made beforehand (req->sk is not read): the canonical
 * request, then the Authorization value, are written into buf (emptied
 * first, its memory kept: a buffer reused from call to call makes signing
 * allocation-free), and out points into buf until it changes.  The same
 * checks, in the same order, and the same errors as dcs_sign. */
DCS_INTERNAL int dcs_sign_with_key(dcs_sign_key *key, const dcs_sign_request *req, dcs_buf *buf,
                                   dcs_sign_out *out, size_t *bad_header);

DCS_INTERNAL void dcs_sign_result_init(dcs_sign_result *r);
DCS_INTERNAL void dcs_sign_result_free(dcs_sign_result *r);
/* Fills r; on error r holds nothing useful and the index of the offending
 * header (if any) is stored in *bad_header when bad_header is not NULL.
 * The checks come in this order: method, AK, header count, query count,
 * then the headers in the given order (the first one that is invalid or
 * repeats an earlier name decides), then X-Sdk-Date, then Host. */
DCS_INTERNAL int dcs_sign(const dcs_sign_request *req, dcs_sign_result *r, size_t *bad_header);
DCS_INTERNAL const char *dcs_sign_strerror(int code);

/* Helpers the bindings use too. */
DCS_INTERNAL void dcs_percent_encode(dcs_buf *out, const char *s, size_t n, int keep_slash);
DCS_INTERNAL void dcs_percent_decode(dcs_buf *out, const char *s, size_t n);
/* Splits "scheme://authority/path"; path may be empty.  Returns 0 when the
 * URL has no "://", an empty authority, or a '?', '#' or whitespace. */
DCS_INTERNAL int dcs_url_split(dcs_str url, dcs_str *scheme, dcs_str *authority, dcs_str *path);
/* "YYYYMMDDTHHMMSSZ"; returns 0 (and "") for times outside years 0-9999. */
DCS_INTERNAL int dcs_sdk_date(time_t t, char out[17]);
DCS_INTERNAL int dcs_sha256_hex(const void *p, size_t n, char out[65]);
DCS_INTERNAL int dcs_hmac_sha256_hex(const void *key, size_t klen, const void *msg, size_t mlen,
                                     char out[65]);

#endif
