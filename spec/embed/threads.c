/* Several OS threads, each with its own lua_State, using lua-dcs at the
 * same time through libdcs (make embed-tests; spec/embed_spec.lua runs it,
 * and tools/check again under ThreadSanitizer and helgrind).
 *
 *   threads SCRIPT THREADS CALLS
 *
 * Every thread waits at a barrier, then makes its state, calls
 * dcs_preload and runs SCRIPT (spec/embed/threads.lua) with its index and
 * CALLS: its first require "dcs" runs at the same moment as the others'
 * (libcurl's one global initialisation), then CALLS requests against the
 * emulator.  Prints "threads T, calls C, ok N, failed F" and the first
 * failure of each thread that had one; exits 0 when every call succeeded. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <dcs.h>

#define MAX_THREADS 64

typedef struct worker {
    pthread_t thread;
    int index;
    long ok, calls;
    char failure[256];
} worker;

static const char *script;
static pthread_barrier_t start;

static void fail(worker *w, const char *what, lua_State *L)
{
    const char *msg = L != NULL ? lua_tostring(L, -1) : NULL;
    snprintf(w->failure, sizeof w->failure, "%s: %s", what, msg ? msg : "(no message)");
}

/* Runs the script in L: its results are the number of calls that
 * succeeded and the first failure (or nil). */
static void run(worker *w, lua_State *L)
{
    if (luaL_loadfile(L, script) != 0) {
        fail(w, "load", L);
        return;
    }
    lua_pushinteger(L, w->index);
    lua_pushinteger(L, (lua_Integer)w->calls);
    if (lua_pcall(L, 2, 2, 0) != 0) {
        fail(w, "run", L);
        return;
    }
    w->ok = (long)lua_tointeger(L, -2);
    if (lua_isstring(L, -1))
        fail(w, "call", L);
}

static void *thread_main(void *arg)
{
    worker *w = arg;
    lua_State *L;

    pthread_barrier_wait(&start);
    L = luaL_newstate();
    if (L == NULL) {
        fail(w, "luaL_newstate", NULL);
        return NULL;
    }
    luaL_openlibs(L);
    if (dcs_preload(L) != 0)
        fail(w, "dcs_preload", L);
    else
        run(w, L);
    lua_close(L);
    return NULL;
}

int main(int argc, char **argv)
{
    static worker workers[MAX_THREADS];
    int n, i, failed_threads = 0;
    long calls, ok = 0;

    if (argc != 4 || (n = atoi(argv[2])) < 1 || n > MAX_THREADS || (calls = atol(argv[3])) < 1) {
        fprintf(stderr, "usage: threads SCRIPT THREADS(1-%d) CALLS\n", MAX_THREADS);
        return 2;
    }
    script = argv[1];
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (i = 0; i < n; i++) {
        workers[i].index = i + 1;
        workers[i].calls = calls;
        if (pthread_create(&workers[i].thread, NULL, thread_main, &workers[i]) != 0) {
            fprintf(stderr, "threads: pthread_create failed\n");
            return 1;
        }
    }
    for (i = 0; i < n; i++) {
        pthread_join(workers[i].thread, NULL);
        ok += workers[i].ok;
        if (workers[i].failure[0] != '\0') {
            failed_threads++;
            printf("thread %d: %s\n", i + 1, workers[i].failure);
        }
    }
    pthread_barrier_destroy(&start);
    printf("threads %d, calls %ld, ok %ld, failed %ld\n", n, n * calls, ok, n * calls - ok);
    return ok == n * calls && failed_threads == 0 ? 0 : 1;
}
