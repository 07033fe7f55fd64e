/* mdev.h: mediated devices (vGPU slices) under a sysroot, and the strings
 * that name them.
 *
 * A uuid, an mdev type id or a PCI address read from a domain XML becomes a
 * path component under /sys and /etc/mdevctl.d, so each is checked against
 * its exact grammar first (kt_mdev_check_names); nothing else here accepts a
 * name that has not passed it.
 *
 * The validators and kt_mdev_format_mdevctl() are pure; the rest are edges
 * (they read and write sysfs under @sysroot, "/" on a live host).  In a fake
 * sysfs, writing `create` only writes the file: the device directory does
 * not appear, and callers must not treat that as a failure. */
#pragma once

#include <glib.h>
#include <stdbool.h>

/* Canonical lower-case uuid, "8-4-4-4-12" hex digits. */
bool kt_mdev_uuid_valid(const char *uuid);
/* An mdev type id as the kernel names the directory: 1..64 characters of
 * [A-Za-z0-9._:+-], not starting with '.' ("nvidia-222", "i915-GVTg_V5_4"). */
bool kt_mdev_type_valid(const char *type);
/* A PCI address "dddd:bb:ss.f" in lower-case hex (4 to 8 domain digits,
 * slot <= 1f, function <= 7). */
bool kt_pci_address_valid(const char *address);

/* Checks all three (@type may be NULL when unknown); the error names the
 * string that failed (KT_ERROR_INVALID). */
gboolean kt_mdev_check_names(const char *parent, const char *type,
                             const char *uuid, GError **error);

/* True when the mdev @uuid exists (sys/bus/mdev/devices/<uuid>). */
bool kt_mdev_exists(const char *sysroot, const char *uuid);

/* available_instances of @type on @parent; KT_ERROR_NOT_FOUND when the
 * parent or the type is absent. */
gboolean kt_mdev_available(const char *sysroot, const char *parent,
                           const char *type, guint *ret_available,
                           GError **error);

/* Writes @uuid to <parent>/mdev_supported_types/<type>/create.  Never
 * creates a file: a missing `create` is KT_ERROR_NOT_FOUND. */
gboolean kt_mdev_create(const char *sysroot, const char *parent,
                        const char *type, const char *uuid, GError **error);

/* Writes "1" to sys/bus/mdev/devices/<uuid>/remove.  An mdev that does not
 * exist is already removed: TRUE, and *@ret_removed (may be NULL) FALSE. */
gboolean kt_mdev_remove(const char *sysroot, const char *uuid,
                        bool *ret_removed, GError **error);

/* Path of mdevctl's definition of @uuid under @mdevctl_dir
 * (<dir>/<parent>/<uuid>); names must have been checked.  Caller frees. */
char *kt_mdev_mdevctl_path(const char *mdevctl_dir, const char *parent,
                           const char *uuid);
/* True when mdevctl has a definition for @uuid on @parent. */
bool kt_mdev_mdevctl_defined(const char *mdevctl_dir, const char *parent,
                             const char *uuid);

/* The JSON mdevctl stores for one device ({"mdev_type", "start", "attrs"},
 * as `mdevctl list -d --dumpjson` prints it), newline-terminated.  @type
 * must be valid.  Caller frees. */
char *kt_mdev_format_mdevctl(const char *type, bool autostart);
