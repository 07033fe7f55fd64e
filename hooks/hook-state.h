/* hook-state.h: what the hook itself did, kept under its state directory
 * (/run/kvmtune-hook: tmpfs, so a host reboot forgets it with the devices).
 *
 *   <dir>/lock                  flock()ed while a hook checks and records
 *   <dir>/domains/<uuid>.conf   per running domain: the mdevs this hook
 *                               created (release removes exactly these) and
 *                               the VFs it claimed
 *   <dir>/vf/<pci address>      the domain uuid holding the VF (or whole
 *                               GPU: claims cover any passed-through PCI
 *                               device)
 *
 * Nothing else is recorded: an mdev that existed before prepare, or that
 * mdevctl persists, is never in a record, so release never removes it. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "placement.h"

typedef struct {
    char *uuid;          /* domain uuid (canonical, checked) */
    char *name;
    GPtrArray *mdevs;    /* KtPlacementMdev*: created by kvmtune */
    GPtrArray *vfs;      /* char*: VF addresses claimed */
} KtHookRecord;

KtHookRecord *kt_hook_record_new(const char *uuid, const char *name);
void kt_hook_record_free(KtHookRecord *rec);
void kt_hook_record_add_mdev(KtHookRecord *rec, const KtPlacementMdev *m);
bool kt_hook_record_has_mdev(const KtHookRecord *rec, const char *uuid);

typedef struct _KtHookState KtHookState;

/* Creates the directories (0700) when missing and takes the lock; it is
 * held until kt_hook_state_free(). */
KtHookState *kt_hook_state_open(const char *dir, GError **error);
void kt_hook_state_free(KtHookState *st);

/* *@ret_rec is NULL (and TRUE returned) when the domain has no record. */
gboolean kt_hook_state_load(KtHookState *st, const char *uuid,
                            KtHookRecord **ret_rec, GError **error);
/* The record whose domain is called @name, if any (for a release whose XML
 * cannot be read). */
gboolean kt_hook_state_find_name(KtHookState *st, const char *name,
                                 KtHookRecord **ret_rec, GError **error);
/* Writes the VF claims, then the record (atomically, by rename). */
gboolean kt_hook_state_save(KtHookState *st, const KtHookRecord *rec,
                            GError **error);
/* Drops the record and the VF claims it holds (not others' claims). */
gboolean kt_hook_state_delete(KtHookState *st, const KtHookRecord *rec,
                              GError **error);
/* The domain uuid that claimed @vf, or NULL.  Caller frees. */
char *kt_hook_state_vf_owner(KtHookState *st, const char *vf);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtHookRecord, kt_hook_record_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtHookState, kt_hook_state_free)
