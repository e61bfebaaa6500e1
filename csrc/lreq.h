/* The Lua side of one request, shared by handle:request (lhttp.c) and
 * engine:start (lengine.c): the request table read into C, the sink's
 * callbacks, and the result table.
 *
 * Every Lua value a request needs while it runs lives in its anchor table,
 * which only the request's owner references (the call's stack slot, the
 * transfer's user value): the strings whose pointers C holds, the sink's
 * file and functions, the response's headers table, its results'
 * metatable, a callback's error.
 * The anchor is made with an array part that holds every slot, so storing
 * into a slot (nil or not: an array slot exists either way, in every Lua
 * version) never allocates: nothing raises and no finalizer runs while
 * libcurl is on the stack, outside the callbacks' own lua_pcall. */
#ifndef DCS_LREQ_H
#define DCS_LREQ_H

#include <lua.h>

#include "dcs_http.h"
#include "lcore.h"

enum {
    DCS_A_METHOD = 1, DCS_A_URL, DCS_A_BODY,    /* strings (or nil) whose pointers C keeps */
    DCS_A_RESULT_MT,            /* its results' metatable, once made (lreq.c) */
    DCS_A_LINES,                /* userdata: const char *[], then the header lines */
    DCS_A_FILE, DCS_A_HEAD, DCS_A_PROGRESS,
    DCS_A_HEADERS,              /* the response's headers table, once built */
    DCS_A_MESSAGE,              /* sink.head's refusal message */
    DCS_A_ERROR,                /* a callback's error object */
    DCS_A_HEAD_STEP,            /* lreq.c's head_step: on 5.1 and LuaJIT, pushing a C
                                 * function allocates, so it is made beforehand */
    DCS_A_OWNER,                /* for the owner's use (lengine.c: the engine) */
    DCS_A_RESPONSE,             /* the owner's too (lengine.c: the transfer's response) */
    DCS_A_COUNT = DCS_A_RESPONSE
};

typedef struct dcs_lreq dcs_lreq;

#define DCS_LREQ_MAX_HEADERS 1000   /* in a request, and lines a response's table is made for */

/* Why the transfer stopped on our side (the C layer only sees "aborted"). */
enum { STOP_NONE, STOP_REFUSED, STOP_HEAD_ERROR, STOP_CANCELLED, STOP_PROGRESS_ERROR };

/* How a running request's callbacks reach Lua: the thread running the C
 * function that drives the transfer (handle:request, engine:step), set
 * only while it runs, and an index in that function's frame from which
 * push_anchor pushes the request's anchor table, without allocating (nil
 * when it cannot find it). */
typedef struct dcs_lhost {
    lua_State *L;
    int frame;
    void (*push_anchor)(lua_State *L, int frame, dcs_lreq *c);
} dcs_lhost;

struct dcs_lreq {
    dcs_http_request req;       /* its strings point into the anchor */
    dcs_lhost *host;            /* set by the owner */
    int stop;                   /* why it stopped on our side (lreq.c) */
    int has_head;               /* the sink has a head function */
    dcs_http_body_to body_to;   /* sink.head's answer */
    long status;                /* the head being handled, during on_head only */
    const char *block;
    size_t block_len;
};

/* Pushes a new anchor table. */
DCS_INTERNAL void dcs_lreq_anchor(lua_State *L);
/* The network options of a table at index t (core.http's): the strings are
 * pushed and must stay on the stack until cfg has been used. */
DCS_INTERNAL void dcs_lreq_config(lua_State *L, int t, dcs_http_config *cfg, const char *who);
/* Reads the request table at index req into the anchor at index anchor and
 * c->req, sink callbacks included (ud = c).  Raises on a caller's mistake. */
DCS_INTERNAL void dcs_lreq_read(lua_State *L, int req, int anchor, dcs_lreq *c, const char *who);
/* Pushes what handle:request returns for a finished request:
 * res | nil, failure.  A response's headers table is built when
 * res.headers is first read, unless sink.head had it built already. */
DCS_INTERNAL int dcs_lreq_result(lua_State *L, const dcs_lreq *c, const dcs_http_response *res,
                                 int anchor);
/* Pushes nil, { kind, reason, message }. */
/* Pushes the headers table of a response head's block (lresult.c). */
DCS_INTERNAL void dcs_lreq_push_headers(lua_State *L, const char *block, size_t len);

DCS_INTERNAL int dcs_lreq_failure(lua_State *L, const char *kind, const char *reason,
                                  const char *message);

#endif
