/* json-out: pieces of hand-written JSON (no JSON library among our
 * dependencies) shared by the engine's status, the simulation report and
 * the inventory document. */
#pragma once

#include <glib.h>

#include "cpuset.h"

/* Appends @v as a JSON string: '"' and '\\' backslash-escaped, other
 * control characters as \u00XX, other bytes as they are; NULL as null. */
void kt_json_string(GString *s, const char *v);
/* Appends @set as a JSON array of CPU ids, "[0,1,5]"; NULL as []. */
void kt_json_cpuset(GString *s, const KtCpuset *set);
