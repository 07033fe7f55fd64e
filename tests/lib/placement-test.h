/* placement-test: what the domain XML tests (tests/golden, tests/unit's
 * property tests, tests/corpus) share when they build placements by hand
 * and compare documents. */
#pragma once

#include <glib.h>

#include "placement.h"

/* Gives @pl two guest cells: vCPUs 0..@nvcpus/2-1 and the rest, @memory_kib
 * split in halves (the odd KiB to cell 1), cell 1 on host node 1. */
void kt_test_placement_two_cells(KtPlacement *pl, guint nvcpus, guint64 memory_kib);

/* @xml in canonical form (C14N 1.0 with comments); asserts it parses. */
char *kt_test_canonical(const char *xml);
