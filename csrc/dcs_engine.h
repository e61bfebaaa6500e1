/* The multi engine: many HTTP transfers in flight in one thread over one
 * libcurl multi handle, with one connection cache, caps on total and
 * per-host connections, and HTTP/2 multiplexing when the server offers it.
 * Pure C: no Lua types.  The blocking transport (dcs_http_perform) runs its
 * transfers on an engine of its own; the binding (lengine.c) exposes one.
 *
 * Transfers make progress only inside dcs_engine_step, which does what is
 * ready and, given a timeout, waits at most that long for more.  A host
 * with its own loop puts dcs_engine_fds in its poll set and wakes up after
 * dcs_engine_timeout; the engine tracks both through libcurl's socket and
 * timer callbacks (curl_multi_socket_action), so it never blocks when asked
 * not to.
 *
 * Transfers join the multi in the order they started.  One that needs a
 * connection of its own (anything but HTTP/2 over TLS with multiplex on)
 * waits in the engine's queue while as many of those as max_connections are
 * in the multi: libcurl would hold it too, at a cost in every step that
 * grows with the number it holds.  A transfer's total timeout runs from its
 * start, waiting included: it joins with what is left, and fails with
 * DCS_HTTP_TIMEOUT when none is, whether or not a connection came free.
 *
 * Each transfer carries its own options (a dcs_http_config: timeouts, TLS,
 * proxy, user agent, body limit), set on its own easy handle, so callers
 * with different options share one engine; libcurl only reuses a
 * connection whose TLS and proxy settings match.  Everything a request
 * points to is copied when it starts (libcurl copies the strings, the
 * engine the body), except req->file and req->ud, which must stay valid
 * until the transfer is done.  Sinks behave exactly as in dcs_http.h.
 *
 * Lifetime.  A transfer is owned by its starter until dcs_transfer_release,
 * and by the engine while it holds a libcurl handle and until its done
 * notice is taken; it is freed when both let go.  A done transfer never
 * touches its engine again, so it may outlive it.  While a step runs,
 * libcurl is on the stack: a callback may cancel any transfer, start new
 * ones, or close the engine, and the engine defers the libcurl calls that
 * cannot run there (removing handles, cleaning up the multi handle) to the
 * end of the step.  The request's callbacks (on_head, on_progress) run only
 * inside a step, and never for a transfer once it is done.
 *
 * One engine is used by one thread at a time; different engines in
 * different threads are independent (dcs_http_global_init runs once). */
#ifndef DCS_ENGINE_H
#define DCS_ENGINE_H

#include <stddef.h>

#include "dcs_http.h"

typedef struct dcs_engine dcs_engine;
typedef struct dcs_transfer dcs_transfer;

typedef struct dcs_engine_config {
    long max_connections;       /* open connections in all; 0 = no cap */
    long max_host_connections;  /* to one host; 0 = no cap */
    int multiplex;              /* 1: HTTP/2 streams share a connection, and new
                                 * transfers wait for one (CURLOPT_PIPEWAIT) */
} dcs_engine_config;

/* A descriptor the engine waits on: DCS_ENGINE_READ and/or DCS_ENGINE_WRITE. */
enum { DCS_ENGINE_READ = 1, DCS_ENGINE_WRITE = 2 };
typedef struct dcs_engine_fd {
    int fd;
    int events;
} dcs_engine_fd;

/* NULL when out of memory. */
DCS_INTERNAL dcs_engine *dcs_engine_new(const dcs_engine_config *cfg);
/* Starts a request with the options of cfg; it runs in the following steps.
 * NULL only when out of memory; a transfer that cannot run (a bad option,
 * a closed engine) comes back already done, with its failure. */
DCS_INTERNAL dcs_transfer *dcs_engine_start(dcs_engine *e, const dcs_http_config *cfg,
                                            const dcs_http_request *req);
/* Does what is ready; when no transfer finished and timeout_ms > 0, waits
 * for the engine's descriptors or timer at most timeout_ms, then does what
 * became ready.  With budget_us >= 0 it stops starting queued transfers,
 * then handing ready descriptors to libcurl, once that many microseconds
 * have gone (after one of each at least); the rest are done by the next
 * step (a host loop's tick stays short).
 * Returns at once when nothing is in flight.  Returns how many transfers
 * finished during the call, -1 when called from inside one of the engine's
 * own callbacks. */
DCS_INTERNAL int dcs_engine_step(dcs_engine *e, long timeout_ms, long budget_us);
/* Writes up to max descriptors; returns how many the engine waits on. */
DCS_INTERNAL size_t dcs_engine_fds(const dcs_engine *e, dcs_engine_fd *out, size_t max);
/* Milliseconds until the engine wants a step whatever its descriptors say
 * (0: now, for a queued transfer that may start), or -1 when it has no
 * timer and no queued transfer with a timeout. */
DCS_INTERNAL long dcs_engine_timeout(const dcs_engine *e);
DCS_INTERNAL size_t dcs_engine_running(const dcs_engine *e);       /* transfers not done */
/* Takes the next done notice: each transfer gets one when it ends, in the
 * order they ended; *ud is its request's ud (never dereferenced here).
 * 0 when none is left. */
DCS_INTERNAL int dcs_engine_take_done(dcs_engine *e, void **ud);
/* Ends every transfer in flight (DCS_HTTP_CLOSED); later starts come back
 * done with it.  Idempotent; from a callback, libcurl's part waits for the
 * end of the step. */
DCS_INTERNAL void dcs_engine_close(dcs_engine *e);
/* Closes and frees; 0 (and nothing done) when called during a step. */
DCS_INTERNAL int dcs_engine_free(dcs_engine *e);

DCS_INTERNAL int dcs_transfer_done(const dcs_transfer *t);
/* Complete once the transfer is done (failure, message, status, body...). */
DCS_INTERNAL dcs_http_response *dcs_transfer_response(dcs_transfer *t);
/* Ends it now with DCS_HTTP_CANCELLED: the bytes received so far are in the
 * file, its digests complete.  A no-op when done. */
DCS_INTERNAL void dcs_transfer_cancel(dcs_transfer *t);
/* The owner lets go (cancelling first when still running).  Not from
 * inside the transfer's own callbacks. */
DCS_INTERNAL void dcs_transfer_release(dcs_transfer *t);

#endif
