/* hook-host.h: the host facts a prepare hook checks, read under a sysroot.
 *
 * These read the few sysfs files a check needs instead of loading the whole
 * KtInventory (every CPU, every PCI device through libpci): the hook runs
 * on libvirt's start path, where each millisecond delays the guest.  The
 * paths are the same ones nova-helper/inventory.c reads. */
#pragma once

#include <glib.h>

/* Free hugepages of @size_kib on NUMA @node (free_hugepages of that node's
 * pool).  KT_ERROR_NOT_FOUND when the node or the page size is absent. */
gboolean kt_hook_host_free_hugepages(const char *sysroot, guint node,
                                     guint64 size_kib, guint64 *ret_free,
                                     GError **error);

/* @vf exists and is a virtual function (of @pf when @pf is not NULL). */
gboolean kt_hook_host_check_vf(const char *sysroot, const char *pf,
                               const char *vf, GError **error);

/* PCI devices given to running domains other than @self_uuid, read from
 * libvirt's status files (<sysroot>/run/libvirt/qemu/<name>.xml; a hook may
 * read them, never ask libvirtd): "dddd:bb:ss.f" -> domain name.  Hostdevs,
 * hostdev interfaces and kvmtune placements' VFs count.  Unreadable or
 * foreign files are skipped: they cannot make a start fail. */
GHashTable *kt_hook_host_running_pci(const char *sysroot, const char *self_uuid);
