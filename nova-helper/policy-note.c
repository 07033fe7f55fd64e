/* policy-note: see policy-note.h. */
#include "policy-note.h"

static void
note_free(gpointer p)
{
    KtPolicyNote *n = p;

    g_free(n->text);
    g_free(n);
}

static gint
note_cmp(gconstpointer a, gconstpointer b)
{
    const KtPolicyNote *x = *(const KtPolicyNote *const *)a;
    const KtPolicyNote *y = *(const KtPolicyNote *const *)b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

void
kt_policy_note_add(GPtrArray *notes, guint line, guint column, char *text)
{
    KtPolicyNote *n = g_new0(KtPolicyNote, 1);

    n->line = line;
    n->column = column;
    n->seq = notes->len;
    n->text = text;
    g_ptr_array_add(notes, n);
}

GPtrArray *
kt_policy_notes_new(void)
{
    return g_ptr_array_new_with_free_func(note_free);
}

void
kt_policy_notes_sort(GPtrArray *notes)
{
    g_ptr_array_sort(notes, note_cmp);
}
