/* nova-conf.c: the settings of nova.conf kvmtune checks against, read the
 * way oslo.config's iniparser reads them:
 *   - "[section]" lines; "#" or ";" in column 0 starts a comment;
 *   - "key = value" or "key: value" (the first of '=' / ':' splits);
 *   - a line starting with blank space continues the previous value, a blank
 *     line ends it; continuation lines are joined with "\n";
 *   - no inline comments (oslo keeps "x # y" as the value);
 *   - the last assignment of a key wins; matching quotes are stripped.
 * Bounded: 1 MiB of text, 64 KiB per value. */
#include <string.h>

#include "kt-error.h"
#include "nova-conf.h"

#define MAX_CONF_SIZE (1024 * 1024)
#define MAX_VALUE (64 * 1024)

typedef struct {
    char *section;
    char *key;
    GString *value;
    guint line;
} IniEntry;

static void
ini_entry_free(IniEntry *e)
{
    g_free(e->section);
    g_free(e->key);
    if (e->value)
        g_string_free(e->value, TRUE);
    g_free(e);
}

static char *
unquote(char *v)
{
    gsize n = strlen(v);

    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
        memmove(v, v + 1, n - 2);
        v[n - 2] = '\0';
    }
    return v;
}

/* Entries in file order; NULL + @error on a malformed line. */
static GPtrArray *
ini_parse(const char *path, const char *text, gsize len, GError **error)
{
    g_autoptr(GPtrArray) entries =
        g_ptr_array_new_with_free_func((GDestroyNotify)ini_entry_free);
    g_autofree char *section = NULL;
    IniEntry *cur = NULL;      /* the assignment continuation lines extend */
    const char *p = text;
    const char *end = text + len;
    guint lineno = 0;

    if (memchr(text, '\0', len)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s: contains a NUL byte", path);
        return NULL;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        const char *stop = nl ? nl : end;
        g_autofree char *line = g_strndup(p, stop - p);
        char *sep;

        p = nl ? nl + 1 : end;
        lineno++;
        g_strchomp(line);
        if (!*line) {
            cur = NULL;
            continue;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            if (!cur) {
                g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                            "%s:%u: continuation line without an assignment", path, lineno);
                return NULL;
            }
            g_string_append_c(cur->value, '\n');
            g_string_append(cur->value, g_strchug(line));
            if (cur->value->len > MAX_VALUE) {
                g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                            "%s:%u: value longer than %d bytes", path, cur->line, MAX_VALUE);
                return NULL;
            }
            continue;
        }
        cur = NULL;
        if (line[0] == '[') {
            char *close = strchr(line, ']');

            if (!close || close == line + 1) {
                g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                            "%s:%u: malformed section header", path, lineno);
                return NULL;
            }
            g_free(section);
            section = g_strndup(line + 1, close - line - 1);
            continue;
        }
        if (line[0] == '#' || line[0] == ';')
            continue;
        sep = strpbrk(line, "=:");
        if (!sep || sep == line) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "%s:%u: expected 'key = value'", path, lineno);
            return NULL;
        }
        *sep = '\0';
        cur = g_new0(IniEntry, 1);
        cur->section = g_strdup(section ? section : "");
        cur->key = g_strdup(g_strstrip(line));
        cur->value = g_string_new(unquote(g_strstrip(sep + 1)));
        cur->line = lineno;
        g_ptr_array_add(entries, cur);
        if (!*cur->key) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s:%u: empty key", path, lineno);
            return NULL;
        }
    }
    return g_steal_pointer(&entries);
}

static const IniEntry *
ini_last(GPtrArray *entries, const char *section, const char *key)
{
    guint i;

    for (i = entries->len; i > 0; i--) {
        const IniEntry *e = entries->pdata[i - 1];

        if (strcmp(e->key, key) == 0 && g_ascii_strcasecmp(e->section, section) == 0)
            return e;
    }
    return NULL;
}

/* A CPU set option; an empty value means unset, as in Nova. */
static gboolean
get_cpuset(const char *path, GPtrArray *entries, const char *section, const char *key,
           KtCpuset **ret_set, guint *ret_line, GError **error)
{
    const IniEntry *e = ini_last(entries, section, key);
    g_autofree char *flat = NULL;
    g_autoptr(GError) err = NULL;
    KtCpuset *set;

    if (!e || e->value->len == 0)
        return TRUE;
    flat = g_strdelimit(g_strdup(e->value->str), "\n", ' ');
    set = kt_cpuset_parse(flat, &err);
    if (!set) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s:%u: [%s] %s: %s",
                    path, e->line, section, key, err->message);
        return FALSE;
    }
    *ret_set = set;
    *ret_line = e->line;
    return TRUE;
}

void
kt_nova_conf_free(KtNovaConf *conf)
{
    if (!conf)
        return;
    g_free(conf->path);
    kt_cpuset_free(conf->cpu_dedicated_set);
    kt_cpuset_free(conf->cpu_shared_set);
    kt_cpuset_free(conf->vcpu_pin_set);
    g_free(conf->connection_uri);
    g_free(conf);
}

KtNovaConf *
kt_nova_conf_parse(const char *path, const char *text, gsize len, GError **error)
{
    g_autoptr(KtNovaConf) conf = g_new0(KtNovaConf, 1);
    g_autoptr(GPtrArray) entries = NULL;
    const IniEntry *e;

    if (len > MAX_CONF_SIZE) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "%s: %" G_GSIZE_FORMAT " bytes, the limit is %d", path, len, MAX_CONF_SIZE);
        return NULL;
    }
    conf->path = g_strdup(path);
    entries = ini_parse(path, text ? text : "", len, error);
    if (!entries)
        return NULL;
    if (!get_cpuset(path, entries, "compute", "cpu_dedicated_set",
                    &conf->cpu_dedicated_set, &conf->cpu_dedicated_set_line, error) ||
        !get_cpuset(path, entries, "compute", "cpu_shared_set",
                    &conf->cpu_shared_set, &conf->cpu_shared_set_line, error) ||
        !get_cpuset(path, entries, "DEFAULT", "vcpu_pin_set",
                    &conf->vcpu_pin_set, &conf->vcpu_pin_set_line, error))
        return NULL;
    e = ini_last(entries, "libvirt", "connection_uri");
    if (e && e->value->len > 0) {
        conf->connection_uri = g_strdup(e->value->str);
        conf->connection_uri_line = e->line;
    }
    return g_steal_pointer(&conf);
}

KtNovaConf *
kt_nova_conf_load(const char *path, GError **error)
{
    g_autoptr(GMappedFile) map = g_mapped_file_new(path, FALSE, error);
    gsize len;

    if (!map)
        return NULL;
    len = g_mapped_file_get_length(map);
    if (len > MAX_CONF_SIZE) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "%s: %" G_GSIZE_FORMAT " bytes, the limit is %d", path, len, MAX_CONF_SIZE);
        return NULL;
    }
    return kt_nova_conf_parse(path, len ? g_mapped_file_get_contents(map) : "", len, error);
}
