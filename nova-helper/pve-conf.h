/* pve-conf.h: KtPveConf, a Proxmox VE VM config (qemu-server/<vmid>.conf)
 * read the way Proxmox reads it and edited line by line.  Pure; no I/O.
 *
 * Proxmox's format: '\n'-separated lines; blank lines skipped; "#..." lines
 * are the description (Proxmox writes it as leading comments); "key: value"
 * with key [a-z][a-z_]*[0-9]*; "[name]" opens a snapshot section,
 * "[PENDING]" the pending changes, "[special:cloudinit]" cloud-init state.
 * Only the lines before the first section are the running config, so only
 * they are read and edited here.  Every other byte (comments, snapshots,
 * pending, unknown keys, odd lines, spacing, a missing final newline) comes
 * out of kt_pve_conf_format() exactly as it went in. */
#pragma once

#include <glib.h>
#include <stdbool.h>

/* Bound on a config file; pmxcfs itself refuses files above 1 MiB. */
#define KT_PVE_CONF_MAX (1024 * 1024)

typedef struct _KtPveConf KtPveConf;

/* Parses @len bytes of @text (need not be NUL-terminated).  NULL + @error
 * when the text is larger than KT_PVE_CONF_MAX (KT_ERROR_TOO_LARGE) or holds
 * a NUL byte (KT_ERROR_PARSE, "line N: ...").  Lines Proxmox would warn
 * about are kept untouched, not refused. */
KtPveConf *kt_pve_conf_parse(const char *text, gsize len, GError **error);
void kt_pve_conf_free(KtPveConf *conf);                /* NULL is a no-op */

/* Value of @key in the running config (the last line wins, as in Proxmox),
 * trimmed; NULL when absent.  Owned by @conf, valid until it is edited. */
const char *kt_pve_conf_get(const KtPveConf *conf, const char *key);
/* Same for a section: "PENDING", "special:cloudinit" or a snapshot name
 * (NULL: the running config).  Section names compare case-insensitively. */
const char *kt_pve_conf_get_in(const KtPveConf *conf, const char *section,
                               const char *key);
/* Keys of the running config in file order, each once; caller frees the
 * array (the strings belong to @conf). */
GPtrArray *kt_pve_conf_list_keys(const KtPveConf *conf);
/* Same for a section (NULL: the running config). */
GPtrArray *kt_pve_conf_list_keys_in(const KtPveConf *conf, const char *section);
/* Section names ("PENDING", snapshot names) in file order; caller frees
 * the array (the strings belong to @conf). */
GPtrArray *kt_pve_conf_list_sections(const KtPveConf *conf);
/* The description as Proxmox shows it: the running config's comment lines
 * without '#', percent-decoded, joined with '\n'; NULL when none.
 * Caller frees. */
char *kt_pve_conf_description(const KtPveConf *conf);

/* True when @key is a valid Proxmox config key ([a-z][a-z_]*[0-9]*). */
bool kt_pve_conf_key_valid(const char *key);

/* Sets @key to @value in the running config: the first line holding the
 * key is rewritten in place ("key: value") and later duplicates removed; a
 * new key goes where Proxmox's sorted order puts it among the key lines.
 * FALSE + @error (KT_ERROR_INVALID) for an invalid key or a value that is
 * empty, has a line break or surrounding blanks. */
gboolean kt_pve_conf_set(KtPveConf *conf, const char *key, const char *value,
                         GError **error);
/* Removes every line of @key from the running config; true if any was. */
bool kt_pve_conf_remove(KtPveConf *conf, const char *key);

/* The whole file; caller frees.  @ret_len may be NULL. */
char *kt_pve_conf_format(const KtPveConf *conf, gsize *ret_len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPveConf, kt_pve_conf_free)
