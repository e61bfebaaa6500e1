/* Files a download writes into, opened so that no one else's file or link
 * is ever written through them.  Pure C: no Lua types.
 *
 *  - DCS_FILE_NEW creates the file with O_CREAT|O_EXCL|O_NOFOLLOW, mode
 *    0600: it fails (EEXIST, ELOOP) when anything, a symlink included,
 *    already has that name.
 *  - DCS_FILE_EXISTING reopens a file this process made earlier (a partial
 *    download to resume) with O_NOFOLLOW, and keeps it only when it is a
 *    regular file, owned by the effective user, with one link.
 *
 * With hashing on, the SHA-256 of the whole content is kept as bytes are
 * written (an existing file's bytes are read once when it is opened), so a
 * digest never needs a second pass over the file.
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

enum { DCS_FILE_NEW = 0, DCS_FILE_EXISTING = 1 };

/* Why an open or read was refused beyond errno: */
enum {
    DCS_FILE_ENOTREG = -1,      /* not a regular file */
    DCS_FILE_ENOTOWNER = -2,    /* owned by another user */
    DCS_FILE_ELINKS = -3,       /* more than one hard link */
    DCS_FILE_ESYMLINK = -4,     /* the name is a symbolic link */
    DCS_FILE_ETOOLARGE = -5     /* dcs_file_read_small: over the limit */
};

typedef struct dcs_file {
    int fd;                     /* -1 when closed or never opened */
    long long size;             /* bytes in the file; the write offset */
    int error;                  /* sticky: 0, or the code of the failed write */
    int hashing;
    mbedtls_md_context_t sha;   /* set up while hashing */
} dcs_file;

/* Every function returns 0 on success, else an errno value (or one of the
 * negative codes above); dcs_file_strerror and dcs_file_code_name name
 * either kind. */
DCS_INTERNAL void dcs_file_init(dcs_file *f);   /* closed, safe to close again */
DCS_INTERNAL int  dcs_file_open(dcs_file *f, const char *path, int mode, int hash);
/* All n bytes or an error (short writes and EINTR are retried). */
DCS_INTERNAL int  dcs_file_write(dcs_file *f, const void *data, size_t n);
/* Drops every byte from `size` on (0 <= size <= f->size, else EINVAL); the
 * hash is started over from the bytes kept and a sticky error is cleared. */
DCS_INTERNAL int  dcs_file_truncate(dcs_file *f, long long size);
DCS_INTERNAL int  dcs_file_sync(dcs_file *f);
/* Hex SHA-256 of the content so far; the file stays open for more.  EINVAL
 * when the file was opened without hashing. */
DCS_INTERNAL int  dcs_file_sha256(dcs_file *f, char out[65]);
DCS_INTERNAL int  dcs_file_close(dcs_file *f);  /* idempotent */
/* A sentence ("No space left on device", "it is a symbolic link"). */
DCS_INTERNAL const char *dcs_file_strerror(int code);
/* A short stable name for programs: "exists", "symlink", "not_regular",
 * "not_owner", "links", "not_found", "too_large", else the lower-case errno
 * name ("eacces", "enospc", ...). */
DCS_INTERNAL const char *dcs_file_code_name(int code);

/* Reads a whole regular file of at most max bytes into *out (malloc'd,
 * NUL-terminated) without blocking on a FIFO or reading a device. */
DCS_INTERNAL int dcs_file_read_small(const char *path, size_t max, char **out, size_t *len);

#endif
