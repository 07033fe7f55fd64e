/* policy.c: KtPolicy from /etc/kvmtune/policy.yaml.
 *
 * Two passes.  The libyaml event parser builds a small bounded tree (depth,
 * node count, scalar length and document size are capped, aliases are
 * refused), so hostile input costs at most a few MiB and never recursion
 * deeper than MAX_DEPTH.  A second pass walks the tree against the schema of
 * DESIGN.md and collects every problem with its file:line:column and key
 * before failing, so an operator fixes a file in one go. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <yaml.h>

#include "kt-error.h"
#include "policy.h"
#include "policy-note.h"

KT_ENUM_IMPL(kt_thread_policy, KT_THREADS_LAST, "prefer", "isolate", "require");
KT_ENUM_IMPL(kt_emulator_policy, KT_EMULATOR_LAST, "share", "isolate");
KT_ENUM_IMPL(kt_need, KT_NEED_LAST, "required", "best-effort");

#define MAX_DOC_SIZE (1024 * 1024)
#define MAX_DEPTH 16            /* the schema needs 6 */
#define MAX_NODES 65536
#define MAX_SCALAR 65536        /* a CPU list written out one by one fits */
#define MAX_PROFILES 256
#define MAX_RULES 1024
#define MAX_ITEMS 256           /* sriov PFs, GPUs, page sizes, uids, ... */
#define MAX_ERRORS 100
#define MAX_NAME 64             /* profile names end up in XML metadata */

static const char TOP[] = "(top level)";

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(yaml_parser_t, yaml_parser_delete)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(yaml_event_t, yaml_event_delete)

/* ---- the bounded tree ---------------------------------------------------- */

typedef enum {
    YN_SCALAR,
    YN_MAP,
    YN_SEQ,
} YNodeKind;

typedef struct _YNode YNode;
struct _YNode {
    YNodeKind kind;
    guint line;              /* 1-based */
    guint column;
    char *value;             /* YN_SCALAR */
    bool plain;              /* unquoted scalar: "~"/"" may mean null */
    GPtrArray *items;        /* YN_MAP: key, value, key, value...; YN_SEQ */
};

static void
ynode_free(YNode *n)
{
    if (!n)
        return;
    g_free(n->value);
    if (n->items)
        g_ptr_array_unref(n->items);
    g_free(n);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(YNode, ynode_free)

static YNode *
ynode_new(YNodeKind kind, const yaml_mark_t *mark)
{
    YNode *n = g_new0(YNode, 1);

    n->kind = kind;
    n->line = (guint)MIN(mark->line + 1, G_MAXUINT);
    n->column = (guint)MIN(mark->column + 1, G_MAXUINT);
    if (kind != YN_SCALAR)
        n->items = g_ptr_array_new_with_free_func((GDestroyNotify)ynode_free);
    return n;
}

/* Adds @child to the open collection on top of @stack, or makes it the root. */
static void
tree_attach(GPtrArray *stack, YNode **root, YNode *child)
{
    if (stack->len == 0) {
        *root = child;
        return;
    }
    g_ptr_array_add(((YNode *)stack->pdata[stack->len - 1])->items, child);
}

static YNode *
tree_load(const char *path, const char *text, gsize len, GError **error)
{
    g_auto(yaml_parser_t) parser = { 0 };
    g_autoptr(YNode) root = NULL;
    g_autoptr(GPtrArray) stack = g_ptr_array_new();   /* borrowed YNode* */
    guint nodes = 0;
    guint docs = 0;
    bool done = false;

    if (len > MAX_DOC_SIZE) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "%s: policy is %" G_GSIZE_FORMAT " bytes, the limit is %d",
                    path, len, MAX_DOC_SIZE);
        return NULL;
    }
    if (!yaml_parser_initialize(&parser)) {
        g_set_error(error, KT_ERROR, KT_ERROR_FAILED, "%s: cannot initialise libyaml", path);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    while (!done) {
        g_auto(yaml_event_t) ev = { 0 };
        YNode *n = NULL;

        if (!yaml_parser_parse(&parser, &ev)) {
            const yaml_mark_t *m = &parser.problem_mark;
            g_autofree char *where = NULL;

            if (parser.context)
                where = g_strdup_printf(" %s at %zu:%zu", parser.context,
                                        parser.context_mark.line + 1,
                                        parser.context_mark.column + 1);
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s:%zu:%zu: YAML syntax: %s%s",
                        path, m->line + 1, m->column + 1,
                        parser.problem ? parser.problem : "malformed document",
                        where ? where : "");
            return NULL;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                            "%s:%zu:%zu: a policy is one YAML document, found a second",
                            path, ev.start_mark.line + 1, ev.start_mark.column + 1);
                return NULL;
            }
            break;
        case YAML_ALIAS_EVENT:
            /* Aliases are how "billion laughs" documents grow; a policy
             * has no use for them. */
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "%s:%zu:%zu: YAML aliases (*%s) are not supported in a policy",
                        path, ev.start_mark.line + 1, ev.start_mark.column + 1,
                        (const char *)ev.data.alias.anchor);
            return NULL;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.length > MAX_SCALAR) {
                g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                            "%s:%zu:%zu: scalar of %zu bytes, the limit is %d",
                            path, ev.start_mark.line + 1, ev.start_mark.column + 1,
                            ev.data.scalar.length, MAX_SCALAR);
                return NULL;
            }
            n = ynode_new(YN_SCALAR, &ev.start_mark);
            n->value = g_strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            break;
        case YAML_SEQUENCE_START_EVENT:
            n = ynode_new(YN_SEQ, &ev.start_mark);
            break;
        case YAML_MAPPING_START_EVENT:
            n = ynode_new(YN_MAP, &ev.start_mark);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            g_ptr_array_remove_index(stack, stack->len - 1);
            break;
        case YAML_NO_EVENT:
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        }
        if (!n)
            continue;
        if (++nodes > MAX_NODES) {
            ynode_free(n);
            g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                        "%s:%zu:%zu: more than %d YAML nodes", path,
                        ev.start_mark.line + 1, ev.start_mark.column + 1, MAX_NODES);
            return NULL;
        }
        if (root && stack->len == 0) {
            /* cannot happen with one document; keep the tree sound anyway */
            ynode_free(n);
            continue;
        }
        tree_attach(stack, &root, n);
        if (n->kind != YN_SCALAR) {
            if (stack->len >= MAX_DEPTH) {
                g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                            "%s:%u:%u: nesting deeper than %d levels", path,
                            n->line, n->column, MAX_DEPTH);
                return NULL;
            }
            g_ptr_array_add(stack, n);
        }
    }
    /* An empty file (or "---", "~") is an empty policy: every domain passes
     * through. */
    if (!root || (root->kind == YN_SCALAR && root->plain &&
                  (!*root->value || strcmp(root->value, "~") == 0 ||
                   strcmp(root->value, "null") == 0))) {
        yaml_mark_t m = { 0 };

        g_clear_pointer(&root, ynode_free);
        root = ynode_new(YN_MAP, &m);
    }
    return g_steal_pointer(&root);
}

/* ---- the schema walk ----------------------------------------------------- */

typedef struct {
    const char *path;
    GPtrArray *errors;       /* KtPolicyNote*, sorted into file order at the end */
    guint nerrors;           /* including the ones past MAX_ERRORS */
    GHashTable *locations;
} Ctx;

static void ctx_error(Ctx *ctx, const YNode *at, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void
ctx_error(Ctx *ctx, const YNode *at, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    ctx->nerrors++;
    if (ctx->errors->len >= MAX_ERRORS)
        return;
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (at)
        kt_policy_note_add(ctx->errors, at->line, at->column,
                           g_strdup_printf("%s:%u:%u: %s", ctx->path, at->line, at->column, msg));
    else
        kt_policy_note_add(ctx->errors, 0, 0, g_strdup_printf("%s: %s", ctx->path, msg));
}

static void
ctx_mark(Ctx *ctx, const char *key, const YNode *at)
{
    guint *lc = g_new(guint, 2);

    lc[0] = at->line;
    lc[1] = at->column;
    g_hash_table_replace(ctx->locations, g_strdup(key), lc);
}

static const char *
kind_name(const YNode *n)
{
    switch (n->kind) {
    case YN_SCALAR:
        return "a scalar";
    case YN_MAP:
        return "a mapping";
    case YN_SEQ:
        return "a list";
    }
    return "?";
}

static bool
expect_kind(Ctx *ctx, const YNode *n, YNodeKind kind, const char *key)
{
    static const char *const want[] = { "a scalar", "a mapping", "a list" };

    if (n->kind == kind)
        return true;
    ctx_error(ctx, n, "'%s' must be %s, not %s", key, want[kind], kind_name(n));
    return false;
}

/* Fills @vals[i] with the value of key @keys[i] (NULL-terminated list) of
 * mapping @map and @keynodes[i] with its key node (may be NULL).  Unknown and
 * duplicate keys are errors; known keys are still filled, so the caller
 * goes on checking the rest. */
static bool
map_fields(Ctx *ctx, const YNode *map, const char *where,
           const char *const *keys, const YNode **vals, const YNode **keynodes)
{
    guint i, k;

    if (!expect_kind(ctx, map, YN_MAP, where))
        return false;
    for (i = 0; i + 1 < map->items->len; i += 2) {
        const YNode *key = map->items->pdata[i];
        const YNode *val = map->items->pdata[i + 1];
        bool found = false;

        if (key->kind != YN_SCALAR) {
            ctx_error(ctx, key, "keys in '%s' must be scalars", where);
            continue;
        }
        for (k = 0; keys[k]; k++) {
            g_autofree char *full = NULL;

            if (strcmp(keys[k], key->value) != 0)
                continue;
            found = true;
            full = where == TOP ? g_strdup(keys[k]) : g_strdup_printf("%s.%s", where, keys[k]);
            ctx_mark(ctx, full, val);
            if (vals[k])
                ctx_error(ctx, key, "duplicate key '%s' in '%s'", key->value, where);
            vals[k] = val;
            if (keynodes)
                keynodes[k] = key;
        }
        if (!found) {
            g_autofree char *list = g_strjoinv(", ", (char **)keys);

            ctx_error(ctx, key, "unknown key '%s' in '%s' (known: %s)",
                      key->value, where, list);
        }
    }
    return true;
}

static const char *
get_scalar(Ctx *ctx, const YNode *n, const char *key)
{
    if (!expect_kind(ctx, n, YN_SCALAR, key))
        return NULL;
    return n->value;
}

static bool
get_uint(Ctx *ctx, const YNode *n, const char *key, guint64 min, guint64 max, guint64 *ret)
{
    const char *s = get_scalar(ctx, n, key);
    g_autoptr(GError) err = NULL;

    if (!s)
        return false;
    if (!g_ascii_string_to_unsigned(s, 10, min, max, ret, &err)) {
        ctx_error(ctx, n, "'%s': expected a whole number from %" G_GUINT64_FORMAT
                  " to %" G_GUINT64_FORMAT ", got '%s'", key, min, max, s);
        return false;
    }
    return true;
}

static bool
get_bool(Ctx *ctx, const YNode *n, const char *key, bool *ret)
{
    static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "on", NULL };
    static const char *const no[] = { "false", "False", "FALSE", "no", "No", "off", NULL };
    const char *s = get_scalar(ctx, n, key);

    if (!s)
        return false;
    if (g_strv_contains(yes, s)) {
        *ret = true;
        return true;
    }
    if (g_strv_contains(no, s)) {
        *ret = false;
        return true;
    }
    ctx_error(ctx, n, "'%s': expected true or false, got '%s'", key, s);
    return false;
}

/* An enum value; the error lists the choices. */
static int
get_enum(Ctx *ctx, const YNode *n, const char *key,
         int (*from_string)(const char *), const char *choices)
{
    const char *s = get_scalar(ctx, n, key);
    int v;

    if (!s)
        return -1;
    v = from_string(s);
    if (v < 0)
        ctx_error(ctx, n, "'%s': expected one of %s, got '%s'", key, choices, s);
    return v;
}

static KtCpuset *
get_cpuset(Ctx *ctx, const YNode *n, const char *key)
{
    const char *s = get_scalar(ctx, n, key);
    g_autoptr(GError) err = NULL;
    KtCpuset *set;

    if (!s)
        return NULL;
    set = kt_cpuset_parse(s, &err);
    if (!set)
        ctx_error(ctx, n, "'%s': %s", key, err->message);
    return set;
}

/* IEC units, as the kernel's hugepages-<n>kB and libvirt's <page size> mean
 * them; "2MB" is read as 2 MiB because no page size is decimal. */
static bool
parse_size(const char *text, guint64 *ret_kib)
{
    g_autofree char *num = NULL;
    const char *unit = text;
    guint64 v = 0;
    guint shift = 0;

    while (g_ascii_isdigit(*unit))
        unit++;
    num = g_strndup(text, unit - text);
    if (!*num || !g_ascii_string_to_unsigned(num, 10, 1, G_MAXUINT64, &v, NULL))
        return false;
    switch (g_ascii_toupper(*unit)) {
    case '\0':
        *ret_kib = v;
        return true;
    case 'K':
        shift = 0;
        break;
    case 'M':
        shift = 10;
        break;
    case 'G':
        shift = 20;
        break;
    case 'T':
        shift = 30;
        break;
    default:
        return false;
    }
    unit++;
    if (*unit && g_ascii_strcasecmp(unit, "iB") != 0 && g_ascii_strcasecmp(unit, "B") != 0)
        return false;
    if (v > (G_MAXUINT64 >> (shift + 10)))
        return false;
    *ret_kib = v << shift;
    return true;
}

gboolean
kt_policy_parse_size(const char *text, guint64 *ret_kib, GError **error)
{
    guint64 kib = 0;

    if (!parse_size(text, &kib)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "invalid size '%s' (expected e.g. 2M, 1G, 2048K or a number in KiB)", text);
        return FALSE;
    }
    *ret_kib = kib;
    return TRUE;
}

static bool
get_page_size(Ctx *ctx, const YNode *n, const char *key, guint64 *ret)
{
    const char *s = get_scalar(ctx, n, key);
    g_autoptr(GError) err = NULL;
    guint64 kib = 0;

    if (!s)
        return false;
    if (!kt_policy_parse_size(s, &kib, &err)) {
        ctx_error(ctx, n, "'%s': %s", key, err->message);
        return false;
    }
    if (kib < 4 || (kib & (kib - 1)) != 0) {
        ctx_error(ctx, n, "'%s': a page size is a power of two of at least 4K, got '%s'", key, s);
        return false;
    }
    *ret = kib;
    return true;
}

/* PCI addresses become sysfs paths: only dddd:bb:ss.f in hex is accepted. */
static bool
valid_pci_address(const char *s)
{
    static const char shape[] = "xxxx:xx:xx.x";
    gsize i;

    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (i = 0; shape[i]; i++) {
        if (shape[i] == 'x' ? !g_ascii_isxdigit(s[i]) : s[i] != shape[i])
            return false;
    }
    return true;
}

static char *
get_pci(Ctx *ctx, const YNode *n, const char *key)
{
    const char *s = get_scalar(ctx, n, key);

    if (!s)
        return NULL;
    if (!valid_pci_address(s)) {
        ctx_error(ctx, n, "'%s': '%s' is not a PCI address like 0000:41:00.0", key, s);
        return NULL;
    }
    return g_ascii_strdown(s, -1);
}

/* Names used in XML metadata, globs and messages: a conservative charset. */
static bool
valid_name(const char *s)
{
    const char *p;

    if (!*s || strlen(s) > MAX_NAME)
        return false;
    for (p = s; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("._-:", *p))
            return false;
    }
    return true;
}

static const char *
get_name(Ctx *ctx, const YNode *n, const char *key)
{
    const char *s = get_scalar(ctx, n, key);

    if (!s)
        return NULL;
    if (!valid_name(s)) {
        ctx_error(ctx, n, "'%s': '%s' is not a valid name (1-%d of A-Z a-z 0-9 . _ - :)",
                  key, s, MAX_NAME);
        return NULL;
    }
    return s;
}

static bool
check_count(Ctx *ctx, const YNode *seq, const char *key, guint max)
{
    if (seq->items->len <= max)
        return true;
    ctx_error(ctx, seq, "'%s' has %u entries, the limit is %u", key, seq->items->len, max);
    return false;
}

/* ---- host ---------------------------------------------------------------- */

static void
parse_host_hugepages(Ctx *ctx, KtPolicy *policy, const YNode *seq)
{
    guint i, j;

    if (!expect_kind(ctx, seq, YN_SEQ, "host.hugepages") ||
        !check_count(ctx, seq, "host.hugepages", MAX_ITEMS))
        return;
    for (i = 0; i < seq->items->len; i++) {
        static const char *const keys[] = { "size", "per_node", NULL };
        const YNode *v[2] = { NULL };
        const YNode *item = seq->items->pdata[i];
        g_autofree char *where = g_strdup_printf("host.hugepages[%u]", i);
        g_autofree char *k_size = g_strdup_printf("%s.size", where);
        g_autofree char *k_per = g_strdup_printf("%s.per_node", where);
        KtPolicyHugepages hp = { 0 };
        bool ok = true;

        if (!map_fields(ctx, item, where, keys, v, NULL))
            continue;
        ctx_mark(ctx, where, item);
        if (!v[0]) {
            ctx_error(ctx, item, "'%s': missing key 'size'", where);
            ok = false;
        } else if (!get_page_size(ctx, v[0], k_size, &hp.size_kib)) {
            ok = false;
        }
        if (!v[1]) {
            ctx_error(ctx, item, "'%s': missing key 'per_node'", where);
            ok = false;
        } else if (!get_uint(ctx, v[1], k_per, 0, G_MAXUINT32, &hp.per_node)) {
            ok = false;
        }
        if (!ok)
            continue;
        for (j = 0; j < policy->hugepages->len; j++) {
            if (g_array_index(policy->hugepages, KtPolicyHugepages, j).size_kib == hp.size_kib) {
                ctx_error(ctx, v[0], "'%s': page size %s listed twice", k_size, v[0]->value);
                ok = false;
            }
        }
        if (ok) {
            ctx_mark(ctx, k_size, v[0]);
            g_array_append_val(policy->hugepages, hp);
        }
    }
}

static void
sriov_pf_free(KtPolicySriovPf *pf)
{
    if (!pf)
        return;
    g_free(pf->pf);
    g_free(pf->physnet);
    g_free(pf);
}

static void
parse_host_sriov(Ctx *ctx, KtPolicy *policy, const YNode *seq)
{
    guint i, j;

    if (!expect_kind(ctx, seq, YN_SEQ, "host.sriov") ||
        !check_count(ctx, seq, "host.sriov", MAX_ITEMS))
        return;
    for (i = 0; i < seq->items->len; i++) {
        static const char *const keys[] = { "pf", "physnet", NULL };
        const YNode *v[2] = { NULL };
        const YNode *item = seq->items->pdata[i];
        g_autofree char *where = g_strdup_printf("host.sriov[%u]", i);
        g_autofree char *k_pf = g_strdup_printf("%s.pf", where);
        g_autofree char *k_net = g_strdup_printf("%s.physnet", where);
        g_autofree char *pf = NULL;
        const char *physnet = NULL;
        KtPolicySriovPf *entry;
        bool dup = false;

        if (!map_fields(ctx, item, where, keys, v, NULL))
            continue;
        ctx_mark(ctx, where, item);
        if (!v[0])
            ctx_error(ctx, item, "'%s': missing key 'pf'", where);
        else
            pf = get_pci(ctx, v[0], k_pf);
        if (!v[1])
            ctx_error(ctx, item, "'%s': missing key 'physnet'", where);
        else
            physnet = get_name(ctx, v[1], k_net);
        if (!pf || !physnet)
            continue;
        for (j = 0; j < policy->sriov_pfs->len; j++) {
            if (strcmp(((KtPolicySriovPf *)policy->sriov_pfs->pdata[j])->pf, pf) == 0)
                dup = true;
        }
        if (dup) {
            ctx_error(ctx, v[0], "'%s': PF %s listed twice", k_pf, pf);
            continue;
        }
        ctx_mark(ctx, k_pf, v[0]);
        entry = g_new0(KtPolicySriovPf, 1);
        entry->pf = g_steal_pointer(&pf);
        entry->physnet = g_strdup(physnet);
        g_ptr_array_add(policy->sriov_pfs, entry);
    }
}

static void
parse_host_gpus(Ctx *ctx, KtPolicy *policy, const YNode *seq)
{
    guint i;

    if (!expect_kind(ctx, seq, YN_SEQ, "host.gpus") ||
        !check_count(ctx, seq, "host.gpus", MAX_ITEMS))
        return;
    for (i = 0; i < seq->items->len; i++) {
        static const char *const keys[] = { "pci", NULL };
        const YNode *v[1] = { NULL };
        const YNode *item = seq->items->pdata[i];
        g_autofree char *where = g_strdup_printf("host.gpus[%u]", i);
        g_autofree char *k_pci = g_strdup_printf("%s.pci", where);
        char *pci;

        if (!map_fields(ctx, item, where, keys, v, NULL))
            continue;
        if (!v[0]) {
            ctx_error(ctx, item, "'%s': missing key 'pci'", where);
            continue;
        }
        pci = get_pci(ctx, v[0], k_pci);
        if (!pci)
            continue;
        if (g_ptr_array_find_with_equal_func(policy->gpus, pci, g_str_equal, NULL)) {
            ctx_error(ctx, v[0], "'%s': GPU %s listed twice", k_pci, pci);
            g_free(pci);
            continue;
        }
        ctx_mark(ctx, where, item);
        ctx_mark(ctx, k_pci, v[0]);
        g_ptr_array_add(policy->gpus, pci);
    }
}

static void
parse_host(Ctx *ctx, KtPolicy *policy, const YNode *map)
{
    static const char *const keys[] = {
        "reserved_cpus", "dedicated_cpus", "shared_cpus", "cpu_allocation_ratio",
        "hugepages", "sriov", "gpus", NULL,
    };
    const YNode *v[7] = { NULL };
    KtCpuset **pools[3];
    const char *names[3] = { "host.reserved_cpus", "host.dedicated_cpus", "host.shared_cpus" };
    guint i, j;

    pools[0] = &policy->reserved_cpus;
    pools[1] = &policy->dedicated_cpus;
    pools[2] = &policy->shared_cpus;
    if (!map_fields(ctx, map, "host", keys, v, NULL))
        return;
    for (i = 0; i < 3; i++) {
        g_autoptr(KtCpuset) set = NULL;

        if (!v[i])
            continue;
        set = get_cpuset(ctx, v[i], names[i]);
        if (!set)
            continue;
        ctx_mark(ctx, names[i], v[i]);
        kt_cpuset_free(*pools[i]);
        *pools[i] = g_steal_pointer(&set);
    }
    /* A CPU in two pools would be handed out twice. */
    for (i = 0; i < 3; i++) {
        for (j = i + 1; j < 3; j++) {
            g_autoptr(KtCpuset) both = NULL;
            g_autofree char *list = NULL;

            if (!v[i] || !v[j] || !kt_cpuset_intersects(*pools[i], *pools[j]))
                continue;
            both = kt_cpuset_copy(*pools[i]);
            kt_cpuset_intersect(both, *pools[j]);
            list = kt_cpuset_format(both);
            ctx_error(ctx, v[j], "'%s': %s %s %s also in '%s'", names[j],
                      kt_cpuset_count(both) == 1 ? "CPU" : "CPUs", list,
                      kt_cpuset_count(both) == 1 ? "is" : "are", names[i]);
        }
    }
    if (v[3]) {
        const char *s = get_scalar(ctx, v[3], "host.cpu_allocation_ratio");
        char *end = NULL;
        double r;

        if (s) {
            errno = 0;
            r = g_ascii_strtod(s, &end);
            if (errno || end == s || *end || !(r >= 1.0 && r <= 64.0))
                ctx_error(ctx, v[3], "'host.cpu_allocation_ratio': expected a number "
                          "from 1.0 to 64.0, got '%s'", s);
            else
                policy->cpu_allocation_ratio = r;
        }
    }
    if (v[4])
        parse_host_hugepages(ctx, policy, v[4]);
    if (v[5])
        parse_host_sriov(ctx, policy, v[5]);
    if (v[6])
        parse_host_gpus(ctx, policy, v[6]);
}

/* ---- profiles ------------------------------------------------------------ */

static void
sriov_req_free(KtPolicySriovReq *r)
{
    if (!r)
        return;
    g_free(r->physnet);
    g_free(r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPolicySriovReq, sriov_req_free)

static void
profile_free(KtPolicyProfile *p)
{
    if (!p)
        return;
    g_free(p->name);
    if (p->sriov)
        g_ptr_array_unref(p->sriov);
    g_free(p->vgpu_type);
    g_free(p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPolicyProfile, profile_free)

/* The optional "need: required|best-effort" of a part. */
static void
parse_need(Ctx *ctx, const YNode *n, const char *where, KtNeed *ret)
{
    g_autofree char *key = g_strdup_printf("%s.need", where);
    int v;

    if (!n)
        return;
    v = get_enum(ctx, n, key, kt_need_from_string, "required, best-effort");
    if (v >= 0)
        *ret = v;
}

static void
parse_profile_cpu(Ctx *ctx, KtPolicyProfile *p, const YNode *map, const char *where)
{
    static const char *const keys[] = { "policy", "threads", "emulator", "need", NULL };
    const YNode *v[4] = { NULL };
    g_autofree char *k_policy = g_strdup_printf("%s.policy", where);
    g_autofree char *k_threads = g_strdup_printf("%s.threads", where);
    g_autofree char *k_emu = g_strdup_printf("%s.emulator", where);
    int val;

    if (!map_fields(ctx, map, where, keys, v, NULL))
        return;
    ctx_mark(ctx, where, map);
    if (!v[0]) {
        ctx_error(ctx, map, "'%s': missing key 'policy' (dedicated or shared)", where);
    } else {
        val = get_scalar(ctx, v[0], k_policy) ? kt_cpu_policy_from_string(v[0]->value) : -1;
        if (val == KT_CPU_POLICY_DEDICATED || val == KT_CPU_POLICY_SHARED)
            p->cpu_policy = val;
        else if (v[0]->kind == YN_SCALAR)
            ctx_error(ctx, v[0], "'%s': expected one of dedicated, shared, got '%s'",
                      k_policy, v[0]->value);
    }
    if (v[1]) {
        val = get_enum(ctx, v[1], k_threads, kt_thread_policy_from_string,
                       "isolate, prefer, require");
        if (val >= 0)
            p->threads = val;
    }
    if (v[2]) {
        val = get_enum(ctx, v[2], k_emu, kt_emulator_policy_from_string, "share, isolate");
        if (val >= 0)
            p->emulator = val;
    }
    /* Thread and emulator policies place pinned CPUs; a floating VM has none. */
    if (p->cpu_policy == KT_CPU_POLICY_SHARED && v[1])
        ctx_error(ctx, v[1], "'%s' needs 'policy: dedicated'", k_threads);
    if (p->cpu_policy == KT_CPU_POLICY_SHARED && v[2])
        ctx_error(ctx, v[2], "'%s' needs 'policy: dedicated'", k_emu);
    parse_need(ctx, v[3], where, &p->cpu_need);
}

static void
parse_profile_numa(Ctx *ctx, KtPolicyProfile *p, const YNode *map, const char *where)
{
    static const char *const keys[] = { "nodes", "need", NULL };
    const YNode *v[2] = { NULL };
    g_autofree char *k_nodes = g_strdup_printf("%s.nodes", where);
    guint64 nodes = 0;

    if (!map_fields(ctx, map, where, keys, v, NULL))
        return;
    ctx_mark(ctx, where, map);
    if (!v[0])
        ctx_error(ctx, map, "'%s': missing key 'nodes'", where);
    else if (get_uint(ctx, v[0], k_nodes, 1, 64, &nodes))
        p->numa_nodes = nodes;
    parse_need(ctx, v[1], where, &p->numa_need);
}

static void
parse_profile_memory(Ctx *ctx, KtPolicyProfile *p, const YNode *map, const char *where)
{
    static const char *const keys[] = { "hugepages", "need", NULL };
    const YNode *v[2] = { NULL };
    g_autofree char *k_hp = g_strdup_printf("%s.hugepages", where);

    if (!map_fields(ctx, map, where, keys, v, NULL))
        return;
    ctx_mark(ctx, where, map);
    if (v[0]) {
        /* "none" keeps the default: ordinary pages */
        if (v[0]->kind == YN_SCALAR && strcmp(v[0]->value, "none") == 0)
            p->hugepage_kib = 0;
        else if (get_page_size(ctx, v[0], k_hp, &p->hugepage_kib))
            ctx_mark(ctx, k_hp, v[0]);
    }
    parse_need(ctx, v[1], where, &p->memory_need);
}

static void
parse_profile_sriov(Ctx *ctx, KtPolicyProfile *p, const YNode *seq, const char *where)
{
    guint i;
    int need = -1;

    if (!expect_kind(ctx, seq, YN_SEQ, where) || !check_count(ctx, seq, where, 32))
        return;
    ctx_mark(ctx, where, seq);
    for (i = 0; i < seq->items->len; i++) {
        static const char *const keys[] = {
            "physnet", "vlan", "count", "trust", "spoofchk", "need", NULL,
        };
        const YNode *v[6] = { NULL };
        const YNode *item = seq->items->pdata[i];
        g_autofree char *w = g_strdup_printf("%s[%u]", where, i);
        g_autofree char *k_net = g_strdup_printf("%s.physnet", w);
        g_autofree char *k_vlan = g_strdup_printf("%s.vlan", w);
        g_autofree char *k_count = g_strdup_printf("%s.count", w);
        g_autofree char *k_trust = g_strdup_printf("%s.trust", w);
        g_autofree char *k_spoof = g_strdup_printf("%s.spoofchk", w);
        g_autoptr(KtPolicySriovReq) r = NULL;
        const char *physnet = NULL;
        guint64 n = 0;
        bool b = false;
        KtNeed item_need = KT_NEED_REQUIRED;

        if (!map_fields(ctx, item, w, keys, v, NULL))
            continue;
        r = g_new0(KtPolicySriovReq, 1);
        r->vlan = r->trust = r->spoofchk = -1;
        r->count = 1;
        if (!v[0])
            ctx_error(ctx, item, "'%s': missing key 'physnet'", w);
        else
            physnet = get_name(ctx, v[0], k_net);
        if (v[1] && get_uint(ctx, v[1], k_vlan, 0, 4094, &n))
            r->vlan = (int)n;
        if (v[2] && get_uint(ctx, v[2], k_count, 1, 64, &n))
            r->count = (guint)n;
        if (v[3] && get_bool(ctx, v[3], k_trust, &b))
            r->trust = b;
        if (v[4] && get_bool(ctx, v[4], k_spoof, &b))
            r->spoofchk = b;
        parse_need(ctx, v[5], w, &item_need);
        /* One need per part (the struct has one); ask for consistency
         * rather than guess which entry wins. */
        if (v[5] && need >= 0 && (KtNeed)need != item_need)
            ctx_error(ctx, v[5], "'%s.need': all entries of '%s' must have the same need",
                      w, where);
        if (v[5])
            need = item_need;
        if (!physnet)
            continue;
        ctx_mark(ctx, w, item);
        ctx_mark(ctx, k_net, v[0]);
        r->physnet = g_strdup(physnet);
        g_ptr_array_add(p->sriov, g_steal_pointer(&r));
    }
    if (need >= 0)
        p->sriov_need = need;
}

static void
parse_profile_vgpu(Ctx *ctx, KtPolicyProfile *p, const YNode *map, const char *where)
{
    static const char *const keys[] = { "type", "count", "need", NULL };
    const YNode *v[3] = { NULL };
    g_autofree char *k_type = g_strdup_printf("%s.type", where);
    g_autofree char *k_count = g_strdup_printf("%s.count", where);
    const char *type = NULL;
    guint64 n = 1;

    if (!map_fields(ctx, map, where, keys, v, NULL))
        return;
    ctx_mark(ctx, where, map);
    if (!v[0])
        ctx_error(ctx, map, "'%s': missing key 'type'", where);
    else
        type = get_name(ctx, v[0], k_type);
    if (v[1] && !get_uint(ctx, v[1], k_count, 1, 16, &n))
        n = 1;
    if (type) {
        ctx_mark(ctx, k_type, v[0]);
        p->vgpu_type = g_strdup(type);
        p->vgpu_count = (guint)n;
    }
    parse_need(ctx, v[2], where, &p->vgpu_need);
}

static void
parse_profile_gpu(Ctx *ctx, KtPolicyProfile *p, const YNode *map, const char *where)
{
    static const char *const keys[] = { "count", "need", NULL };
    const YNode *v[2] = { NULL };
    g_autofree char *k_count = g_strdup_printf("%s.count", where);
    guint64 n = 0;

    if (!map_fields(ctx, map, where, keys, v, NULL))
        return;
    ctx_mark(ctx, where, map);
    if (!v[0])
        ctx_error(ctx, map, "'%s': missing key 'count'", where);
    else if (get_uint(ctx, v[0], k_count, 1, 16, &n))
        p->gpu_count = (guint)n;
    parse_need(ctx, v[1], where, &p->gpu_need);
}

static KtPolicyProfile *
parse_profile(Ctx *ctx, const char *name, const YNode *map, const char *where)
{
    static const char *const keys[] = {
        "cpu", "numa", "memory", "sriov", "vgpu", "gpu", "override", NULL,
    };
    const YNode *v[7] = { NULL };
    g_autoptr(KtPolicyProfile) p = g_new0(KtPolicyProfile, 1);
    g_autofree char *w = NULL;

    p->name = g_strdup(name);
    p->cpu_policy = KT_CPU_POLICY_NONE;
    p->sriov = g_ptr_array_new_with_free_func((GDestroyNotify)sriov_req_free);
    if (!map_fields(ctx, map, where, keys, v, NULL))
        return g_steal_pointer(&p);
    if (v[0]) {
        w = g_strdup_printf("%s.cpu", where);
        parse_profile_cpu(ctx, p, v[0], w);
        g_clear_pointer(&w, g_free);
    }
    if (v[1]) {
        w = g_strdup_printf("%s.numa", where);
        parse_profile_numa(ctx, p, v[1], w);
        g_clear_pointer(&w, g_free);
    }
    if (v[2]) {
        w = g_strdup_printf("%s.memory", where);
        parse_profile_memory(ctx, p, v[2], w);
        g_clear_pointer(&w, g_free);
    }
    if (v[3]) {
        w = g_strdup_printf("%s.sriov", where);
        parse_profile_sriov(ctx, p, v[3], w);
        g_clear_pointer(&w, g_free);
    }
    if (v[4]) {
        w = g_strdup_printf("%s.vgpu", where);
        parse_profile_vgpu(ctx, p, v[4], w);
        g_clear_pointer(&w, g_free);
    }
    if (v[5]) {
        w = g_strdup_printf("%s.gpu", where);
        parse_profile_gpu(ctx, p, v[5], w);
        g_clear_pointer(&w, g_free);
    }
    if (v[6]) {
        bool b = false;

        w = g_strdup_printf("%s.override", where);
        if (get_bool(ctx, v[6], w, &b))
            p->override = b;
    }
    return g_steal_pointer(&p);
}

static void
parse_profiles(Ctx *ctx, KtPolicy *policy, const YNode *map)
{
    guint i;

    if (!expect_kind(ctx, map, YN_MAP, "profiles"))
        return;
    if (map->items->len / 2 > MAX_PROFILES) {
        ctx_error(ctx, map, "'profiles' has %u entries, the limit is %d",
                  map->items->len / 2, MAX_PROFILES);
        return;
    }
    for (i = 0; i + 1 < map->items->len; i += 2) {
        const YNode *key = map->items->pdata[i];
        const YNode *val = map->items->pdata[i + 1];
        g_autofree char *where = NULL;

        if (key->kind != YN_SCALAR) {
            ctx_error(ctx, key, "profile names must be scalars");
            continue;
        }
        if (!valid_name(key->value) || strcmp(key->value, "none") == 0) {
            ctx_error(ctx, key, "'profiles': '%s' is not a valid profile name "
                      "(1-%d of A-Z a-z 0-9 . _ - :, not 'none')", key->value, MAX_NAME);
            continue;
        }
        if (kt_policy_find_profile(policy, key->value)) {
            ctx_error(ctx, key, "duplicate key '%s' in 'profiles'", key->value);
            continue;
        }
        where = g_strdup_printf("profiles.%s", key->value);
        ctx_mark(ctx, where, key);
        g_ptr_array_add(policy->profiles, parse_profile(ctx, key->value, val, where));
    }
}

/* ---- match --------------------------------------------------------------- */

static void
match_free(KtPolicyMatch *m)
{
    if (!m)
        return;
    g_free(m->pattern);
    g_free(m->key);
    g_free(m->profile);
    g_free(m);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPolicyMatch, match_free)

/* A profile reference: "none" is NULL; otherwise it must be defined. */
static bool
get_profile_ref(Ctx *ctx, const KtPolicy *policy, const YNode *n, const char *key, char **ret)
{
    const char *s = get_scalar(ctx, n, key);

    if (!s)
        return false;
    if (strcmp(s, "none") == 0) {
        *ret = NULL;
        return true;
    }
    if (!kt_policy_find_profile(policy, s)) {
        ctx_error(ctx, n, "'%s': profile '%s' is not defined in 'profiles'", key, s);
        return false;
    }
    *ret = g_strdup(s);
    return true;
}

static void
parse_match(Ctx *ctx, KtPolicy *policy, const YNode *seq)
{
    guint i;

    if (!expect_kind(ctx, seq, YN_SEQ, "match") ||
        !check_count(ctx, seq, "match", MAX_RULES))
        return;
    for (i = 0; i < seq->items->len; i++) {
        static const char *const keys[] = {
            "flavor", "extra_spec", "name", "default", "profile", NULL,
        };
        const YNode *v[5] = { NULL };
        const YNode *item = seq->items->pdata[i];
        g_autofree char *where = g_strdup_printf("match[%u]", i);
        g_autofree char *k_prof = g_strdup_printf("%s.profile", where);
        g_autoptr(KtPolicyMatch) m = g_new0(KtPolicyMatch, 1);
        guint nkinds = 0;
        guint k;
        bool ok = true;

        if (!map_fields(ctx, item, where, keys, v, NULL))
            continue;
        m->line = item->line;
        ctx_mark(ctx, where, item);
        for (k = 0; k < 4; k++) {
            if (v[k]) {
                nkinds++;
                m->kind = (KtMatchKind)k;
            }
        }
        if (nkinds != 1) {
            ctx_error(ctx, item, "'%s': a rule has exactly one of flavor, extra_spec, "
                      "name, default", where);
            continue;
        }
        switch (m->kind) {
        case KT_MATCH_FLAVOR:
        case KT_MATCH_NAME: {
            g_autofree char *k_pat = g_strdup_printf("%s.%s", where, keys[m->kind]);
            const char *pat = get_scalar(ctx, v[m->kind], k_pat);

            if (!pat || !*pat) {
                if (pat)
                    ctx_error(ctx, v[m->kind], "'%s': empty pattern", k_pat);
                ok = false;
            } else {
                m->pattern = g_strdup(pat);
            }
            if (!v[4]) {
                ctx_error(ctx, item, "'%s': missing key 'profile' (a profile or none)", where);
                ok = false;
            } else if (!get_profile_ref(ctx, policy, v[4], k_prof, &m->profile)) {
                ok = false;
            }
            break;
        }
        case KT_MATCH_EXTRA_SPEC: {
            const YNode *es = v[KT_MATCH_EXTRA_SPEC];
            g_autofree char *k_es = g_strdup_printf("%s.extra_spec", where);

            if (!expect_kind(ctx, es, YN_MAP, k_es)) {
                ok = false;
            } else if (es->items->len != 2) {
                ctx_error(ctx, es, "'%s': expected one {key: glob} pair", k_es);
                ok = false;
            } else {
                const YNode *ek = es->items->pdata[0];
                const YNode *ev = es->items->pdata[1];

                if (!get_scalar(ctx, ek, k_es) || !get_scalar(ctx, ev, k_es) ||
                    !*ek->value || !*ev->value) {
                    if (ek->kind == YN_SCALAR && ev->kind == YN_SCALAR)
                        ctx_error(ctx, es, "'%s': empty key or pattern", k_es);
                    ok = false;
                } else {
                    m->key = g_strdup(ek->value);
                    m->pattern = g_strdup(ev->value);
                }
            }
            /* Without a profile the spec's value names it at match time. */
            if (!v[4])
                m->profile_from_value = true;
            else if (!get_profile_ref(ctx, policy, v[4], k_prof, &m->profile))
                ok = false;
            break;
        }
        case KT_MATCH_DEFAULT:
            if (v[4]) {
                ctx_error(ctx, v[4], "'%s': a default rule names its profile as "
                          "'default: PROFILE', not with 'profile'", k_prof);
                ok = false;
            } else {
                g_autofree char *k_def = g_strdup_printf("%s.default", where);

                ok = get_profile_ref(ctx, policy, v[KT_MATCH_DEFAULT], k_def, &m->profile);
            }
            break;
        case KT_MATCH_LAST:
            g_assert_not_reached();
        }
        if (ok)
            g_ptr_array_add(policy->match, g_steal_pointer(&m));
    }
}

/* ---- daemon and hooks ---------------------------------------------------- */

static void
parse_id_list(Ctx *ctx, GArray *out, const YNode *seq, const char *key)
{
    guint i;

    if (!expect_kind(ctx, seq, YN_SEQ, key) || !check_count(ctx, seq, key, MAX_ITEMS))
        return;
    for (i = 0; i < seq->items->len; i++) {
        guint64 id = 0;
        guint v;
        g_autofree char *k = g_strdup_printf("%s[%u]", key, i);

        /* (uid_t)-1 means "no change" to chown(): never an id to allow */
        if (!get_uint(ctx, seq->items->pdata[i], k, 0, G_MAXUINT32 - 1, &id))
            continue;
        v = (guint)id;
        g_array_append_val(out, v);
    }
}

static void
parse_daemon(Ctx *ctx, KtPolicy *policy, const YNode *map)
{
    static const char *const keys[] = { "allow_uids", "allow_gids", NULL };
    const YNode *v[2] = { NULL };

    if (!map_fields(ctx, map, "daemon", keys, v, NULL))
        return;
    if (v[0])
        parse_id_list(ctx, policy->allow_uids, v[0], "daemon.allow_uids");
    if (v[1])
        parse_id_list(ctx, policy->allow_gids, v[1], "daemon.allow_gids");
}

static void
parse_hooks(Ctx *ctx, KtPolicy *policy, const YNode *map)
{
    static const char *const keys[] = { "on_daemon_down", NULL };
    const YNode *v[1] = { NULL };
    const char *s;

    if (!map_fields(ctx, map, "hooks", keys, v, NULL) || !v[0])
        return;
    s = get_scalar(ctx, v[0], "hooks.on_daemon_down");
    if (!s)
        return;
    if (strcmp(s, "fail") == 0)
        policy->hooks_fail_on_daemon_down = true;
    else if (strcmp(s, "passthrough") == 0)
        policy->hooks_fail_on_daemon_down = false;
    else
        ctx_error(ctx, v[0], "'hooks.on_daemon_down': expected one of fail, passthrough, "
                  "got '%s'", s);
}

/* ---- cross checks that need no host -------------------------------------- */

static const YNode *
node_at(Ctx *ctx, const char *key, YNode *scratch)
{
    guint *lc = g_hash_table_lookup(ctx->locations, key);

    if (!lc)
        return NULL;
    scratch->line = lc[0];
    scratch->column = lc[1];
    return scratch;
}

static void
check_profiles(Ctx *ctx, const KtPolicy *policy)
{
    guint i, j, k;

    for (i = 0; i < policy->profiles->len; i++) {
        const KtPolicyProfile *p = policy->profiles->pdata[i];
        YNode scratch = { 0 };

        if (p->cpu_policy == KT_CPU_POLICY_DEDICATED && policy->dedicated_cpus &&
            kt_cpuset_is_empty(policy->dedicated_cpus)) {
            g_autofree char *key = g_strdup_printf("profiles.%s.cpu", p->name);

            ctx_error(ctx, node_at(ctx, key, &scratch),
                      "'%s': policy dedicated, but 'host.dedicated_cpus' is empty", key);
        }
        for (j = 0; j < p->sriov->len; j++) {
            const KtPolicySriovReq *r = p->sriov->pdata[j];
            bool found = false;

            for (k = 0; k < policy->sriov_pfs->len; k++) {
                if (strcmp(((KtPolicySriovPf *)policy->sriov_pfs->pdata[k])->physnet,
                           r->physnet) == 0)
                    found = true;
            }
            if (!found) {
                g_autofree char *key = g_strdup_printf("profiles.%s.sriov[%u].physnet",
                                                       p->name, j);

                ctx_error(ctx, node_at(ctx, key, &scratch),
                          "'%s': no PF in 'host.sriov' has physnet '%s'", key, r->physnet);
            }
        }
        if (p->gpu_count > 0 && p->gpu_count > policy->gpus->len) {
            g_autofree char *key = g_strdup_printf("profiles.%s.gpu", p->name);

            ctx_error(ctx, node_at(ctx, key, &scratch),
                      "'%s': count %u, but 'host.gpus' lists %u GPUs", key,
                      p->gpu_count, policy->gpus->len);
        }
    }
}

/* ---- public API ---------------------------------------------------------- */

void
kt_policy_free(KtPolicy *policy)
{
    if (!policy)
        return;
    g_free(policy->path);
    g_free(policy->hash);
    kt_cpuset_free(policy->reserved_cpus);
    kt_cpuset_free(policy->dedicated_cpus);
    kt_cpuset_free(policy->shared_cpus);
    g_clear_pointer(&policy->hugepages, g_array_unref);
    g_clear_pointer(&policy->sriov_pfs, g_ptr_array_unref);
    g_clear_pointer(&policy->gpus, g_ptr_array_unref);
    g_clear_pointer(&policy->profiles, g_ptr_array_unref);
    g_clear_pointer(&policy->match, g_ptr_array_unref);
    g_clear_pointer(&policy->allow_uids, g_array_unref);
    g_clear_pointer(&policy->allow_gids, g_array_unref);
    g_clear_pointer(&policy->locations, g_hash_table_unref);
    g_free(policy);
}

static KtPolicy *
policy_new(const char *path)
{
    KtPolicy *policy = g_new0(KtPolicy, 1);

    policy->path = g_strdup(path);
    policy->reserved_cpus = kt_cpuset_new();
    policy->dedicated_cpus = kt_cpuset_new();
    policy->shared_cpus = kt_cpuset_new();
    policy->cpu_allocation_ratio = 8.0;
    policy->hugepages = g_array_new(FALSE, TRUE, sizeof(KtPolicyHugepages));
    policy->sriov_pfs = g_ptr_array_new_with_free_func((GDestroyNotify)sriov_pf_free);
    policy->gpus = g_ptr_array_new_with_free_func(g_free);
    policy->profiles = g_ptr_array_new_with_free_func((GDestroyNotify)profile_free);
    policy->match = g_ptr_array_new_with_free_func((GDestroyNotify)match_free);
    policy->allow_uids = g_array_new(FALSE, TRUE, sizeof(guint));
    policy->allow_gids = g_array_new(FALSE, TRUE, sizeof(guint));
    policy->hooks_fail_on_daemon_down = true;
    policy->locations = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return policy;
}

KtPolicy *
kt_policy_parse(const char *path, const char *text, gsize len, GError **error)
{
    static const char *const keys[] = { "host", "profiles", "match", "daemon", "hooks", NULL };
    const YNode *v[5] = { NULL };
    g_autoptr(KtPolicy) policy = NULL;
    g_autoptr(YNode) root = NULL;
    g_autoptr(GPtrArray) errors = kt_policy_notes_new();
    g_autofree char *hex = NULL;
    Ctx ctx = { 0 };

    g_return_val_if_fail(path != NULL, NULL);
    g_return_val_if_fail(text != NULL || len == 0, NULL);

    root = tree_load(path, text ? text : "", len, error);
    if (!root)
        return NULL;
    policy = policy_new(path);
    hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
                                      (const guchar *)(text ? text : ""), len);
    policy->hash = g_strconcat("sha256:", hex, NULL);

    ctx.path = path;
    ctx.errors = errors;
    ctx.locations = policy->locations;
    if (map_fields(&ctx, root, TOP, keys, v, NULL)) {
        if (v[0])
            parse_host(&ctx, policy, v[0]);
        /* profiles before match: rules refer to them, wherever they are */
        if (v[1])
            parse_profiles(&ctx, policy, v[1]);
        if (v[2])
            parse_match(&ctx, policy, v[2]);
        if (v[3])
            parse_daemon(&ctx, policy, v[3]);
        if (v[4])
            parse_hooks(&ctx, policy, v[4]);
        check_profiles(&ctx, policy);
    }

    if (ctx.nerrors > 0) {
        g_autoptr(GString) all = g_string_new(NULL);
        guint i;

        kt_policy_notes_sort(errors);
        for (i = 0; i < errors->len; i++) {
            if (i > 0)
                g_string_append_c(all, '\n');
            g_string_append(all, ((KtPolicyNote *)errors->pdata[i])->text);
        }
        if (ctx.nerrors > errors->len)
            g_string_append_printf(all, "\n%s: %u more errors not shown", path,
                                   ctx.nerrors - errors->len);
        g_set_error_literal(error, KT_ERROR, KT_ERROR_PARSE, all->str);
        return NULL;
    }
    return g_steal_pointer(&policy);
}

KtPolicy *
kt_policy_load(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GMappedFile) map = NULL;

    /* Map first so an oversized file is refused without reading it. */
    map = g_mapped_file_new(path, FALSE, error);
    if (!map)
        return NULL;
    len = g_mapped_file_get_length(map);
    if (len > MAX_DOC_SIZE) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "%s: policy is %" G_GSIZE_FORMAT " bytes, the limit is %d",
                    path, len, MAX_DOC_SIZE);
        return NULL;
    }
    text = g_strndup(g_mapped_file_get_contents(map), len);
    return kt_policy_parse(path, text, len, error);
}

const KtPolicyProfile *
kt_policy_find_profile(const KtPolicy *policy, const char *name)
{
    guint i;

    if (!name)
        return NULL;
    for (i = 0; i < policy->profiles->len; i++) {
        const KtPolicyProfile *p = policy->profiles->pdata[i];

        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

const KtPolicyMatch *
kt_policy_match(const KtPolicy *policy, const char *flavor, const char *name,
                GHashTable *extra_specs, const KtPolicyProfile **ret_profile)
{
    guint i;

    for (i = 0; i < policy->match->len; i++) {
        const KtPolicyMatch *m = policy->match->pdata[i];
        const char *value = NULL;
        const KtPolicyProfile *p = NULL;

        switch (m->kind) {
        case KT_MATCH_FLAVOR:
            if (!flavor || !g_pattern_match_simple(m->pattern, flavor))
                continue;
            break;
        case KT_MATCH_NAME:
            if (!name || !g_pattern_match_simple(m->pattern, name))
                continue;
            break;
        case KT_MATCH_EXTRA_SPEC:
            value = extra_specs ? g_hash_table_lookup(extra_specs, m->key) : NULL;
            if (!value || !g_pattern_match_simple(m->pattern, value))
                continue;
            if (m->profile_from_value) {
                /* the value names the profile; an unknown name is no match */
                if (strcmp(value, "none") == 0) {
                    if (ret_profile)
                        *ret_profile = NULL;
                    return m;
                }
                p = kt_policy_find_profile(policy, value);
                if (!p)
                    continue;
                if (ret_profile)
                    *ret_profile = p;
                return m;
            }
            break;
        case KT_MATCH_DEFAULT:
            break;
        case KT_MATCH_LAST:
            g_assert_not_reached();
        }
        if (ret_profile)
            *ret_profile = kt_policy_find_profile(policy, m->profile);
        return m;
    }
    if (ret_profile)
        *ret_profile = NULL;
    return NULL;
}

bool
kt_policy_locate(const KtPolicy *policy, const char *key, guint *ret_line, guint *ret_column)
{
    const guint *lc = g_hash_table_lookup(policy->locations, key);

    if (!lc)
        return false;
    if (ret_line)
        *ret_line = lc[0];
    if (ret_column)
        *ret_column = lc[1];
    return true;
}
