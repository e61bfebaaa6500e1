/* Unit tests for the download file writer (csrc/dcs_file.c).  Prints TAP;
 * exits 1 when any test fails.  Works in a fresh directory under /tmp.
 *
 *   cc -Wall -Wextra -Icsrc -o build/test_file spec/c/test_file.c \
 *      csrc/dcs_file.c csrc/dcs_sha256.c csrc/dcs_buf.c -lmbedcrypto -pthread
 *   build/test_file
 *
 * The ownership test needs root (it chowns a file to nobody); it is skipped
 * otherwise.  The async tests run the hashing helper threads; tools/check
 * also builds this file with -fsanitize=thread (c-tsan) and runs it under
 * valgrind. */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>

#include "dcs_file.h"
#include "tap.h"

static char dir[64];

/* The fallback test asks for a ring no malloc can give: under ASan and TSan
 * that must return NULL, as it does without them. */
const char *__asan_default_options(void);
const char *__tsan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
const char *__tsan_default_options(void) { return "allocator_may_return_null=1"; }

static const char *at(const char *name)
{
    static char path[4][128];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    return p;
}

static void sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[32];
    mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), data, n, md);
    dcs_hex_encode(md, sizeof md, out);
}

static void md5_b64(const void *data, size_t n, char out[25])
{
    unsigned char md[16];
    size_t len;
    mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_MD5), data, n, md);
    mbedtls_base64_encode((unsigned char *)out, 25, &len, md, sizeof md);
}

static int check_rc(const char *name, int got, int exp)
{
    if (!ok(got == exp, "%s", name))
        diag("  got %d (%s), expected %d (%s)", got, dcs_file_strerror(got), exp,
             dcs_file_strerror(exp));
    return got == exp;
}

/* The digest of f equals the SHA-256 of data. */
static void check_digest(const char *name, dcs_file *f, const char *data, size_t n)
{
    char got[65], exp[65];
    int rc = dcs_file_sha256(f, got);
    sha256_hex(data, n, exp);
    if (!ok(rc == 0 && strcmp(got, exp) == 0, "%s", name))
        diag("  rc %d, got %s, expected %s", rc, rc == 0 ? got : "-", exp);
}

/* The Content-MD5 of f equals that of data. */
static void check_md5(const char *name, dcs_file *f, const char *data, size_t n)
{
    char got[25], exp[25];
    int rc = dcs_file_content_md5(f, got);
    md5_b64(data, n, exp);
    if (!ok(rc == 0 && strcmp(got, exp) == 0, "%s", name))
        diag("  rc %d, got %s, expected %s", rc, rc == 0 ? got : "-", exp);
}

static void write_plain(const char *path, const char *data)
{
    FILE *fp = fopen(path, "wb");
    fputs(data, fp);
    fclose(fp);
}

static size_t read_plain(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    size_t n;
    if (fp == NULL)
        return (size_t)-1;
    n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

static void test_new(void)
{
    dcs_file f;
    struct stat st;

    dcs_file_init(&f);
    check_rc("close of a never-opened file is fine", dcs_file_close(&f), 0);
    check_rc("new: created", dcs_file_open(&f, at("a"), DCS_FILE_NEW, 1), 0);
    ok(stat(at("a"), &st) == 0 && (st.st_mode & 0777) == 0600, "new: mode 0600");
    check_digest("new: empty digest", &f, "", 0);
    check_rc("write", dcs_file_write(&f, "hello ", 6), 0);
    check_rc("write again", dcs_file_write(&f, "world", 5), 0);
    check_rc("write nothing", dcs_file_write(&f, "", 0), 0);
    check_int("size counts every byte", f.size, 11);
    check_digest("digest of the content", &f, "hello world", 11);
    check_rc("the file takes bytes after a digest", dcs_file_write(&f, "!", 1), 0);
    check_digest("digest after more bytes", &f, "hello world!", 12);
    check_rc("sync", dcs_file_sync(&f), 0);
    check_rc("close", dcs_file_close(&f), 0);
    check_rc("close again", dcs_file_close(&f), 0);
    check_rc("write after close: EBADF", dcs_file_write(&f, "x", 1), EBADF);
    check_rc("digest after close: EBADF", dcs_file_sha256(&f, (char[65]){0}), EBADF);
    check_rc("truncate after close: EBADF", dcs_file_truncate(&f, 0), EBADF);
    check_rc("sync after close: EBADF", dcs_file_sync(&f), EBADF);
    check_rc("new over an existing file: EEXIST", dcs_file_open(&f, at("a"), DCS_FILE_NEW, 0),
             EEXIST);
    ok(strcmp(dcs_file_code_name(EEXIST), "exists") == 0, "EEXIST is named \"exists\"");
    check_rc("new in a missing directory: ENOENT",
             dcs_file_open(&f, at("missing/x"), DCS_FILE_NEW, 0), ENOENT);
    ok(strcmp(dcs_file_code_name(ENOENT), "not_found") == 0, "ENOENT is named \"not_found\"");
    ok(strcmp(dcs_file_code_name(ENOSPC), "enospc") == 0, "ENOSPC is named \"enospc\"");
}

static void test_symlinks(void)
{
    dcs_file f;
    char buf[64];

    dcs_file_init(&f);
    write_plain(at("target"), "precious");
    if (symlink(at("target"), at("link")) != 0)
        diag("symlink: %s", strerror(errno));
    check_rc("new at a symlink: refused", dcs_file_open(&f, at("link"), DCS_FILE_NEW, 1),
             DCS_FILE_ESYMLINK);
    check_rc("existing at a symlink: refused",
             dcs_file_open(&f, at("link"), DCS_FILE_EXISTING, 1), DCS_FILE_ESYMLINK);
    ok(read_plain(at("target"), buf, sizeof buf) == 8 && memcmp(buf, "precious", 8) == 0,
       "the link's target is untouched");
    if (symlink(at("nowhere"), at("dangling")) != 0)
        diag("symlink: %s", strerror(errno));
    check_rc("new at a dangling symlink: refused, nothing created",
             dcs_file_open(&f, at("dangling"), DCS_FILE_NEW, 0), DCS_FILE_ESYMLINK);
    ok(access(at("nowhere"), F_OK) != 0, "the dangling link's target was not created");
    ok(strcmp(dcs_file_code_name(DCS_FILE_ESYMLINK), "symlink") == 0, "named \"symlink\"");
}

static void test_existing(void)
{
    dcs_file f;

    dcs_file_init(&f);
    write_plain(at("part"), "hello");
    check_rc("existing: reopened", dcs_file_open(&f, at("part"), DCS_FILE_EXISTING, 1), 0);
    check_int("existing: size is the content's", f.size, 5);
    check_digest("existing: the digest is primed from the content", &f, "hello", 5);
    check_rc("existing: write appends", dcs_file_write(&f, " world", 6), 0);
    check_digest("existing: digest of old and new bytes", &f, "hello world", 11);
    dcs_file_close(&f);
    check_rc("existing without hashing", dcs_file_open(&f, at("part"), DCS_FILE_EXISTING, 0), 0);
    check_int("size from fstat", f.size, 11);
    check_rc("sha256 without hashing: EINVAL", dcs_file_sha256(&f, (char[65]){0}), EINVAL);
    dcs_file_close(&f);
    check_rc("existing, missing: ENOENT",
             dcs_file_open(&f, at("absent"), DCS_FILE_EXISTING, 0), ENOENT);

    write_plain(at("linked"), "x");
    if (link(at("linked"), at("linked2")) != 0)
        diag("link: %s", strerror(errno));
    check_rc("a hard-linked file is refused",
             dcs_file_open(&f, at("linked"), DCS_FILE_EXISTING, 0), DCS_FILE_ELINKS);
    ok(strcmp(dcs_file_code_name(DCS_FILE_ELINKS), "links") == 0, "named \"links\"");

    mkdir(at("subdir"), 0700);
    check_rc("a directory is refused",
             dcs_file_open(&f, at("subdir"), DCS_FILE_EXISTING, 0), DCS_FILE_ENOTREG);
    mkfifo(at("fifo"), 0600);
    check_rc("a FIFO is refused (without waiting for a reader)",
             dcs_file_open(&f, at("fifo"), DCS_FILE_EXISTING, 1), DCS_FILE_ENOTREG);
    check_rc("/dev/null is refused", dcs_file_open(&f, "/dev/null", DCS_FILE_EXISTING, 0),
             DCS_FILE_ENOTREG);
    ok(f.fd == -1, "a refused open leaves the file closed");

    if (geteuid() != 0) {
        ok(1, "another owner's file # SKIP needs root to chown");
        return;
    }
    write_plain(at("theirs"), "x");
    if (chown(at("theirs"), 65534, 65534) != 0)
        diag("chown: %s", strerror(errno));
    check_rc("another owner's file is refused",
             dcs_file_open(&f, at("theirs"), DCS_FILE_EXISTING, 0), DCS_FILE_ENOTOWNER);
    ok(strcmp(dcs_file_code_name(DCS_FILE_ENOTOWNER), "not_owner") == 0, "named \"not_owner\"");
}

/* Two writers of one file: the second open's lock is refused until the
 * first closes. */
static void test_lock(void)
{
    dcs_file a, b;

    dcs_file_init(&a);
    dcs_file_init(&b);
    check_rc("lock: the first writer", dcs_file_open(&a, at("locked"), DCS_FILE_NEW, 0), 0);
    check_rc("lock: taken", dcs_file_lock(&a), 0);
    check_rc("lock: a second open", dcs_file_open(&b, at("locked"), DCS_FILE_EXISTING, 0), 0);
    check_rc("lock: refused to the second", dcs_file_lock(&b), DCS_FILE_EINUSE);
    ok(strcmp(dcs_file_code_name(DCS_FILE_EINUSE), "in_use") == 0, "named \"in_use\"");
    dcs_file_close(&a);
    check_rc("lock: free once the first closes", dcs_file_lock(&b), 0);
    dcs_file_close(&b);
    check_rc("lock: a closed file is EBADF", dcs_file_lock(&b), EBADF);
}

static void test_truncate(void)
{
    dcs_file f;
    char buf[64];

    dcs_file_init(&f);
    check_rc("open", dcs_file_open(&f, at("t"), DCS_FILE_NEW, 1), 0);
    dcs_file_write(&f, "0123456789", 10);
    check_rc("truncate past the end: EINVAL", dcs_file_truncate(&f, 11), EINVAL);
    check_rc("negative truncate: EINVAL", dcs_file_truncate(&f, -1), EINVAL);
    check_rc("truncate(4)", dcs_file_truncate(&f, 4), 0);
    check_int("size 4", f.size, 4);
    check_digest("digest re-primed from the kept bytes", &f, "0123", 4);
    dcs_file_write(&f, "ab", 2);
    check_digest("digest after writing on", &f, "0123ab", 6);
    ok(read_plain(at("t"), buf, sizeof buf) == 6 && memcmp(buf, "0123ab", 6) == 0,
       "the bytes on disk follow");
    check_rc("truncate(0)", dcs_file_truncate(&f, 0), 0);
    check_digest("digest of nothing", &f, "", 0);
    dcs_file_write(&f, "new", 3);
    check_digest("digest of the new content", &f, "new", 3);
    dcs_file_close(&f);
}

static void test_md5(void)
{
    dcs_file f;
    char b64[25];

    dcs_file_init(&f);
    check_rc("md5 and sha256: created",
             dcs_file_open(&f, at("m"), DCS_FILE_NEW, DCS_FILE_SHA256 | DCS_FILE_MD5), 0);
    check_md5("md5 of nothing", &f, "", 0);
    dcs_file_write(&f, "hello world", 11);
    check_rc("the Content-MD5 form", dcs_file_content_md5(&f, b64), 0);
    ok(strcmp(b64, "XrY7u+Ae7tCTyyK7j1rNww==") == 0, "base64 of the MD5 digest");
    check_digest("the SHA-256 in the same pass", &f, "hello world", 11);
    dcs_file_close(&f);
    check_rc("reopened with md5 only",
             dcs_file_open(&f, at("m"), DCS_FILE_EXISTING, DCS_FILE_MD5), 0);
    check_md5("md5 primed from the content", &f, "hello world", 11);
    check_rc("no sha256 asked: EINVAL", dcs_file_sha256(&f, (char[65]){0}), EINVAL);
    dcs_file_write(&f, "!", 1);
    check_md5("md5 of old and new bytes", &f, "hello world!", 12);
    check_rc("truncate", dcs_file_truncate(&f, 5), 0);
    check_md5("md5 re-primed", &f, "hello", 5);
    dcs_file_close(&f);
    check_rc("sha256 only: md5 is EINVAL", dcs_file_open(&f, at("m"), DCS_FILE_EXISTING, 1), 0);
    check_rc("content_md5 without md5", dcs_file_content_md5(&f, b64), EINVAL);
    dcs_file_close(&f);
    check_rc("unknown digest bits: EINVAL", dcs_file_open(&f, at("m"), DCS_FILE_EXISTING, 4),
             EINVAL);
}

/* Deterministic bytes: no two chunks alike, so a dropped, repeated or
 * reordered piece changes the digests. */
static void fill(unsigned char *p, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (unsigned char)(seed >> 16);
    }
}

/* Writes data[from, to) in pieces of varied sizes (1 byte to 3 rings). */
static int write_pieces(dcs_file *f, const unsigned char *data, size_t from, size_t to,
                        size_t ring)
{
    static const size_t sizes[] = {1, 7, 4096, 3, 65536, 100, 12345, 0};
    size_t i = 0;
    int rc = 0;
    while (rc == 0 && from < to) {
        size_t n = sizes[i++ % (sizeof sizes / sizeof sizes[0])];
        if (n == 0)
            n = 3 * ring + 5;
        if (n > to - from)
            n = to - from;
        rc = dcs_file_write(f, data + from, n);
        from += n;
    }
    return rc;
}

/* Async hashing with `hashes`, a ring of `ring` bytes, checked against
 * inline digests: wrap-around, a full ring (backpressure), digests and a
 * truncate while the helpers run, end and begin again, close while on. */
static void async_round(int hashes, size_t ring, const unsigned char *data, size_t n)
{
    const char *what = hashes == 1 ? "sha256" : hashes == 2 ? "md5" : "sha256+md5";
    const char *d = (const char *)data;
    dcs_file f;

    dcs_file_init(&f);
    check_rc("async: open", dcs_file_open(&f, at("async"), DCS_FILE_NEW, hashes), 0);
    check_rc("async: helpers start", dcs_file_async_begin(&f, ring), 0);
    ok(f.async != NULL, "async (%s, ring %zu): on", what, ring);
    check_rc("async: begin again is a no-op", dcs_file_async_begin(&f, ring), 0);
    check_rc("async: writes", write_pieces(&f, data, 0, n / 2, ring), 0);
    check_int("async: size follows at once", f.size, (long long)(n / 2));
    if (hashes & DCS_FILE_SHA256)
        check_digest("async: sha256 while on waits for the helpers", &f, d, n / 2);
    if (hashes & DCS_FILE_MD5)
        check_md5("async: md5 while on waits for the helpers", &f, d, n / 2);
    check_rc("async: truncate while on", dcs_file_truncate(&f, (long long)(n / 3)), 0);
    check_rc("async: writes after the truncate", write_pieces(&f, data, n / 3, n, ring), 0);
    check_rc("async: end", dcs_file_async_end(&f), 0);
    ok(f.async == NULL, "async: off");
    if (hashes & DCS_FILE_SHA256)
        check_digest("async: sha256 of everything", &f, d, n);
    if (hashes & DCS_FILE_MD5)
        check_md5("async: md5 of everything", &f, d, n);
    check_rc("async: end again is a no-op", dcs_file_async_end(&f), 0);
    check_rc("async: begin again", dcs_file_async_begin(&f, ring), 0);
    check_rc("async: and write", dcs_file_write(&f, "tail", 4), 0);
    check_rc("async: close while on joins the helpers", dcs_file_close(&f), 0);
    ok(f.async == NULL && f.fd == -1, "async: closed");
    check_rc("async: begin on a closed file: EBADF", dcs_file_async_begin(&f, ring), EBADF);
    unlink(at("async"));
}

static void test_async(void)
{
    size_t n = (size_t)3 << 20;
    unsigned char *data = malloc(n);
    dcs_file f;

    fill(data, n, 42);
    async_round(DCS_FILE_SHA256, 0, data, n);
    async_round(DCS_FILE_SHA256 | DCS_FILE_MD5, 65536 + 3, data, n);
    async_round(DCS_FILE_MD5, 4099, data, n);

    dcs_file_init(&f);
    check_rc("no hashing: open", dcs_file_open(&f, at("plain"), DCS_FILE_NEW, 0), 0);
    check_rc("no hashing: nothing to start", dcs_file_async_begin(&f, 0), 0);
    ok(f.async == NULL, "no hashing: no helpers");
    dcs_file_close(&f);

    /* A ring that cannot be allocated: hashing stays inline, all the same. */
    check_rc("fallback: open", dcs_file_open(&f, at("fallback"), DCS_FILE_NEW, 3), 0);
    check_rc("fallback: begin says why", dcs_file_async_begin(&f, (size_t)-1 / 2), ENOMEM);
    ok(f.async == NULL, "fallback: inline");
    check_rc("fallback: writes", write_pieces(&f, data, 0, n / 4, 4096), 0);
    check_digest("fallback: sha256", &f, (const char *)data, n / 4);
    check_md5("fallback: md5", &f, (const char *)data, n / 4);
    check_rc("fallback: end is a no-op", dcs_file_async_end(&f), 0);
    dcs_file_close(&f);
    free(data);
}

/* RLIMIT_FSIZE turns the limit into a short write, then EFBIG: the error
 * path without filling a disk.  SIGXFSZ is ignored so the write just fails;
 * nothing is printed while the limit holds (stdout may be a file).  With
 * async on, what reached the file went through the ring: the same digests. */
static void write_failure(int async)
{
    struct rlimit old, lim;
    char data[100], hex[65];
    int rc_over, rc_again, rc_digest;
    long long size;
    dcs_file f;

    memset(data, 'x', sizeof data);
    dcs_file_init(&f);
    unlink(at("limited"));
    check_rc("open", dcs_file_open(&f, at("limited"), DCS_FILE_NEW, 1), 0);
    if (async)
        check_rc("async: on, with a ring smaller than the write", dcs_file_async_begin(&f, 64), 0);
    fflush(stdout);
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 40;
    setrlimit(RLIMIT_FSIZE, &lim);
    rc_over = dcs_file_write(&f, data, sizeof data);
    size = f.size;
    rc_again = dcs_file_write(&f, "y", 1);
    rc_digest = dcs_file_sha256(&f, hex);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    check_rc("a write over the limit fails with EFBIG", rc_over, EFBIG);
    check_int("the short write is counted", size, 40);
    check_rc("the error is sticky", rc_again, EFBIG);
    check_rc("so is the digest's", rc_digest, EFBIG);
    check_rc("truncate clears it", dcs_file_truncate(&f, 30), 0);
    check_digest("and re-primes the digest", &f, data, 30);
    check_rc("writes work again", dcs_file_write(&f, data, 10), 0);
    check_digest("digest follows", &f, data, 40);
    dcs_file_close(&f);
}

static void test_write_failure(void)
{
    write_failure(0);
    write_failure(1);
}

static void test_read_small(void)
{
    char *out = NULL, big[100000];
    size_t len = 0;
    struct timespec t0, t1;
    FILE *fp;

    write_plain(at("small"), "contents");
    check_rc("read_small", dcs_file_read_small(at("small"), 100, &out, &len), 0);
    ok(len == 8 && out && memcmp(out, "contents", 9) == 0, "the bytes, NUL-terminated");
    free(out);
    check_rc("exactly max bytes", dcs_file_read_small(at("small"), 8, &out, &len), 0);
    free(out);
    check_rc("one byte over max: too large",
             dcs_file_read_small(at("small"), 7, &out, &len), DCS_FILE_ETOOLARGE);
    ok(out == NULL && len == 0, "nothing returned on failure");
    write_plain(at("empty"), "");
    check_rc("an empty file", dcs_file_read_small(at("empty"), 0, &out, &len), 0);
    ok(len == 0 && out != NULL && out[0] == '\0', "an empty string");
    free(out);
    memset(big, 'b', sizeof big);
    fp = fopen(at("big"), "wb");
    fwrite(big, 1, sizeof big, fp);
    fclose(fp);
    check_rc("a larger file", dcs_file_read_small(at("big"), sizeof big, &out, &len), 0);
    ok(len == sizeof big && memcmp(out, big, len) == 0, "all of it");
    free(out);
    check_rc("missing: ENOENT", dcs_file_read_small(at("nope"), 10, &out, &len), ENOENT);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    check_rc("a FIFO is refused", dcs_file_read_small(at("fifo"), 10, &out, &len),
             DCS_FILE_ENOTREG);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ok(t1.tv_sec - t0.tv_sec < 2, "at once (no writer needed)");
    check_rc("/dev/zero is refused", dcs_file_read_small("/dev/zero", 10, &out, &len),
             DCS_FILE_ENOTREG);
    check_rc("a directory is refused", dcs_file_read_small(dir, 10, &out, &len),
             DCS_FILE_ENOTREG);
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag("cannot remove %s", dir);
}

int main(void)
{
    strcpy(dir, "/tmp/dcs-test-file-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_new();
    test_symlinks();
    test_existing();
    test_lock();
    test_truncate();
    test_md5();
    test_async();
    test_write_failure();
    test_read_small();
    cleanup();
    return tap_done();
}
