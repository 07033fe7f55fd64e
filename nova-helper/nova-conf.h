/* nova-conf.h: KtNovaConf, the few settings of a nova.conf that kvmtune must
 * agree with (Nova's own CPU pools), read with a small bounded INI reader
 * that follows oslo.config's syntax (GKeyFile does not: it rejects "key: v",
 * continuation lines and keys outside a section).
 *
 * Parsing is pure; kt_nova_conf_load() is the edge that reads the file. */
#pragma once

#include <glib.h>

#include "cpuset.h"

typedef struct _KtNovaConf KtNovaConf;
struct _KtNovaConf {
    char *path;
    /* [compute] cpu_dedicated_set / cpu_shared_set and the deprecated
     * [DEFAULT] vcpu_pin_set; NULL when unset (or empty); *_line is the
     * 1-based line of the effective (last) assignment. */
    KtCpuset *cpu_dedicated_set;
    guint cpu_dedicated_set_line;
    KtCpuset *cpu_shared_set;
    guint cpu_shared_set_line;
    KtCpuset *vcpu_pin_set;
    guint vcpu_pin_set_line;
    char *connection_uri;        /* [libvirt] connection_uri or NULL */
    guint connection_uri_line;
};

/* Returns NULL + @error (KT_ERROR_PARSE, "file:line: ...") on malformed
 * lines or CPU lists; KT_ERROR_TOO_LARGE past 1 MiB. */
KtNovaConf *kt_nova_conf_parse(const char *path, const char *text, gsize len, GError **error);
KtNovaConf *kt_nova_conf_load(const char *path, GError **error);
void kt_nova_conf_free(KtNovaConf *conf);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtNovaConf, kt_nova_conf_free)
