/* The download file writer (dcs_file.h).  Offsets are explicit (pread,
 * pwrite): nothing depends on where the descriptor's own offset stands. */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dcs_file.h"

#define CHUNK 16384

void dcs_file_init(dcs_file *f)
{
    f->fd = -1;
    f->size = 0;
    f->error = 0;
    f->hashing = 0;
    mbedtls_md_init(&f->sha);
}

static int hash_setup(mbedtls_md_context_t *ctx)
{
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (info == NULL)
        return ENOSYS;
    return mbedtls_md_setup(ctx, info, 0) == 0 ? 0 : ENOMEM;
}

/* Starts the hash over from the first `limit` bytes of the file (all of it
 * when limit < 0) and sets f->size to the bytes read. */
static int hash_prime(dcs_file *f, long long limit)
{
    unsigned char buf[CHUNK];
    long long done = 0;

    if (mbedtls_md_starts(&f->sha) != 0)
        return EIO;
    while (limit < 0 || done < limit) {
        size_t want = sizeof buf;
        ssize_t r;
        if (limit >= 0 && (unsigned long long)(limit - done) < want)
            want = (size_t)(limit - done);
        r = pread(f->fd, buf, want, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        if (r == 0)
            break;
        if (mbedtls_md_update(&f->sha, buf, (size_t)r) != 0)
            return EIO;
        done += r;
    }
    if (limit >= 0 && done != limit)
        return EIO;             /* someone else shortened the file under us */
    f->size = done;
    return 0;
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

int dcs_file_open(dcs_file *f, const char *path, int mode, int hash)
{
    /* O_NONBLOCK: opening whatever sits at the name must never wait (a FIFO,
     * a terminal); O_NOCTTY: nor adopt a terminal.  Regular files ignore both. */
    int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    int fd, rc = 0;
    struct stat st;

    if (f->fd >= 0)
        return EBUSY;
    dcs_file_init(f);
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
    if (rc == 0 && hash) {
        rc = hash_setup(&f->sha);
        f->hashing = rc == 0;
        if (rc == 0)
            rc = hash_prime(f, -1);
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
         * fails: size and hash always describe the bytes on disk. */
        f->size += w;
        if (f->hashing && mbedtls_md_update(&f->sha, p, (size_t)w) != 0)
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
    while (ftruncate(f->fd, (off_t)size) != 0)
        if (errno != EINTR)
            return errno;
    f->size = size;
    f->error = 0;
    if (f->hashing && (rc = hash_prime(f, size)) != 0)
        return write_failed(f, rc);
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

int dcs_file_sha256(dcs_file *f, char out[65])
{
    mbedtls_md_context_t copy;
    unsigned char md[32];
    int rc;

    if (f->fd < 0)
        return EBADF;
    if (!f->hashing)
        return EINVAL;
    if (f->error != 0)
        return f->error;
    /* Finish a clone: the running hash keeps taking bytes. */
    mbedtls_md_init(&copy);
    rc = hash_setup(&copy);
    if (rc == 0 && (mbedtls_md_clone(&copy, &f->sha) != 0 || mbedtls_md_finish(&copy, md) != 0))
        rc = EIO;
    mbedtls_md_free(&copy);
    if (rc == 0)
        dcs_hex_encode(md, sizeof md, out);
    return rc;
}

int dcs_file_close(dcs_file *f)
{
    int rc = 0;
    if (f->fd >= 0) {
        /* Linux frees the descriptor even when close fails: never retry. */
        if (close(f->fd) != 0 && errno != EINTR)
            rc = errno;
        f->fd = -1;
    }
    mbedtls_md_free(&f->sha);
    mbedtls_md_init(&f->sha);
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
    {DCS_FILE_ETOOLARGE, "too_large"}, {ENOENT, "not_found"}, {EEXIST, "exists"},
    {ELOOP, "symlink"}, {EACCES, "eacces"}, {EPERM, "eperm"}, {EISDIR, "eisdir"},
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
