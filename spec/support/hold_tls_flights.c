/* LD_PRELOAD shim for nginx in spec/nginx_spec.lua: forces the TLS
 * interleaving where each of the server's flights is already buffered when
 * OpenSSL next reads, so that a client handshake completes within its first
 * SSL_do_handshake() call, never waiting for the network.  On loopback that
 * happens only when the server answers between two syscalls of the nginx
 * worker (typically: both on one CPU, the server thread woken by the write
 * preempts the worker until it has answered); here, a write() of TLS
 * handshake records to a socket returns only once the peer's answer is
 * readable.
 *
 * Each server flight must arrive in one piece: OpenSSL servers (Python's
 * ssl among them) buffer a flight and write it with one write(), which
 * loopback delivers at once.
 *
 * HOLD_TLS_FLIGHTS_LOG names a file that gets one line per write held:
 * "ready <bytes readable>", or "not ready" when nothing came in 10 s.  It
 * is read when the library is loaded: nginx clears its workers'
 * environment. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);

static char log_path[4096];

__attribute__((constructor)) static void init(void)
{
    const char *p = getenv("HOLD_TLS_FLIGHTS_LOG");
    if (p && strlen(p) < sizeof log_path) strcpy(log_path, p);
}

/* A TLS record of type handshake (22), version 3.x, to a socket. */
static int is_handshake(int fd, const unsigned char *b, size_t n)
{
    struct stat st;
    return n > 5 && b[0] == 22 && b[1] == 3 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void hold(int fd)
{
    int saved_errno = errno, pending = 0;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int ready = poll(&p, 1, 10000) == 1;
    if (ready) ioctl(fd, FIONREAD, &pending);
    if (log_path[0]) {
        char line[64];
        int len = ready ? snprintf(line, sizeof line, "ready %d\n", pending)
                        : snprintf(line, sizeof line, "not ready\n");
        int log = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (log >= 0) {
            write_fn real_write = (write_fn)dlsym(RTLD_NEXT, "write");
            (void)real_write(log, line, (size_t)len);
            close(log);
        }
    }
    errno = saved_errno;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static write_fn real;
    if (!real) real = (write_fn)dlsym(RTLD_NEXT, "write");
    ssize_t r = real(fd, buf, n);
    if (r == (ssize_t)n && is_handshake(fd, buf, n)) hold(fd);
    return r;
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    static send_fn real;
    if (!real) real = (send_fn)dlsym(RTLD_NEXT, "send");
    ssize_t r = real(fd, buf, n, flags);
    if (r == (ssize_t)n && is_handshake(fd, buf, n)) hold(fd);
    return r;
}
