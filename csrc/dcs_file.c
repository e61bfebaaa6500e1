/* The download file writer (dcs_file.h).  Offsets are explicit (pread,
 * pwrite): nothing depends on where the descriptor's own offset stands.
 *
 * Async hashing: one helper thread per digest kept, all reading one ring
 * that only the owner's thread writes.  `pushed` counts the bytes copied in,
 * each helper's `done` the bytes it has hashed; the ring holds the bytes
 * between the slowest helper and `pushed`.  Counters, flags and the
 * conditions are under one mutex; ring bytes are copied and hashed outside
 * it, in regions the counters hand over (the writer fills [pushed, slowest
 * + cap), a helper reads [done, pushed)), so every byte is written before
 * the unlock that publishes it and read after the lock that sees it. */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/base64.h>

#include "dcs_file.h"

/* libmbedcrypto is not built with ThreadSanitizer, so it cannot see the
 * digests read ring bytes or change their contexts: say so where they do
 * (nothing in other builds). */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DCS_TSAN 1
#endif
#endif
#if !defined(DCS_TSAN) && defined(__SANITIZE_THREAD__)
#define DCS_TSAN 1
#endif
#ifdef DCS_TSAN
void __tsan_read_range(void *addr, long size);
void __tsan_write_range(void *addr, long size);
#define SEEN_READ(p, n) __tsan_read_range((void *)(p), (long)(n))
#define SEEN_WRITE(p, n) __tsan_write_range((void *)(p), (long)(n))
#else
#define SEEN_READ(p, n) ((void)0)
#define SEEN_WRITE(p, n) ((void)0)
#endif

#define CHUNK 65536             /* reads that prime the digests */
#define SLICE ((size_t)256 << 10)   /* most a helper hashes between two looks at the counters */
#define WAKE ((size_t)1 << 20)      /* bytes queued for an idle helper before a write wakes it */
#define NDIGESTS 2

static const mbedtls_md_type_t digest_type[NDIGESTS] = {MBEDTLS_MD_SHA256, MBEDTLS_MD_MD5};

typedef struct helper {
    dcs_file_async *a;
    dcs_file_digest *md;        /* the digest this helper owns while it runs */
    unsigned long long done;    /* bytes of the stream hashed (mu) */
    int idle;                   /* waiting on `more` (mu) */
    pthread_t thread;
} helper;

struct dcs_file_async {
    pthread_mutex_t mu;
    pthread_cond_t more;        /* helpers wait here for bytes or stop */
    pthread_cond_t room;        /* the owner waits here for a helper to move on */
    unsigned char *ring;
    size_t cap;
    unsigned long long pushed;  /* bytes copied into the ring (mu) */
    size_t wake;                /* WAKE, or less for a small ring */
    int waiting;                /* the owner waits on `room` (mu) */
    int stop;                   /* (mu) */
    int error;                  /* a digest update failed: EIO (mu) */
    int count;                  /* helpers started */
    helper h[NDIGESTS];
};

/* ---- one digest: the SHA extensions or mbedTLS (dcs_file_digest) ---- */

static void digest_init(dcs_file_digest *d)
{
    d->hw = 0;
    mbedtls_md_init(&d->md);
}

static void digest_free(dcs_file_digest *d)
{
    mbedtls_md_free(&d->md);
    digest_init(d);
}

/* Digest i (digest_type) ready to start. */
static int digest_setup(dcs_file_digest *d, int i)
{
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(digest_type[i]);
    if (digest_type[i] == MBEDTLS_MD_SHA256 && dcs_sha256_hw()) {
        d->hw = 1;
        return 0;
    }
    if (info == NULL)
        return ENOSYS;
    return mbedtls_md_setup(&d->md, info, 0) == 0 ? 0 : ENOMEM;
}

static int digest_starts(dcs_file_digest *d)
{
    if (d->hw) {
        dcs_sha256_start(&d->sha);
        return 0;
    }
    return mbedtls_md_starts(&d->md) == 0 ? 0 : EIO;
}

static int digest_update(dcs_file_digest *d, const unsigned char *p, size_t n)
{
    if (d->hw) {
        dcs_sha256_update(&d->sha, p, n);
        return 0;
    }
    return mbedtls_md_update(&d->md, p, n) == 0 ? 0 : EIO;
}

/* The digest (of digest_type[i]) of the bytes so far into out, from a
 * copy: d goes on. */
static int digest_peek(const dcs_file_digest *d, int i, unsigned char *out)
{
    mbedtls_md_context_t copy;
    int rc;

    if (d->hw) {
        dcs_sha256 s = d->sha;
        dcs_sha256_finish(&s, out);
        return 0;
    }
    mbedtls_md_init(&copy);
    rc = mbedtls_md_setup(&copy, mbedtls_md_info_from_type(digest_type[i]), 0) == 0 &&
                 mbedtls_md_clone(&copy, &d->md) == 0 && mbedtls_md_finish(&copy, out) == 0
             ? 0
             : EIO;
    mbedtls_md_free(&copy);
    return rc;
}

void dcs_file_init(dcs_file *f)
{
    int i;
    f->fd = -1;
    f->size = 0;
    f->error = 0;
    f->hashing = 0;
    f->async = NULL;
    for (i = 0; i < NDIGESTS; i++)
        digest_init(&f->md[i]);
}

static int kept(const dcs_file *f, int i)
{
    return (f->hashing & (1 << i)) != 0;
}

/* Inline hashing: every digest kept takes the bytes. */
static int hash_update(dcs_file *f, const unsigned char *p, size_t n)
{
    int i;
    for (i = 0; i < NDIGESTS; i++) {
        if (!kept(f, i))
            continue;
        SEEN_WRITE(&f->md[i], sizeof f->md[i]);
        if (digest_update(&f->md[i], p, n) != 0)
            return EIO;
    }
    return 0;
}

/* Starts the digests over from the first `limit` bytes of the file (all of
 * it when limit < 0) and sets f->size to the bytes read.  Never while the
 * helpers run (callers settle them first). */
static int hash_prime(dcs_file *f, long long limit)
{
    unsigned char *buf = malloc(CHUNK);
    long long done = 0;
    int i, rc = 0;

    if (buf == NULL)
        return ENOMEM;
    for (i = 0; i < NDIGESTS; i++) {
        if (!kept(f, i))
            continue;
        SEEN_WRITE(&f->md[i], sizeof f->md[i]);
        rc = rc != 0 ? rc : digest_starts(&f->md[i]);
    }
    while (rc == 0 && (limit < 0 || done < limit)) {
        size_t want = CHUNK;
        ssize_t r;
        if (limit >= 0 && (unsigned long long)(limit - done) < want)
            want = (size_t)(limit - done);
        r = pread(f->fd, buf, want, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? errno : 0;
            break;
        }
        rc = hash_update(f, buf, (size_t)r);
        done += r;
    }
    free(buf);
    if (rc == 0 && limit >= 0 && done != limit)
        rc = EIO;               /* someone else shortened the file under us */
    if (rc == 0)
        f->size = done;
    return rc;
}

/* ---- the helpers ---- */

static unsigned long long slowest(const dcs_file_async *a)
{
    unsigned long long low = a->pushed;
    int i;
    for (i = 0; i < a->count; i++)
        if (a->h[i].done < low)
            low = a->h[i].done;
    return low;
}

/* Wakes the idle helpers (mu held) when one has at least `least` bytes to
 * hash: a helper that caught up sleeps until a good slice is queued (fewer
 * wake-ups), or until the owner needs it (least = 1). */
static void wake_idle(dcs_file_async *a, unsigned long long least)
{
    int i;
    for (i = 0; i < a->count; i++) {
        if (a->h[i].idle && a->pushed - a->h[i].done >= least) {
            pthread_cond_broadcast(&a->more);
            return;
        }
    }
}

/* The owner waits (mu held) until a helper reports progress. */
static void wait_room(dcs_file_async *a)
{
    wake_idle(a, 1);
    a->waiting = 1;
    pthread_cond_wait(&a->room, &a->mu);
    a->waiting = 0;
}

static void *helper_main(void *arg)
{
    helper *h = arg;
    dcs_file_async *a = h->a;

    pthread_mutex_lock(&a->mu);
    for (;;) {
        unsigned long long avail;
        size_t off, n;
        int failed;

        while (h->done == a->pushed && !a->stop) {
            h->idle = 1;
            pthread_cond_wait(&a->more, &a->mu);
            h->idle = 0;
        }
        avail = a->pushed - h->done;
        if (avail == 0)
            break;              /* stopped, and every byte is hashed */
        off = (size_t)(h->done % a->cap);
        n = a->cap - off;
        if (n > avail)
            n = (size_t)avail;
        if (n > SLICE)
            n = SLICE;
        pthread_mutex_unlock(&a->mu);
        SEEN_READ(a->ring + off, n);
        SEEN_WRITE(h->md, sizeof *h->md);
        failed = digest_update(h->md, a->ring + off, n) != 0;
        pthread_mutex_lock(&a->mu);
        if (failed)
            a->error = EIO;
        /* The owner waits for the slowest helper: only its progress counts. */
        if (a->waiting && h->done == slowest(a))
            pthread_cond_signal(&a->room);
        h->done += n;
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Copies n bytes into the ring, waiting while it is full. */
static void ring_push(dcs_file_async *a, const unsigned char *p, size_t n)
{
    pthread_mutex_lock(&a->mu);
    while (n > 0) {
        unsigned long long used;
        size_t off, k;

        while ((used = a->pushed - slowest(a)) == a->cap)
            wait_room(a);
        off = (size_t)(a->pushed % a->cap);
        k = a->cap - (size_t)used;
        if (k > a->cap - off)
            k = a->cap - off;
        if (k > n)
            k = n;
        pthread_mutex_unlock(&a->mu);
        memcpy(a->ring + off, p, k);
        pthread_mutex_lock(&a->mu);
        a->pushed += k;
        p += k;
        n -= k;
        wake_idle(a, a->wake);
    }
    pthread_mutex_unlock(&a->mu);
}

/* Waits until every helper has hashed every byte pushed; the helpers then
 * wait for more, so the owner may use the digests until its next push.
 * Returns and clears a digest failure. */
static int ring_settle(dcs_file_async *a)
{
    int err;
    pthread_mutex_lock(&a->mu);
    while (slowest(a) != a->pushed)
        wait_room(a);
    err = a->error;
    a->error = 0;
    pthread_mutex_unlock(&a->mu);
    return err;
}

/* Stops and joins the helpers (they hash what is left first) and frees a.
 * Returns a digest failure. */
static int async_free(dcs_file_async *a)
{
    int i, err;

    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_broadcast(&a->more);
    pthread_mutex_unlock(&a->mu);
    for (i = 0; i < a->count; i++)
        pthread_join(a->h[i].thread, NULL);
    err = a->error;
    pthread_cond_destroy(&a->room);
    pthread_cond_destroy(&a->more);
    pthread_mutex_destroy(&a->mu);
    free(a->ring);
    free(a);
    return err;
}

/* The helpers, started with every signal blocked: signals stay the
 * owner's business. */
static int start_helpers(dcs_file *f, dcs_file_async *a)
{
    sigset_t all, old;
    int i, rc = 0;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (i = 0; rc == 0 && i < NDIGESTS; i++) {
        helper *h = &a->h[a->count];
        if (!kept(f, i))
            continue;
        h->a = a;
        h->md = &f->md[i];
        rc = pthread_create(&h->thread, NULL, helper_main, h);
        if (rc == 0)
            a->count++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int dcs_file_async_begin(dcs_file *f, size_t ring_bytes)
{
    dcs_file_async *a;
    int rc;

    if (f->fd < 0)
        return EBADF;
    if (f->hashing == 0 || f->async != NULL)
        return 0;
    a = calloc(1, sizeof *a);
    if (a == NULL)
        return ENOMEM;
    a->cap = ring_bytes > 0 ? ring_bytes : DCS_FILE_RING_DEFAULT;
    a->wake = a->cap / 2 < WAKE ? (a->cap + 1) / 2 : WAKE;
    a->ring = malloc(a->cap);
    if (a->ring == NULL) {
        free(a);
        return ENOMEM;
    }
    if ((rc = pthread_mutex_init(&a->mu, NULL)) != 0) {
        free(a->ring);
        free(a);
        return rc;
    }
    pthread_cond_init(&a->more, NULL);  /* cannot fail with default attributes */
    pthread_cond_init(&a->room, NULL);
    rc = start_helpers(f, a);
    if (rc != 0) {
        async_free(a);          /* joins those that started: nothing was pushed */
        return rc;
    }
    f->async = a;
    return 0;
}

int dcs_file_async_end(dcs_file *f)
{
    dcs_file_async *a = f->async;
    int err;

    if (a == NULL)
        return f->error;
    f->async = NULL;
    err = async_free(a);
    if (err != 0 && f->error == 0)
        f->error = err;
    return f->error;
}

/* Before the owner reads or restarts a digest: the helpers caught up. */
static void settle(dcs_file *f)
{
    int err;
    if (f->async != NULL && (err = ring_settle(f->async)) != 0 && f->error == 0)
        f->error = err;
}

/* Refines the errno of a failed open into the refusals callers act on. */
static int open_failure(const char *path, int err, int mode)
{
    struct stat st;
    if ((err == EEXIST || err == ELOOP) && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        return DCS_FILE_ESYMLINK;
    /* O_RDWR on a directory or a socket fails before fstat could say so. */
    if (mode == DCS_FILE_EXISTING && (err == EISDIR || err == ENXIO))
        return DCS_FILE_ENOTREG;
    return err;
}

static int check_existing(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return errno;
    if (!S_ISREG(st.st_mode))
        return DCS_FILE_ENOTREG;
    if (st.st_uid != geteuid())
        return DCS_FILE_ENOTOWNER;
    if (st.st_nlink != 1)
        return DCS_FILE_ELINKS;
    return 0;
}

/* Sets up the digests asked for and primes them from the content. */
static int start_digests(dcs_file *f, int hashes)
{
    int i, rc = 0;
    for (i = 0; rc == 0 && i < NDIGESTS; i++) {
        if ((hashes & (1 << i)) == 0)
            continue;
        rc = digest_setup(&f->md[i], i);
        if (rc == 0)
            f->hashing |= 1 << i;
    }
    return rc == 0 ? hash_prime(f, -1) : rc;
}

int dcs_file_open(dcs_file *f, const char *path, int mode, int hashes)
{
    /* O_NONBLOCK: opening whatever sits at the name must never wait (a FIFO,
     * a terminal); O_NOCTTY: nor adopt a terminal.  Regular files ignore both. */
    int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    int fd, rc = 0;
    struct stat st;

    if (f->fd >= 0)
        return EBUSY;
    dcs_file_init(f);
    if ((hashes & ~(DCS_FILE_SHA256 | DCS_FILE_MD5)) != 0)
        return EINVAL;
    if (mode == DCS_FILE_NEW)
        fd = open(path, flags | O_CREAT | O_EXCL, 0600);
    else if (mode == DCS_FILE_EXISTING)
        fd = open(path, flags);
    else
        return EINVAL;
    if (fd < 0)
        return open_failure(path, errno, mode);
    f->fd = fd;
    if (mode == DCS_FILE_EXISTING)
        rc = check_existing(fd);
    if (rc == 0 && hashes != 0) {
        rc = start_digests(f, hashes);
    } else if (rc == 0) {
        if (fstat(fd, &st) != 0)
            rc = errno;
        else
            f->size = (long long)st.st_size;
    }
    if (rc != 0)
        dcs_file_close(f);
    return rc;
}

static int write_failed(dcs_file *f, int err)
{
    f->error = err;
    return err;
}

int dcs_file_write(dcs_file *f, const void *data, size_t n)
{
    const unsigned char *p = data;

    if (f->fd < 0)
        return EBADF;
    if (f->error != 0)
        return f->error;
    if ((unsigned long long)n > (unsigned long long)(LLONG_MAX - f->size))
        return EFBIG;
    while (n > 0) {
        ssize_t w = pwrite(f->fd, p, n > SSIZE_MAX ? SSIZE_MAX : n, (off_t)f->size);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return write_failed(f, errno);
        if (w == 0)
            return write_failed(f, EIO);
        /* What reached the file is counted and hashed even if the rest
         * fails: size and digests always describe the bytes on disk. */
        f->size += w;
        if (f->async != NULL)
            ring_push(f->async, p, (size_t)w);
        else if (f->hashing && hash_update(f, p, (size_t)w) != 0)
            return write_failed(f, EIO);
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int dcs_file_truncate(dcs_file *f, long long size)
{
    int rc;

    if (f->fd < 0)
        return EBADF;
    if (size < 0 || size > f->size)
        return EINVAL;
    settle(f);                  /* the digests are about to start over */
    while (ftruncate(f->fd, (off_t)size) != 0)
        if (errno != EINTR)
            return errno;
    f->size = size;
    f->error = 0;
    if (f->hashing && (rc = hash_prime(f, size)) != 0)
        return write_failed(f, rc);
    return 0;
}

/* Only a lock someone else holds refuses the file: where the file system
 * has no locks (ENOLCK, EOPNOTSUPP) the writer goes on unlocked, as it did
 * before it asked. */
int dcs_file_lock(dcs_file *f)
{
    if (f->fd < 0)
        return EBADF;
    while (flock(f->fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return DCS_FILE_EINUSE;
        if (errno != EINTR)
            return 0;
    }
    return 0;
}

int dcs_file_sync(dcs_file *f)
{
    if (f->fd < 0)
        return EBADF;
    while (fsync(f->fd) != 0)
        if (errno != EINTR)
            return errno;
    return 0;
}

/* The digest i of the content so far into md (its size), from a clone: the
 * running digest keeps taking bytes. */
static int finish_digest(dcs_file *f, int i, unsigned char *md)
{
    if (f->fd < 0)
        return EBADF;
    if (!kept(f, i))
        return EINVAL;
    settle(f);
    if (f->error != 0)
        return f->error;
    SEEN_READ(&f->md[i], sizeof f->md[i]);
    return digest_peek(&f->md[i], i, md);
}

int dcs_file_sha256(dcs_file *f, char out[65])
{
    unsigned char md[32];
    int rc = finish_digest(f, 0, md);
    if (rc == 0)
        dcs_hex_encode(md, sizeof md, out);
    return rc;
}

int dcs_file_content_md5(dcs_file *f, char out[25])
{
    unsigned char md[16];
    size_t len = 0;
    int rc = finish_digest(f, 1, md);
    if (rc == 0 && (mbedtls_base64_encode((unsigned char *)out, 25, &len, md, sizeof md) != 0 ||
                    len != 24))
        rc = EIO;
    return rc;
}

int dcs_file_drop_digests(dcs_file *f, int hashes)
{
    int i;
    if (f->async != NULL)
        return EBUSY;
    for (i = 0; i < NDIGESTS; i++) {
        if ((hashes & (1 << i)) && kept(f, i)) {
            digest_free(&f->md[i]);
            f->hashing &= ~(1 << i);
        }
    }
    return 0;
}

int dcs_file_close(dcs_file *f)
{
    int rc = 0, i;

    dcs_file_async_end(f);      /* join the helpers before their digests go */
    if (f->fd >= 0) {
        /* Linux frees the descriptor even when close fails: never retry. */
        if (close(f->fd) != 0 && errno != EINTR)
            rc = errno;
        f->fd = -1;
    }
    for (i = 0; i < NDIGESTS; i++)
        digest_free(&f->md[i]);
    f->hashing = 0;
    return rc;
}

const char *dcs_file_strerror(int code)
{
    switch (code) {
    case 0: return "no error";
    case DCS_FILE_ENOTREG: return "it is not a regular file";
    case DCS_FILE_ENOTOWNER: return "it is owned by another user";
    case DCS_FILE_ELINKS: return "it has more than one hard link";
    case DCS_FILE_ESYMLINK: return "it is a symbolic link";
    case DCS_FILE_ETOOLARGE: return "it is larger than the limit";
    case DCS_FILE_EINUSE: return "another download is writing it";
    case EBADF: return "the file is closed";
    default: return code > 0 ? strerror(code) : "unknown error";
    }
}

static const struct {
    int code;
    const char *name;
} code_names[] = {
    {DCS_FILE_ENOTREG, "not_regular"}, {DCS_FILE_ENOTOWNER, "not_owner"},
    {DCS_FILE_ELINKS, "links"}, {DCS_FILE_ESYMLINK, "symlink"},
    {DCS_FILE_ETOOLARGE, "too_large"}, {DCS_FILE_EINUSE, "in_use"}, {ENOENT, "not_found"},
    {EEXIST, "exists"}, {ELOOP, "symlink"}, {EACCES, "eacces"}, {EPERM, "eperm"}, {EISDIR, "eisdir"},
    {ENOTDIR, "enotdir"}, {ENOSPC, "enospc"}, {EDQUOT, "edquot"}, {EROFS, "erofs"},
    {ENAMETOOLONG, "enametoolong"}, {EMFILE, "emfile"}, {ENFILE, "enfile"},
    {ENOMEM, "enomem"}, {EIO, "eio"}, {EBADF, "ebadf"}, {EINVAL, "einval"},
    {EFBIG, "efbig"}, {ETXTBSY, "etxtbsy"}, {EAGAIN, "eagain"}, {EINTR, "eintr"},
    {ENXIO, "enxio"}, {ENODEV, "enodev"}, {EBUSY, "ebusy"}, {EOVERFLOW, "eoverflow"},
    {ENOSYS, "enosys"}, {EFAULT, "efault"}, {EXDEV, "exdev"},
};

const char *dcs_file_code_name(int code)
{
    size_t i;
    for (i = 0; i < sizeof code_names / sizeof code_names[0]; i++)
        if (code_names[i].code == code)
            return code_names[i].name;
    return "error";
}

int dcs_file_type(const char *path, const char **type)
{
    struct stat st;

    *type = NULL;
    if (stat(path, &st) != 0)
        return errno;
    *type = S_ISDIR(st.st_mode) ? "directory" : S_ISREG(st.st_mode) ? "file" : "other";
    return 0;
}

int dcs_file_read_small(const char *path, size_t max, char **out, size_t *len)
{
    struct stat st;
    size_t cap, n = 0;
    char *buf, *grown;
    int fd, rc = 0;

    *out = NULL;
    *len = 0;
    if (max > (size_t)SSIZE_MAX)
        max = (size_t)SSIZE_MAX;
    /* O_NONBLOCK: a FIFO opens at once instead of waiting for a writer. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno;
    if (fstat(fd, &st) != 0)
        rc = errno;
    else if (!S_ISREG(st.st_mode))
        rc = DCS_FILE_ENOTREG;          /* a FIFO, /dev/zero, a directory */
    else if ((unsigned long long)st.st_size > (unsigned long long)max)
        rc = DCS_FILE_ETOOLARGE;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    cap = (size_t)st.st_size + 2;       /* the NUL, and one byte to notice growth */
    buf = malloc(cap);
    while (rc == 0 && buf != NULL) {
        ssize_t r;
        if (n + 1 >= cap) {             /* full: the file grew since fstat */
            if (n > max) {
                rc = DCS_FILE_ETOOLARGE;
                break;
            }
            cap = cap > (max + 2) / 2 ? max + 2 : cap * 2;
            grown = realloc(buf, cap);
            if (grown == NULL) {
                rc = ENOMEM;
                break;
            }
            buf = grown;
        }
        r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = errno;
        else if (r == 0)
            break;
        else
            n += (size_t)r;
    }
    close(fd);
    if (buf == NULL)
        return ENOMEM;
    if (rc == 0 && n > max)
        rc = DCS_FILE_ETOOLARGE;
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}
