/* fuzz-pve-conf: any bytes give a config or a GError.  A parsed config
 * formats back to the same bytes, reads as a VM or a GError (running and
 * next-start views), and after
 * setting a key still round-trips through parse and format. */
#include <stdint.h>
#include <string.h>

#include "pve-conf.h"
#include "pve-vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(KtPveConf) conf = NULL;
    g_autoptr(KtPveConf) again = NULL;
    g_autoptr(KtPveVm) vm = NULL;
    g_autoptr(KtPveVm) next = NULL;
    g_autoptr(GError) next_err = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) vm_err = NULL;
    g_autofree char *out = NULL;
    g_autofree char *edited = NULL;
    g_autofree char *reread = NULL;
    gsize len = 0;

    if (size > KT_PVE_CONF_MAX + 1)
        return 0;
    conf = kt_pve_conf_parse((const char *)data, size, &err);
    if (!conf) {
        if (!err)
            __builtin_trap();
        return 0;
    }
    out = kt_pve_conf_format(conf, &len);
    if (len != size || memcmp(out, data, size) != 0)
        __builtin_trap();

    vm = kt_pve_vm_from_conf(conf, 100, &vm_err);
    if (!vm && !vm_err)
        __builtin_trap();
    next = kt_pve_vm_from_conf_next_start(conf, 100, &next_err);
    if (!next && !next_err)
        __builtin_trap();

    if (!kt_pve_conf_set(conf, "numa", "1", NULL) ||
        !kt_pve_conf_set(conf, "affinity", "0-3", NULL))
        __builtin_trap();
    edited = kt_pve_conf_format(conf, &len);
    again = kt_pve_conf_parse(edited, len, NULL);
    if (!again)
        return 0;     /* the edit may push it past the size bound */
    if (g_strcmp0(kt_pve_conf_get(again, "numa"), "1") != 0 ||
        g_strcmp0(kt_pve_conf_get(again, "affinity"), "0-3") != 0)
        __builtin_trap();
    reread = kt_pve_conf_format(again, NULL);
    if (strcmp(reread, edited) != 0)
        __builtin_trap();
    return 0;
}
