/* hook-ops.h: the operations of the qemu hook (qemu.d/kvmtune), one file
 * each: hook-prepare.c, hook-release.c, hook-incoming.c.  qemu-hook.c maps
 * libvirt's arguments to them and turns an error into one stderr line.
 *
 * None of them calls libvirt: libvirtd is blocked on the hook. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "hook-config.h"

/* `prepare begin`: for a domain with a kvmtune placement, checks the
 * hugepages, VFs and GPUs it names are there and free, then creates its
 * mdevs (those not already present) and records them.  On failure nothing
 * this call created is left behind. */
gboolean kt_hook_prepare(const KtHookConfig *cfg, const char *name,
                         const char *xml, gsize len, GError **error);

/* `release end`: removes the mdevs the prepare of this domain created (not
 * those that existed before or that mdevctl persists) and drops its VF
 * claims. */
gboolean kt_hook_release(const KtHookConfig *cfg, const char *name,
                         const char *xml, gsize len, GError **error);

/* `migrate begin` / `restore begin`: asks kvmtuned to place the incoming
 * domain on this host; *@ret_xml is the XML to print.  When kvmtuned cannot
 * be reached and the policy says hooks.on_daemon_down: passthrough, it is
 * the input unchanged and *@ret_passthrough (may be NULL) is true. */
gboolean kt_hook_incoming(const KtHookConfig *cfg, const char *xml, gsize len,
                          char **ret_xml, bool *ret_passthrough,
                          GError **error);

/* Tells kvmtuned about @event for the domain (best effort, short timeout,
 * never fails: reconnect must not make libvirt kill the guest). */
void kt_hook_notify(const KtHookConfig *cfg, const char *event,
                    const char *name, const char *xml, gsize len);
