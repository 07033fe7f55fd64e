/* pve-file.h: the file edges of the Proxmox integration: bounded reads,
 * atomic replacement (temp file + fsync + rename in the same directory, as
 * Proxmox's own file_set_contents does, so pmxcfs accepts it) and advisory
 * locks.  All fds are O_CLOEXEC. */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* Reads @path whole.  FALSE + @error: KT_ERROR_NOT_FOUND when it does not
 * exist, KT_ERROR_TOO_LARGE above @max bytes, KT_ERROR_IO otherwise.
 * *ret_data is NUL-terminated; caller frees. */
gboolean kt_pve_file_read(const char *path, gsize max, char **ret_data,
                          gsize *ret_len, GError **error);

/* Replaces @path with @len bytes of @data atomically: a reader sees the old
 * or the new file, never a mix, and a crash leaves one of them.  A new
 * file gets @mode; an existing one keeps its mode and owner (best effort).
 * The temp file "<path>.tmp.<pid>" is removed on failure. */
gboolean kt_pve_file_write_atomic(const char *path, const char *data, gsize len,
                                  mode_t mode, GError **error);

/* Removes @path and syncs its directory; a missing file is not an error. */
gboolean kt_pve_file_remove(const char *path, GError **error);

/* Takes an exclusive flock on @path (created 0600 if missing), waiting at
 * most @timeout_s seconds.  Returns the fd (close it to unlock) or -1 with
 * @error (KT_ERROR_IO, "timed out" after the wait). */
int kt_pve_file_lock(const char *path, guint timeout_s, GError **error);
