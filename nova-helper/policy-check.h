/* policy-check.h: a parsed policy against the host it is meant for (the
 * inventory) and against Nova's own CPU sets.  Pure: structs in, lines out.
 *
 * The file-only rules (unknown keys, pools overlapping each other, undefined
 * profiles) are kt_policy_parse()'s; these are the ones that need the host. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "inventory.h"
#include "nova-conf.h"
#include "policy.h"

/* Appends one line per problem to @problems ("file:line:column: message"
 * where the policy key's position is known) and per doubtful but usable
 * setting to @warnings (may be NULL).  @nova may be NULL.  Returns true when
 * no problem was found. */
bool kt_policy_check(const KtPolicy *policy, const KtInventory *inv, const KtNovaConf *nova,
                     GPtrArray *problems, GPtrArray *warnings);
