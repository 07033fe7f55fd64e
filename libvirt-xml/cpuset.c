#include "cpuset.h"
#include "kt-error.h"

#include <string.h>

#define WORD_BITS 64

struct _KtCpuset {
    guint nwords;           /* allocated words; bits beyond stay clear */
    guint64 *words;
};

KtCpuset *
kt_cpuset_new(void)
{
    return g_new0(KtCpuset, 1);
}

void
kt_cpuset_free(KtCpuset *set)
{
    if (!set)
        return;
    g_free(set->words);
    g_free(set);
}

KtCpuset *
kt_cpuset_copy(const KtCpuset *set)
{
    KtCpuset *c = kt_cpuset_new();

    if (set && set->nwords) {
        c->nwords = set->nwords;
        c->words = g_memdup2(set->words, sizeof(guint64) * set->nwords);
    }
    return c;
}

static void
grow(KtCpuset *set, guint id)
{
    guint need = id / WORD_BITS + 1;

    if (need <= set->nwords)
        return;
    set->words = g_renew(guint64, set->words, need);
    memset(set->words + set->nwords, 0, sizeof(guint64) * (need - set->nwords));
    set->nwords = need;
}

void
kt_cpuset_add(KtCpuset *set, guint id)
{
    g_return_if_fail(id < KT_CPUSET_MAX);
    grow(set, id);
    set->words[id / WORD_BITS] |= G_GUINT64_CONSTANT(1) << (id % WORD_BITS);
}

void
kt_cpuset_remove(KtCpuset *set, guint id)
{
    if (id / WORD_BITS < set->nwords)
        set->words[id / WORD_BITS] &= ~(G_GUINT64_CONSTANT(1) << (id % WORD_BITS));
}

bool
kt_cpuset_has(const KtCpuset *set, guint id)
{
    if (!set || id / WORD_BITS >= set->nwords)
        return false;
    return (set->words[id / WORD_BITS] >> (id % WORD_BITS)) & 1;
}

guint
kt_cpuset_count(const KtCpuset *set)
{
    guint n = 0;
    guint i;

    for (i = 0; set && i < set->nwords; i++)
        n += __builtin_popcountll(set->words[i]);
    return n;
}

bool
kt_cpuset_is_empty(const KtCpuset *set)
{
    return kt_cpuset_first(set) < 0;
}

int
kt_cpuset_next(const KtCpuset *set, guint from)
{
    guint w;

    if (!set)
        return -1;
    for (w = from / WORD_BITS; w < set->nwords; w++) {
        guint64 bits = set->words[w];

        if (w == from / WORD_BITS)
            bits &= ~G_GUINT64_CONSTANT(0) << (from % WORD_BITS);
        if (bits)
            return (int)(w * WORD_BITS + __builtin_ctzll(bits));
    }
    return -1;
}

int
kt_cpuset_first(const KtCpuset *set)
{
    return kt_cpuset_next(set, 0);
}

int
kt_cpuset_last(const KtCpuset *set)
{
    guint w;

    for (w = set ? set->nwords : 0; w > 0; w--) {
        if (set->words[w - 1])
            return (int)((w - 1) * WORD_BITS + 63 - __builtin_clzll(set->words[w - 1]));
    }
    return -1;
}

bool
kt_cpuset_equal(const KtCpuset *a, const KtCpuset *b)
{
    guint n = MAX(a ? a->nwords : 0, b ? b->nwords : 0);
    guint i;

    for (i = 0; i < n; i++) {
        guint64 wa = a && i < a->nwords ? a->words[i] : 0;
        guint64 wb = b && i < b->nwords ? b->words[i] : 0;

        if (wa != wb)
            return false;
    }
    return true;
}

void
kt_cpuset_union(KtCpuset *dst, const KtCpuset *src)
{
    guint i;

    if (!src || src->nwords == 0)
        return;
    grow(dst, src->nwords * WORD_BITS - 1);
    for (i = 0; i < src->nwords; i++)
        dst->words[i] |= src->words[i];
}

void
kt_cpuset_intersect(KtCpuset *dst, const KtCpuset *src)
{
    guint i;

    for (i = 0; i < dst->nwords; i++)
        dst->words[i] &= (src && i < src->nwords) ? src->words[i] : 0;
}

void
kt_cpuset_subtract(KtCpuset *dst, const KtCpuset *src)
{
    guint i;

    for (i = 0; src && i < dst->nwords && i < src->nwords; i++)
        dst->words[i] &= ~src->words[i];
}

bool
kt_cpuset_intersects(const KtCpuset *a, const KtCpuset *b)
{
    guint i;

    for (i = 0; a && b && i < a->nwords && i < b->nwords; i++) {
        if (a->words[i] & b->words[i])
            return true;
    }
    return false;
}

bool
kt_cpuset_is_subset(const KtCpuset *sub, const KtCpuset *super)
{
    guint i;

    for (i = 0; sub && i < sub->nwords; i++) {
        guint64 s = super && i < super->nwords ? super->words[i] : 0;

        if (sub->words[i] & ~s)
            return false;
    }
    return true;
}

/* First id >= @from not in @set (ids past the words are all absent). */
static guint
next_absent(const KtCpuset *set, guint from)
{
    guint w;

    for (w = from / WORD_BITS; w < set->nwords; w++) {
        guint64 bits = ~set->words[w];

        if (w == from / WORD_BITS)
            bits &= ~G_GUINT64_CONSTANT(0) << (from % WORD_BITS);
        if (bits)
            return w * WORD_BITS + (guint)__builtin_ctzll(bits);
    }
    return MAX(from, set->nwords * WORD_BITS);
}

static void
append_id(GString *out, guint id)
{
    char digits[12];
    gsize n = 0;

    do {
        digits[n++] = (char)('0' + id % 10);
        id /= 10;
    } while (id);
    while (n)
        g_string_append_c(out, digits[--n]);
}

/* Called for every cpuset of every rewrite (pins, emulator, NUMA tuning,
 * the placement record): ranges are found a word at a time and ids
 * written without printf, into one buffer sized for the common case. */
char *
kt_cpuset_format(const KtCpuset *set)
{
    GString *out = g_string_sized_new(32);
    int i = kt_cpuset_first(set);

    while (i >= 0) {
        guint end = next_absent(set, (guint)i) - 1;

        if (out->len)
            g_string_append_c(out, ',');
        append_id(out, (guint)i);
        if (end != (guint)i) {
            g_string_append_c(out, '-');
            append_id(out, end);
        }
        i = kt_cpuset_next(set, end + 1);
    }
    return g_string_free(out, FALSE);
}

/* Reads a decimal id at *p; locale-independent, bounded. */
static bool
parse_id(const char **p, guint *ret)
{
    guint64 v = 0;
    const char *s = *p;

    if (!g_ascii_isdigit(*s))
        return false;
    while (g_ascii_isdigit(*s)) {
        v = v * 10 + (guint64)(*s - '0');
        if (v >= KT_CPUSET_MAX)
            return false;
        s++;
    }
    *p = s;
    *ret = (guint)v;
    return true;
}

static void
skip_space(const char **p)
{
    while (**p == ' ' || **p == '\t' || **p == '\n')
        (*p)++;
}

KtCpuset *
kt_cpuset_parse(const char *str, GError **error)
{
    g_autoptr(KtCpuset) set = kt_cpuset_new();
    g_autoptr(KtCpuset) neg = kt_cpuset_new();
    const char *p = str;

    g_return_val_if_fail(str != NULL, NULL);

    skip_space(&p);
    if (*p == '\0')
        return g_steal_pointer(&set);

    for (;;) {
        bool exclude = false;
        guint lo, hi, i;
        const char *item = p;

        skip_space(&p);
        if (*p == '^') {
            exclude = true;
            p++;
        }
        if (!parse_id(&p, &lo)) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "cpu list '%s': expected a number below %d at offset %td",
                        str, KT_CPUSET_MAX, item - str);
            return NULL;
        }
        hi = lo;
        if (*p == '-' && !exclude) {
            p++;
            if (!parse_id(&p, &hi) || hi < lo) {
                g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                            "cpu list '%s': bad range at offset %td", str, item - str);
                return NULL;
            }
        }
        for (i = lo; i <= hi; i++)
            kt_cpuset_add(exclude ? neg : set, i);
        skip_space(&p);
        if (*p == '\0')
            break;
        if (*p != ',') {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "cpu list '%s': unexpected '%c' at offset %td",
                        str, *p, p - str);
            return NULL;
        }
        p++;
    }
    kt_cpuset_subtract(set, neg);
    return g_steal_pointer(&set);
}
