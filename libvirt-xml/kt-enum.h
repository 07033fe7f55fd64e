/* kt-enum.h: enum <-> string tables checked at compile time (libvirt's
 * VIR_ENUM_IMPL, systemd's string tables).
 *
 *   KT_ENUM_DECL(kt_cpu_policy);                      in the header
 *   KT_ENUM_IMPL(kt_cpu_policy, KT_CPU_POLICY_LAST, "shared", "dedicated");
 *
 * gives kt_cpu_policy_to_string(int) (NULL when out of range) and
 * kt_cpu_policy_from_string(const char *) (-1 when unknown).  The build fails
 * when the list and _LAST disagree. */
#pragma once

#include <glib.h>
#include <string.h>

#define KT_ENUM_DECL(name) \
    const char *name##_to_string(int value); \
    int name##_from_string(const char *str)

#define KT_ENUM_IMPL(name, last, ...) \
    static const char *const name##_table[] = { __VA_ARGS__ }; \
    G_STATIC_ASSERT(G_N_ELEMENTS(name##_table) == (last)); \
    const char * \
    name##_to_string(int value) \
    { \
        if (value < 0 || (gsize)value >= G_N_ELEMENTS(name##_table)) \
            return NULL; \
        return name##_table[value]; \
    } \
    int \
    name##_from_string(const char *str) \
    { \
        gsize i; \
        if (!str) \
            return -1; \
        for (i = 0; i < G_N_ELEMENTS(name##_table); i++) { \
            if (strcmp(name##_table[i], str) == 0) \
                return (int)i; \
        } \
        return -1; \
    }
