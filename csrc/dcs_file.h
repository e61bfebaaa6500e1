/* Files a download writes into, opened so that no one else's file or link
 * is ever written through them.  Pure C: no Lua types.
 *
 *  - DCS_FILE_NEW creates the file with O_CREAT|O_EXCL|O_NOFOLLOW, mode
 *    0600: it fails (EEXIST, ELOOP) when anything, a symlink included,
 *    already has that name.
 *  - DCS_FILE_EXISTING reopens a file this process made earlier (a partial
 *    download to resume) with O_NOFOLLOW, and keeps it only when it is a
 *    regular file, owned by the effective user, with one link.
 *  - dcs_file_lock then takes an exclusive flock on the file, held until
 *    it is closed: a second writer that asks for it too (another download
 *    to the same path, in this process or another) is refused with
 *    DCS_FILE_EINUSE before it truncates or writes the first one's file.
 *
 * With hashing on, the SHA-256 and/or the MD5 of the whole content are kept
 * as bytes are written (an existing file's bytes are read once when it is
 * opened), so a digest never needs a second pass over the file.
 *
 * Hashing runs inline in dcs_file_write, or, between dcs_file_async_begin
 * and dcs_file_async_end, on helper threads (one per digest) fed through a
 * bounded ring: a write stores the bytes with one pwrite, copies them into
 * the ring (waiting while it is full) and returns while the threads hash.
 * Every other call (digest, truncate, close) first waits until the threads
 * have caught up, so what it sees is the same as with inline hashing.  The
 * threads touch only the ring and the digests, never the caller's data or
 * anything else: they are plain C with no Lua in reach.  A dcs_file is
 * used by one thread at a time (its owner's); only the helpers run beside.
 *
 * Errors are sticky: after a failed write the content on disk is no longer
 * known to match `size` and the hash, so every later write and digest fails
 * with the same error until a truncate re-establishes both.
 *
 * The struct is embedded in its owner (the Lua userdata), so a pointer to it
 * stays valid for the owner's life; after dcs_file_close every call fails
 * with EBADF instead of touching a stale descriptor. */
#ifndef DCS_FILE_H
#define DCS_FILE_H

#include <mbedtls/md.h>

#include "dcs_internal.h"
#include "dcs_sha256.h"

enum { DCS_FILE_NEW = 0, DCS_FILE_EXISTING = 1 };

/* The digests to keep (dcs_file_open's `hashes`, a bit set). */
enum { DCS_FILE_SHA256 = 1, DCS_FILE_MD5 = 2 };

/* The ring the helper threads hash from when dcs_file_async_begin is given 0. */
#define DCS_FILE_RING_DEFAULT ((size_t)4 << 20)

typedef struct dcs_file_async dcs_file_async;

/* Why an open or read was refused beyond errno: */
enum {
    DCS_FILE_ENOTREG = -1,      /* not a regular file */
    DCS_FILE_ENOTOWNER = -2,    /* owned by another user */
    DCS_FILE_ELINKS = -3,       /* more than one hard link */
    DCS_FILE_ESYMLINK = -4,     /* the name is a symbolic link */
    DCS_FILE_ETOOLARGE = -5,    /* dcs_file_read_small: over the limit */
    DCS_FILE_EINUSE = -6        /* another writer holds the file's lock */
};

/* One digest the writer keeps: SHA-256 on the CPU's SHA extensions when
 * dcs_sha256_hw() says so (hw), else an mbedTLS context. */
typedef struct dcs_file_digest {
    int hw;
    dcs_sha256 sha;
    mbedtls_md_context_t md;
} dcs_file_digest;

typedef struct dcs_file {
    int fd;                     /* -1 when closed or never opened */
    long long size;             /* bytes in the file; the write offset */
    int error;                  /* sticky: 0, or the code of the failed write */
    int hashing;                /* DCS_FILE_SHA256 | DCS_FILE_MD5: the digests kept */
    dcs_file_digest md[2];      /* [0] SHA-256, [1] MD5, each set up while kept */
    dcs_file_async *async;      /* NULL: hashing runs inline */
} dcs_file;

/* Every function returns 0 on success, else an errno value (or one of the
 * negative codes above); dcs_file_strerror and dcs_file_code_name name
 * either kind. */
DCS_INTERNAL void dcs_file_init(dcs_file *f);   /* closed, safe to close again */
DCS_INTERNAL int  dcs_file_open(dcs_file *f, const char *path, int mode, int hashes);
/* All n bytes or an error (short writes and EINTR are retried). */
DCS_INTERNAL int  dcs_file_write(dcs_file *f, const void *data, size_t n);
/* Drops every byte from `size` on (0 <= size <= f->size, else EINVAL); the
 * hash is started over from the bytes kept and a sticky error is cleared. */
DCS_INTERNAL int  dcs_file_truncate(dcs_file *f, long long size);
/* An exclusive, non-blocking flock on the file until it is closed: 0, or
 * DCS_FILE_EINUSE when another open of it holds one. */
DCS_INTERNAL int  dcs_file_lock(dcs_file *f);
DCS_INTERNAL int  dcs_file_sync(dcs_file *f);
/* Hex SHA-256 of the content so far; the file stays open for more.  EINVAL
 * when the file was opened without DCS_FILE_SHA256. */
DCS_INTERNAL int  dcs_file_sha256(dcs_file *f, char out[65]);
/* Base64 of the MD5 of the content so far, the form of a Content-MD5
 * header (24 characters and a NUL).  EINVAL without DCS_FILE_MD5. */
DCS_INTERNAL int  dcs_file_content_md5(dcs_file *f, char out[25]);
/* Stops keeping the digests in `hashes` (DCS_FILE_SHA256 | DCS_FILE_MD5)
 * from now on, to save their cost (a download whose server sent no
 * Content-MD5).  EBUSY while helper threads run; a digest dropped is gone. */
DCS_INTERNAL int  dcs_file_drop_digests(dcs_file *f, int hashes);
/* Moves hashing to helper threads fed by a ring of ring_bytes (0: the
 * default) until dcs_file_async_end.  0 when they run or there is nothing
 * to hash (or they already run); else why hashing stays inline (ENOMEM,
 * EAGAIN, EBADF...), which is not a failure: writes work the same. */
DCS_INTERNAL int  dcs_file_async_begin(dcs_file *f, size_t ring_bytes);
/* Waits for the threads to hash what is left, joins them, and hashes inline
 * from then on; a no-op when they do not run.  Returns f->error. */
DCS_INTERNAL int  dcs_file_async_end(dcs_file *f);
DCS_INTERNAL int  dcs_file_close(dcs_file *f);  /* idempotent; ends async hashing first */
/* A sentence ("No space left on device", "it is a symbolic link"). */
DCS_INTERNAL const char *dcs_file_strerror(int code);
/* A short stable name for programs: "exists", "symlink", "not_regular",
 * "not_owner", "links", "not_found", "too_large", "in_use", else the
 * lower-case errno name ("eacces", "enospc", ...). */
DCS_INTERNAL const char *dcs_file_code_name(int code);

/* Reads a whole regular file of at most max bytes into *out (malloc'd,
 * NUL-terminated) without blocking on a FIFO or reading a device. */
DCS_INTERNAL int dcs_file_read_small(const char *path, size_t max, char **out, size_t *len);

/* What path is, following symbolic links (stat): "directory", "file" (a
 * regular one) or "other" in *type; 0, or an errno.  Needs no permission
 * on path itself, so a directory that cannot be read is still one. */
DCS_INTERNAL int dcs_file_type(const char *path, const char **type);

#endif
