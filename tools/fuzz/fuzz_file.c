/* libFuzzer harness for the partial-file writer (csrc/dcs_file.c): a
 * program of writes, truncates, digests, reopenings and helper-thread
 * hashing over one file, against a model of its content in memory.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -pthread -Icsrc -o build/fuzz_file \
 *         tools/fuzz/fuzz_file.c csrc/dcs_file.c csrc/dcs_sha256.c csrc/dcs_buf.c -lmbedcrypto
 *   mkdir -p build/fuzz-corpus-file && build/fuzz_file -max_total_time=60 build/fuzz-corpus-file
 *
 * Input layout: byte 0 chooses the digests the file opens with (& 3),
 * then operations of two bytes, op and arg, the bytes of writes taken
 * from what follows:
 *
 *   op % 8 == 0  write arg bytes (times 97 when op & 8: longer than a ring,
 *                unless the ring is a few bytes: a hand-over per byte is slow)
 *             1  truncate to arg * model size / 255, or one past the end (op & 8)
 *             2  SHA-256 (hex) and Content-MD5 (base64) of the content so far
 *             3  helpers on, with a ring of 1 + arg bytes when arg < 16 (a byte
 *                at a time on its edges), else arg KiB (arg 255: the default)
 *             4  helpers off
 *             5  close and reopen as DCS_FILE_EXISTING with digests arg & 3
 *             6  drop the digests arg & 3
 *             7  dcs_file_read_small with a limit of arg * 16 bytes
 *
 * Checked after every operation: its return code (EINVAL for a truncate
 * past the end or a digest not kept, EBUSY for a drop while helpers run),
 * f->size against the model, each digest kept against mbedTLS over the
 * model, and the bytes on disk (a read, and dcs_file_read_small) against
 * the model.  A violated invariant prints its line and calls abort(). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>

#include "dcs_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NAME "fuzz_file"
#include "fuzz.h"

#define MODEL_MAX (1 << 20)

typedef struct model {
    unsigned char *bytes;
    size_t len;
    int hashes;                 /* the digests the file keeps */
    int async;                  /* helpers on */
    int tiny;                   /* with a ring of a few bytes */
} model;

static char path[64];

static void check_digests(dcs_file *f, const model *m)
{
    unsigned char md[32], b64[32];
    char hex[65], want[65], md5[25];
    size_t n;

    if (m->hashes & DCS_FILE_SHA256) {
        CHECK(dcs_file_sha256(f, hex) == 0);
        CHECK(mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), m->bytes, m->len, md) == 0);
        dcs_hex_encode(md, 32, want);
        CHECK(memcmp(hex, want, 65) == 0);
    } else {
        CHECK(dcs_file_sha256(f, hex) == EINVAL);
    }
    if (m->hashes & DCS_FILE_MD5) {
        CHECK(dcs_file_content_md5(f, md5) == 0);
        CHECK(mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_MD5), m->bytes, m->len, md) == 0);
        CHECK(mbedtls_base64_encode(b64, sizeof b64, &n, md, 16) == 0 && n == 24);
        CHECK(md5[24] == '\0' && memcmp(md5, b64, 24) == 0);
    } else {
        CHECK(dcs_file_content_md5(f, md5) == EINVAL);
    }
}

static void check_disk(const dcs_file *f, const model *m)
{
    unsigned char *got = malloc(m->len + 1);
    ssize_t r;

    CHECK(got != NULL);
    r = pread(f->fd, got, m->len + 1, 0);
    CHECK(r == (ssize_t)m->len && memcmp(got, m->bytes, m->len) == 0);
    free(got);
}

static void check_read_small(const model *m, size_t max)
{
    char *got;
    size_t len;
    int rc = dcs_file_read_small(path, max, &got, &len);

    if (m->len > max) {
        CHECK(rc == DCS_FILE_ETOOLARGE && got == NULL && len == 0);
        return;
    }
    CHECK(rc == 0 && got != NULL && len == m->len && got[len] == '\0');
    CHECK(memcmp(got, m->bytes, len) == 0);
    free(got);
}

static void op_write(dcs_file *f, model *m, const uint8_t **p, const uint8_t *end, size_t n)
{
    size_t have = (size_t)(end - *p), i;
    unsigned char *buf;

    if (m->len + n > MODEL_MAX)
        return;
    buf = malloc(n ? n : 1);
    CHECK(buf != NULL);
    for (i = 0; i < n; i++)     /* the input's bytes, cycled when too few */
        buf[i] = have ? (*p)[i % have] : (unsigned char)i;
    *p += n < have ? n : have;
    CHECK(dcs_file_write(f, buf, n) == 0);
    memcpy(m->bytes + m->len, buf, n);
    m->len += n;
    free(buf);
}

static void op_truncate(dcs_file *f, model *m, unsigned op, unsigned arg)
{
    if (op & 8) {
        CHECK(dcs_file_truncate(f, (long long)m->len + 1) == EINVAL);
        return;
    }
    m->len = m->len * arg / 255;
    CHECK(dcs_file_truncate(f, (long long)m->len) == 0);
}

static void op_reopen(dcs_file *f, model *m, unsigned arg)
{
    CHECK(dcs_file_close(f) == 0);
    CHECK(dcs_file_close(f) == 0);
    CHECK(dcs_file_write(f, "x", 1) == EBADF);
    m->hashes = (int)(arg & 3);
    m->async = m->tiny = 0;
    CHECK(dcs_file_open(f, path, DCS_FILE_EXISTING, m->hashes) == 0);
}

static void op_drop(dcs_file *f, model *m, unsigned arg)
{
    if (m->async) {
        CHECK(dcs_file_drop_digests(f, (int)(arg & 3)) == EBUSY);
        return;
    }
    CHECK(dcs_file_drop_digests(f, (int)(arg & 3)) == 0);
    m->hashes &= ~(int)(arg & 3);
}

static void run_op(dcs_file *f, model *m, unsigned op, unsigned arg, const uint8_t **p,
                   const uint8_t *end)
{
    switch (op % 8) {
    case 0: op_write(f, m, p, end, (op & 8) && !m->tiny ? arg * 97 : arg); break;
    case 1: op_truncate(f, m, op, arg); break;
    case 2: check_digests(f, m); break;
    case 3:
        CHECK(dcs_file_async_begin(f, arg == 255 ? 0 : arg < 16 ? 1 + arg : arg << 10) == 0);
        if (!m->async) {
            m->tiny = arg < 16;
            m->async = m->hashes != 0;
        }
        break;
    case 4: CHECK(dcs_file_async_end(f) == 0); m->async = m->tiny = 0; break;
    case 5: op_reopen(f, m, arg); break;
    case 6: op_drop(f, m, arg); break;
    default: check_read_small(m, (size_t)arg * 16); break;
    }
    CHECK(f->size == (long long)m->len && f->error == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char bytes[MODEL_MAX];
    const uint8_t *p = data + 1, *end = data + size;
    dcs_file f;
    model m;

    if (size < 1)
        return 0;
    if (path[0] == '\0')
        snprintf(path, sizeof path, "/tmp/fuzz_file.%ld", (long)getpid());
    unlink(path);
    m.bytes = bytes;
    m.len = 0;
    m.hashes = data[0] & 3;
    m.async = 0;
    m.tiny = 0;
    dcs_file_init(&f);
    CHECK(dcs_file_open(&f, path, DCS_FILE_NEW, m.hashes) == 0);
    CHECK(dcs_file_open(&f, path, DCS_FILE_NEW, m.hashes) == EBUSY);
    while (end - p >= 2) {
        unsigned op = p[0], arg = p[1];
        p += 2;
        run_op(&f, &m, op, arg, &p, end);
    }
    check_digests(&f, &m);
    check_disk(&f, &m);
    check_read_small(&m, MODEL_MAX);
    CHECK(dcs_file_close(&f) == 0);
    unlink(path);
    return 0;
}
