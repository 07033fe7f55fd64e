/* fuzz-policy-yaml: any bytes give a policy or a GError (KT_ERROR), never a
 * crash, a leak or an unbounded allocation; a parsed policy is consistent
 * (every profile a rule names exists, the hash is set). */
#include <stdint.h>
#include <string.h>

#include "kt-error.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(KtPolicy) policy = NULL;
    g_autoptr(GError) err = NULL;
    guint i;

    /* the parser itself refuses past 1 MiB; exercise that bound too */
    if (size > 2 * 1024 * 1024)
        return 0;
    policy = kt_policy_parse("fuzz.yaml", (const char *)data, size, &err);
    if (!policy) {
        if (!err || err->domain != KT_ERROR || !err->message[0])
            __builtin_trap();
        return 0;
    }
    if (err || !g_str_has_prefix(policy->hash, "sha256:"))
        __builtin_trap();
    for (i = 0; i < policy->match->len; i++) {
        const KtPolicyMatch *m = policy->match->pdata[i];

        if (m->profile && !kt_policy_find_profile(policy, m->profile))
            __builtin_trap();
    }
    (void)kt_policy_match(policy, "db.large", "instance-1", NULL, NULL);
    return 0;
}
