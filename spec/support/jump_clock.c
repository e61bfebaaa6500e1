/* LD_PRELOAD shim for spec/ngx_transport_spec.lua: the wall clock jumps.
 * gettimeofday, time and clock_gettime(CLOCK_REALTIME*) are moved by the
 * number of seconds written in the file JUMP_CLOCK_FILE names (0 while it
 * does not exist), read at every call, so a test moves a running nginx's
 * wall clock by writing the file; the monotonic clock is left alone, as a
 * real jump (NTP, a suspended VM, date -s) leaves it.  JUMP_CLOCK_FILE is
 * read when the library is loaded: nginx clears its workers' environment. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static char jump_file[4096];

__attribute__((constructor)) static void load(void)
{
    const char *f = getenv("JUMP_CLOCK_FILE");
    if (f != NULL && strlen(f) < sizeof jump_file)
        strcpy(jump_file, f);
}

static long offset(void)
{
    long s = 0;
    FILE *f = jump_file[0] ? fopen(jump_file, "r") : NULL;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld", &s) != 1)
        s = 0;
    fclose(f);
    return s;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    int rc;
    if (real == NULL)
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    rc = real(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += offset();
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz)
{
    struct timespec ts;
    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (t != NULL)
        *t = ts.tv_sec;
    return ts.tv_sec;
}
