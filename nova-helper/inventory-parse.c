/* inventory-parse.c: sysfs/procfs text formats (pure: no I/O). */
#include <string.h>

#include "inventory-parse.h"
#include "kt-error.h"

/* The kernel ends attribute files with one newline; tolerate any surrounding
 * whitespace but nothing else.  Returns a trimmed copy. */
static char *
trimmed(const char *text)
{
    return g_strstrip(g_strdup(text));
}

gboolean
kt_sysfs_parse_uint(const char *text, guint64 max, guint64 *ret, GError **error)
{
    g_autofree char *s = trimmed(text);
    g_autoptr(GError) err = NULL;
    guint64 v = 0;
    guint base = 10;
    const char *digits = s;

    if (g_str_has_prefix(s, "0x") || g_str_has_prefix(s, "0X")) {
        base = 16;
        digits = s + 2;
    }
    /* g_ascii_string_to_unsigned accepts a leading '+'; sysfs never writes one. */
    if (!g_ascii_isxdigit(digits[0]) ||
        !g_ascii_string_to_unsigned(digits, base, 0, max, &v, &err)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "'%.40s' is not a number in 0..%" G_GUINT64_FORMAT, s, max);
        return FALSE;
    }
    *ret = v;
    return TRUE;
}

gboolean
kt_sysfs_parse_int(const char *text, gint64 min, gint64 max, gint64 *ret, GError **error)
{
    g_autofree char *s = trimmed(text);
    gint64 v = 0;
    const char *p = s[0] == '-' ? s + 1 : s;

    if (!g_ascii_isdigit(p[0]) ||
        !g_ascii_string_to_signed(s, 10, min, max, &v, NULL)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "'%.40s' is not a number in %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
                    s, min, max);
        return FALSE;
    }
    *ret = v;
    return TRUE;
}

KtCpuset *
kt_sysfs_parse_cpulist(const char *text, GError **error)
{
    g_autofree char *s = trimmed(text);
    g_autoptr(GError) err = NULL;
    KtCpuset *set = NULL;

    /* libvirt's syntax is a superset of the kernel's list format except for
     * '^' exclusions, which the kernel never writes: refuse them. */
    if (strchr(s, '^')) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "'%.40s' is not a CPU list", s);
        return NULL;
    }
    set = kt_cpuset_parse(s, &err);
    if (!set) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "'%.40s' is not a CPU list: %s",
                    s, err->message);
        return NULL;
    }
    return set;
}

gboolean
kt_sysfs_parse_meminfo(const char *text, guint64 *ret_total_kib, guint64 *ret_free_kib,
                       GError **error)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    guint64 total = 0, free_kib = 0;
    bool have_total = false, have_free = false;
    guint i;

    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) tok = g_strsplit_set(lines[i], " \t", -1);
        const char *key = NULL, *value = NULL, *unit = NULL;
        guint j, n = 0;
        guint64 v = 0;

        /* "Node 0 MemTotal: 1073741824 kB" or "MemTotal: 1073741824 kB":
         * the key is the first token ending in ':', then value and unit. */
        for (j = 0; tok[j]; j++) {
            if (tok[j][0] == '\0')
                continue;
            if (!key) {
                if (g_str_has_suffix(tok[j], ":"))
                    key = tok[j];
            } else if (n == 0) {
                value = tok[j];
                n++;
            } else if (n == 1) {
                unit = tok[j];
                n++;
            } else {
                n++;
            }
        }
        if (!key || (strcmp(key, "MemTotal:") != 0 && strcmp(key, "MemFree:") != 0))
            continue;
        if (!value || !unit || n != 2 || strcmp(unit, "kB") != 0) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "line %u: malformed '%s' line",
                        i + 1, key);
            return FALSE;
        }
        if (!kt_sysfs_parse_uint(value, G_MAXUINT64 / 1024, &v, error)) {
            g_prefix_error(error, "line %u: ", i + 1);
            return FALSE;
        }
        if (strcmp(key, "MemTotal:") == 0) {
            total = v;
            have_total = true;
        } else {
            free_kib = v;
            have_free = true;
        }
    }
    if (!have_total || !have_free) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "no %s line",
                    have_total ? "MemFree" : "MemTotal");
        return FALSE;
    }
    if (free_kib > total) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "MemFree %" G_GUINT64_FORMAT " kB exceeds MemTotal %" G_GUINT64_FORMAT " kB",
                    free_kib, total);
        return FALSE;
    }
    *ret_total_kib = total;
    *ret_free_kib = free_kib;
    return TRUE;
}

gboolean
kt_sysfs_parse_distances(const char *text, guint **ret_dist, guint *ret_n, GError **error)
{
    g_auto(GStrv) tok = g_strsplit_set(text, " \t\n", -1);
    g_autoptr(GArray) dist = g_array_new(FALSE, FALSE, sizeof(guint));
    guint i;

    for (i = 0; tok[i]; i++) {
        guint64 v = 0;
        guint d;

        if (tok[i][0] == '\0')
            continue;
        if (dist->len >= 1024) {
            g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE, "more than 1024 distances");
            return FALSE;
        }
        if (!kt_sysfs_parse_uint(tok[i], 255, &v, error))
            return FALSE;
        d = (guint)v;
        g_array_append_val(dist, d);
    }
    if (dist->len == 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "no distances");
        return FALSE;
    }
    *ret_n = dist->len;
    *ret_dist = (guint *)(void *)g_array_free(g_steal_pointer(&dist), FALSE);
    return TRUE;
}

bool
kt_sysfs_parse_hugepage_dir(const char *name, guint64 *ret_size_kib)
{
    g_autofree char *num = NULL;
    size_t len;
    guint64 v = 0;

    if (!g_str_has_prefix(name, "hugepages-") || !g_str_has_suffix(name, "kB"))
        return false;
    len = strlen(name) - strlen("hugepages-") - strlen("kB");
    if (len == 0 || len > 20)
        return false;
    num = g_strndup(name + strlen("hugepages-"), len);
    if (!g_ascii_isdigit(num[0]) ||
        !g_ascii_string_to_unsigned(num, 10, 4, G_MAXUINT64 / 1024, &v, NULL))
        return false;
    *ret_size_kib = v;
    return true;
}

static bool
isolcpus_flag(const char *s, size_t len)
{
    static const char *const flags[] = { "nohz", "domain", "managed_irq" };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(flags); i++) {
        if (strlen(flags[i]) == len && strncmp(s, flags[i], len) == 0)
            return true;
    }
    return false;
}

gboolean
kt_sysfs_parse_cmdline_cpus(const char *cmdline, const char *key, KtCpuset **ret,
                            GError **error)
{
    g_auto(GStrv) words = g_strsplit_set(cmdline, " \t\n", -1);
    g_autofree char *prefix = g_strdup_printf("%s=", key);
    const char *value = NULL;
    g_autoptr(KtCpuset) set = NULL;
    guint i;

    for (i = 0; words[i]; i++) {
        if (strcmp(words[i], "--") == 0)
            break;
        if (g_str_has_prefix(words[i], prefix))
            value = words[i] + strlen(prefix);
    }
    if (!value) {
        *ret = NULL;
        return TRUE;
    }
    if (strcmp(key, "isolcpus") == 0) {
        /* isolcpus=[flag,...,]<cpu-list>: flags are words, the list starts
         * with a digit. */
        while (g_ascii_isalpha(value[0])) {
            const char *comma = strchr(value, ',');
            size_t len = comma ? (size_t)(comma - value) : strlen(value);

            if (!isolcpus_flag(value, len)) {
                g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                            "%s=: unknown flag '%.*s'", key, (int)MIN(len, 40), value);
                return FALSE;
            }
            if (!comma) {
                value = "";
                break;
            }
            value = comma + 1;
        }
    }
    set = kt_sysfs_parse_cpulist(value, error);
    if (!set) {
        g_prefix_error(error, "%s=: ", key);
        return FALSE;
    }
    *ret = g_steal_pointer(&set);
    return TRUE;
}

bool
kt_sysfs_pci_address_valid(const char *addr)
{
    /* dddd:bb:dd.f, all hex lowercase, function 0-7. */
    static const char pattern[] = "xxxx:xx:xx.f";
    gsize i;

    if (strlen(addr) != sizeof(pattern) - 1)
        return false;
    for (i = 0; i < sizeof(pattern) - 1; i++) {
        char c = addr[i];

        switch (pattern[i]) {
        case 'x':
            if (!g_ascii_isdigit(c) && !(c >= 'a' && c <= 'f'))
                return false;
            break;
        case 'f':
            if (c < '0' || c > '7')
                return false;
            break;
        default:
            if (c != pattern[i])
                return false;
            break;
        }
    }
    return true;
}

bool
kt_sysfs_name_valid(const char *name)
{
    size_t len = strlen(name);
    size_t i;

    if (len == 0 || len > 255 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (i = 0; i < len; i++) {
        if (name[i] == '/' || !g_ascii_isprint(name[i]))
            return false;
    }
    return true;
}
