/* policy-note: a message about a place in a policy file, for the lists that
 * policy.c (schema errors) and policy-check.c (problems, warnings against
 * the host) report in file order, whatever order their walks found them. */
#pragma once

#include <glib.h>

typedef struct {
    guint line;              /* 0: no position, sorts first */
    guint column;
    guint seq;               /* keeps the walk's order within a position */
    char *text;              /* "file:line:col: message" */
} KtPolicyNote;

/* Appends a note taking @text; its seq is its index in @notes. */
void kt_policy_note_add(GPtrArray *notes, guint line, guint column, char *text);
/* A GPtrArray of KtPolicyNote* that frees them. */
GPtrArray *kt_policy_notes_new(void);
/* Sorts @notes by line, column, then the order they were added. */
void kt_policy_notes_sort(GPtrArray *notes);
