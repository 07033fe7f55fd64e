/* placement-test: see placement-test.h. */
#include <string.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>

#include "placement-test.h"

void
kt_test_placement_two_cells(KtPlacement *pl, guint nvcpus, guint64 memory_kib)
{
    guint i;

    pl->ncells = 2;
    pl->cells = g_new0(KtPlacementCell, 2);
    pl->cells[0].vcpus = kt_cpuset_new();
    pl->cells[1].vcpus = kt_cpuset_new();
    for (i = 0; i < nvcpus; i++)
        kt_cpuset_add(pl->cells[i < nvcpus / 2 ? 0 : 1].vcpus, i);
    pl->cells[0].memory_kib = memory_kib / 2;
    pl->cells[1].memory_kib = memory_kib - memory_kib / 2;
    pl->cells[1].host_node = 1;
}

char *
kt_test_canonical(const char *xml)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "c.xml", NULL, XML_PARSE_NONET);
    xmlChar *out = NULL;
    char *r;

    g_assert_nonnull(doc);
    g_assert_cmpint(xmlC14NDocDumpMemory(doc, NULL, XML_C14N_1_0, NULL, 1, &out), >=, 0);
    r = g_strdup((const char *)out);
    xmlFree(out);
    xmlFreeDoc(doc);
    return r;
}
