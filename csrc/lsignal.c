/* Interrupts for a command-line host (bin/dcs-logs): catch_interrupt()
 * installs a SIGINT/SIGTERM handler that only records the signal, and
 * interrupted() reads it, so the command can stop at its next checkpoint
 * (a progress callback, a sleep, the engine loop) and exit on its own terms.
 * The library never calls these: it also runs inside nginx and C hosts,
 * whose signals are theirs.
 *
 * Process-wide by nature: a signal handler is the process's, so one
 * catch_interrupt() in any Lua state makes interrupted() true in every
 * state of the process once a signal came.  caught_signal is read and
 * written with lock-free atomics (safe in a handler, and between the
 * thread the signal lands on and the threads whose loops read it). */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "compat.h"
#include "lcore.h"

/* 0, or the number of the first SIGINT/SIGTERM received. */
static sig_atomic_t caught_signal = 0;

/* The first signal is recorded; a second one, while the command has not
 * stopped yet (a request that does not return), gets the default action:
 * pressing Ctrl-C twice always ends the process. */
static void on_signal(int signo)
{
    if (__atomic_load_n(&caught_signal, __ATOMIC_RELAXED) != 0) {
        signal(signo, SIG_DFL);
        raise(signo);
        return;
    }
    __atomic_store_n(&caught_signal, signo, __ATOMIC_RELAXED);
}

/* Installs on_signal for signo unless signo is ignored (a background job,
 * nohup): 0, or errno. */
static int catch_signal(int signo)
{
    struct sigaction sa, old;

    if (sigaction(signo, NULL, &old) != 0)
        return errno;
    if (old.sa_handler == SIG_IGN)
        return 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;          /* writes and reads go on; sleeps and polls wake */
    return sigaction(signo, &sa, NULL) != 0 ? errno : 0;
}

/* catch_interrupt() -> true | nil, message */
static int l_catch_interrupt(lua_State *L)
{
    int err = catch_signal(SIGINT);
    if (err == 0)
        err = catch_signal(SIGTERM);
    if (err != 0) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(err));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* interrupted() -> false | true, signal number */
static int l_interrupted(lua_State *L)
{
    int signo = __atomic_load_n(&caught_signal, __ATOMIC_RELAXED);
    lua_pushboolean(L, signo != 0);
    if (signo == 0)
        return 1;
    lua_pushinteger(L, signo);
    return 2;
}

static const luaL_Reg signal_functions[] = {
    {"catch_interrupt", l_catch_interrupt},
    {"interrupted", l_interrupted},
    {NULL, NULL},
};

void dcs_open_signal(lua_State *L)
{
    dcs_setfuncs(L, signal_functions, 0);
}
