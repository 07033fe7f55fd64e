/* pve-conf.c: Proxmox VM config lines, read like PVE::QemuServer's
 * parse_vm_config() and edited without reformatting anything else. */
#include "pve-conf.h"
#include "kt-error.h"

#include <string.h>

typedef enum {
    LINE_BLANK,
    LINE_COMMENT,
    LINE_SECTION,
    LINE_KEY,
    LINE_OTHER,           /* Proxmox would warn about it; we just keep it */
} LineKind;

typedef struct {
    char *text;           /* the line without its '\n' */
    LineKind kind;
    char *key;            /* KEY: the key; SECTION: the section name */
    char *value;          /* KEY: the value, trimmed */
    guint section;        /* 0: running config; n: after the n-th header */
} Line;

struct _KtPveConf {
    GPtrArray *lines;     /* Line* */
    bool final_newline;   /* the text ended with '\n' */
};

static void
line_free(gpointer data)
{
    Line *l = data;

    g_free(l->text);
    g_free(l->key);
    g_free(l->value);
    g_free(l);
}

static bool
is_blank(char c)
{
    /* Perl's \s: space, \t, \n, \v, \f, \r */
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Length of a key at @s ([a-z][a-z_]*[0-9]*), 0 when there is none. */
static gsize
key_span(const char *s)
{
    gsize i = 0;

    if (!(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    i = 1;
    while ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_')
        i++;
    while (s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

bool
kt_pve_conf_key_valid(const char *key)
{
    gsize n;

    if (!key)
        return false;
    n = key_span(key);
    return n > 0 && key[n] == '\0';
}

static bool
all_blank(const char *s)
{
    for (; *s; s++) {
        if (!is_blank(*s))
            return false;
    }
    return true;
}

/* "[name]" followed by blanks: Proxmox's snapshot names
 * [a-z][a-z0-9_-]+ (case-insensitive), plus "special:<name>". */
static char *
parse_section(const char *s)
{
    const char *p = s + 1;
    const char *start;

    if (s[0] != '[')
        return NULL;
    start = p;
    if (g_str_has_prefix(p, "special:"))
        p += strlen("special:");
    if (!g_ascii_isalpha(*p))
        return NULL;
    p++;
    while (g_ascii_isalnum(*p) || *p == '_' || *p == '-')
        p++;
    if (p - start < 2 || *p != ']' || !all_blank(p + 1))
        return NULL;
    return g_strndup(start, p - start);
}

static void
classify(Line *l)
{
    const char *t = l->text;
    gsize n;

    g_clear_pointer(&l->key, g_free);
    g_clear_pointer(&l->value, g_free);
    if (all_blank(t)) {
        l->kind = LINE_BLANK;
        return;
    }
    if (t[0] == '#') {
        l->kind = LINE_COMMENT;
        return;
    }
    if ((l->key = parse_section(t))) {
        l->kind = LINE_SECTION;
        return;
    }
    n = key_span(t);
    if (n > 0 && t[n] == ':') {
        const char *v = t + n + 1;
        const char *end;

        while (*v && is_blank(*v))
            v++;
        end = v + strlen(v);
        while (end > v && is_blank(end[-1]))
            end--;
        if (end > v) {
            l->kind = LINE_KEY;
            l->key = g_strndup(t, n);
            l->value = g_strndup(v, end - v);
            return;
        }
    }
    l->kind = LINE_OTHER;
}

KtPveConf *
kt_pve_conf_parse(const char *text, gsize len, GError **error)
{
    g_autoptr(KtPveConf) conf = NULL;
    gsize pos = 0;
    guint section = 0;
    guint lineno = 0;

    if (len > KT_PVE_CONF_MAX) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "config is %" G_GSIZE_FORMAT " bytes, more than the %d allowed",
                    len, KT_PVE_CONF_MAX);
        return NULL;
    }
    g_return_val_if_fail(text || len == 0, NULL);

    conf = g_new0(KtPveConf, 1);
    conf->lines = g_ptr_array_new_with_free_func(line_free);
    conf->final_newline = len > 0 && text[len - 1] == '\n';

    while (pos < len) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        gsize n = nl ? (gsize)(nl - start) : len - pos;
        Line *l;

        lineno++;
        if (memchr(start, '\0', n)) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "line %u: NUL byte in config", lineno);
            return NULL;
        }
        l = g_new0(Line, 1);
        l->text = g_strndup(start, n);
        classify(l);
        if (l->kind == LINE_SECTION)
            section++;
        l->section = section;
        g_ptr_array_add(conf->lines, l);
        pos += n + 1;
    }
    return g_steal_pointer(&conf);
}

void
kt_pve_conf_free(KtPveConf *conf)
{
    if (!conf)
        return;
    g_ptr_array_unref(conf->lines);
    g_free(conf);
}

/* Section number of @name (case-insensitive), -1 when absent. */
static int
find_section(const KtPveConf *conf, const char *name)
{
    guint i;

    if (!name)
        return 0;
    for (i = 0; i < conf->lines->len; i++) {
        const Line *l = g_ptr_array_index(conf->lines, i);

        if (l->kind == LINE_SECTION && g_ascii_strcasecmp(l->key, name) == 0)
            return (int)l->section;
    }
    return -1;
}

const char *
kt_pve_conf_get_in(const KtPveConf *conf, const char *section, const char *key)
{
    const char *found = NULL;
    int s;
    guint i;

    g_return_val_if_fail(conf && key, NULL);
    s = find_section(conf, section);
    if (s < 0)
        return NULL;
    for (i = 0; i < conf->lines->len; i++) {
        const Line *l = g_ptr_array_index(conf->lines, i);

        if (l->section == (guint)s && l->kind == LINE_KEY && strcmp(l->key, key) == 0)
            found = l->value;
    }
    return found;
}

const char *
kt_pve_conf_get(const KtPveConf *conf, const char *key)
{
    return kt_pve_conf_get_in(conf, NULL, key);
}

GPtrArray *
kt_pve_conf_list_keys_in(const KtPveConf *conf, const char *section)
{
    GPtrArray *keys = g_ptr_array_new();
    int s = find_section(conf, section);
    guint i, j;

    for (i = 0; s >= 0 && i < conf->lines->len; i++) {
        const Line *l = g_ptr_array_index(conf->lines, i);
        bool seen = false;

        if (l->section != (guint)s || l->kind != LINE_KEY)
            continue;
        for (j = 0; j < keys->len && !seen; j++)
            seen = strcmp(g_ptr_array_index(keys, j), l->key) == 0;
        if (!seen)
            g_ptr_array_add(keys, l->key);
    }
    return keys;
}

GPtrArray *
kt_pve_conf_list_keys(const KtPveConf *conf)
{
    return kt_pve_conf_list_keys_in(conf, NULL);
}

GPtrArray *
kt_pve_conf_list_sections(const KtPveConf *conf)
{
    GPtrArray *names = g_ptr_array_new();
    guint i;

    for (i = 0; i < conf->lines->len; i++) {
        const Line *l = g_ptr_array_index(conf->lines, i);

        if (l->kind == LINE_SECTION)
            g_ptr_array_add(names, l->key);
    }
    return names;
}

static void
append_decoded(GString *out, const char *s)
{
    while (*s) {
        if (s[0] == '%' && g_ascii_isxdigit(s[1]) && g_ascii_isxdigit(s[2])) {
            g_string_append_c(out, (char)(g_ascii_xdigit_value(s[1]) * 16 +
                                          g_ascii_xdigit_value(s[2])));
            s += 3;
        } else {
            g_string_append_c(out, *s++);
        }
    }
}

char *
kt_pve_conf_description(const KtPveConf *conf)
{
    g_autoptr(GString) out = NULL;
    guint i;

    for (i = 0; i < conf->lines->len; i++) {
        const Line *l = g_ptr_array_index(conf->lines, i);

        if (l->section != 0 || l->kind != LINE_COMMENT)
            continue;
        if (!out)
            out = g_string_new(NULL);
        append_decoded(out, l->text + 1);
        g_string_append_c(out, '\n');
    }
    if (!out)
        return NULL;
    /* Proxmox strips trailing whitespace from the joined description. */
    while (out->len > 0 && is_blank(out->str[out->len - 1]))
        g_string_truncate(out, out->len - 1);
    return g_string_free(g_steal_pointer(&out), FALSE);
}

static bool
value_valid(const char *value)
{
    const char *p;

    if (!value || !*value || is_blank(value[0]) || is_blank(value[strlen(value) - 1]))
        return false;
    for (p = value; *p; p++) {
        if (*p == '\n' || *p == '\r')
            return false;
    }
    return true;
}

/* Where a new key goes: before the first running-config key line that
 * sorts after it (Proxmox writes keys sorted), else after the last
 * non-blank line of the running config. */
static guint
insert_position(const KtPveConf *conf, const char *key)
{
    guint after = 0;
    guint i;

    for (i = 0; i < conf->lines->len; i++) {
        const Line *l = g_ptr_array_index(conf->lines, i);

        if (l->section != 0)
            break;
        if (l->kind == LINE_KEY && strcmp(l->key, key) > 0)
            return i;
        if (l->kind != LINE_BLANK)
            after = i + 1;
    }
    return after;
}

gboolean
kt_pve_conf_set(KtPveConf *conf, const char *key, const char *value, GError **error)
{
    Line *first = NULL;
    guint i;

    g_return_val_if_fail(conf && key, FALSE);
    if (!kt_pve_conf_key_valid(key)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "invalid config key '%s'", key);
        return FALSE;
    }
    if (!value_valid(value)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "invalid value for config key '%s'", key);
        return FALSE;
    }

    for (i = 0; i < conf->lines->len;) {
        Line *l = g_ptr_array_index(conf->lines, i);

        if (l->section != 0)
            break;
        if (l->kind == LINE_KEY && strcmp(l->key, key) == 0) {
            if (!first) {
                first = l;
            } else {
                g_ptr_array_remove_index(conf->lines, i);
                continue;
            }
        }
        i++;
    }

    if (!first) {
        first = g_new0(Line, 1);
        g_ptr_array_insert(conf->lines, (gint)insert_position(conf, key), first);
        /* A file without any newline gets one between old and new text. */
        if (conf->lines->len == 1)
            conf->final_newline = true;
    }
    g_free(first->text);
    first->text = g_strdup_printf("%s: %s", key, value);
    first->section = 0;
    classify(first);
    return TRUE;
}

bool
kt_pve_conf_remove(KtPveConf *conf, const char *key)
{
    bool removed = false;
    guint i;

    for (i = 0; i < conf->lines->len;) {
        Line *l = g_ptr_array_index(conf->lines, i);

        if (l->section != 0)
            break;
        if (l->kind == LINE_KEY && strcmp(l->key, key) == 0) {
            g_ptr_array_remove_index(conf->lines, i);
            removed = true;
            continue;
        }
        i++;
    }
    return removed;
}

char *
kt_pve_conf_format(const KtPveConf *conf, gsize *ret_len)
{
    GString *out = g_string_new(NULL);
    guint i;

    for (i = 0; i < conf->lines->len; i++) {
        const Line *l = g_ptr_array_index(conf->lines, i);

        if (i > 0)
            g_string_append_c(out, '\n');
        g_string_append(out, l->text);
    }
    if (conf->final_newline && conf->lines->len > 0)
        g_string_append_c(out, '\n');
    if (ret_len)
        *ret_len = out->len;
    return g_string_free(out, FALSE);
}
