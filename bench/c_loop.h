/* What the C loops of bench/throughput.lua (curl_loop.c, engine_loop.c)
 * share: the headers of the link call the SDK sends (the Authorization and
 * X-Sdk-Date fixed: the server accepts any signature), and their clocks. */
#ifndef C_LOOP_H
#define C_LOOP_H

#include <time.h>

#include <sys/resource.h>

static const char *const LINK_HEADERS[] = {
    "Content-Type: application/json",
    "X-Project-Id: 0123456789abcdef0123456789abcdef",
    "X-Sdk-Date: 20240101T000000Z",
    "Authorization: SDK-HMAC-SHA256 Access=BENCHAK0000000000000, SignedHeaders=content-type;"
    "host;x-project-id;x-sdk-date, Signature=00000000000000000000000000000000000000000000000000"
    "00000000000000",
    "Accept: application/json",
};
#define LINK_HEADER_COUNT (sizeof LINK_HEADERS / sizeof LINK_HEADERS[0])

/* Monotonic seconds. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's CPU seconds so far, user and system. */
static double cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

#endif
