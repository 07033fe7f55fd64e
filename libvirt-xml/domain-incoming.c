/* domain-incoming.c: make a definition that arrives from another host
 * (migration, a restored image) placeable here.
 *
 * CPU pins and NUMA node sets name the source host's CPUs and nodes.  When
 * every one of them exists here (Nova's NUMA-aware live migration rewrites
 * them for the destination before it migrates), they are kept: Nova wins.
 * When any of them names a CPU or node this host lacks, the whole part is
 * meaningless here and is dropped, so the allocator places it afresh: a
 * partial set of pins would be worse than none. */
#include "domain-priv.h"

static const char *const cpu_pin_elements[] = { "vcpupin", "emulatorpin", "iothreadpin", NULL };

/* true when @text is not a set of members of @host (unparsable counts as
 * foreign: we cannot vouch for it). */
static bool
is_foreign(const char *text, const KtCpuset *host)
{
    g_autoptr(KtCpuset) set = NULL;

    if (!text)
        return false;
    if (!(set = kt_cpuset_parse(text, NULL)))
        return true;
    return !kt_cpuset_is_subset(set, host);
}

static bool
prop_is_foreign(xmlNode *node, const char *name, const KtCpuset *host)
{
    g_autofree char *text = node ? kt_xml_prop(node, name) : NULL;

    return is_foreign(text, host);
}

static bool
cpu_pins_foreign(xmlNode *root, const KtCpuset *host_cpus)
{
    xmlNode *cputune = kt_xml_child(root, "cputune");
    xmlNode *c;
    guint i;

    if (prop_is_foreign(kt_xml_child(root, "vcpu"), "cpuset", host_cpus))
        return true;
    for (c = cputune ? cputune->children : NULL; c; c = c->next) {
        for (i = 0; cpu_pin_elements[i]; i++) {
            if (kt_xml_is(c, cpu_pin_elements[i]) && prop_is_foreign(c, "cpuset", host_cpus))
                return true;
        }
    }
    return false;
}

static bool
nodes_foreign(xmlNode *root, const KtCpuset *host_nodes)
{
    xmlNode *numatune = kt_xml_child(root, "numatune");
    xmlNode *mb = kt_xml_child(root, "memoryBacking");
    xmlNode *hp = mb ? kt_xml_child(mb, "hugepages") : NULL;
    xmlNode *c;

    for (c = numatune ? numatune->children : NULL; c; c = c->next) {
        if ((kt_xml_is(c, "memory") || kt_xml_is(c, "memnode")) &&
            prop_is_foreign(c, "nodeset", host_nodes))
            return true;
    }
    for (c = hp ? hp->children : NULL; c; c = c->next) {
        if (kt_xml_is(c, "page") && prop_is_foreign(c, "nodeset", host_nodes))
            return true;
    }
    return false;
}

guint
kt_domain_drop_foreign_tuning(KtDomain *dom, const KtCpuset *host_cpus,
                              const KtCpuset *host_nodes)
{
    xmlNode *root = xmlDocGetRootElement(dom->doc);
    guint dropped = 0;

    if (!root)
        return 0;
    kt_domain_edit(dom);
    if (cpu_pins_foreign(root, host_cpus)) {
        xmlNode *vcpu = kt_xml_child(root, "vcpu");
        xmlNode *cputune = kt_xml_child(root, "cputune");
        guint i;

        if (vcpu && xmlHasProp(vcpu, BAD_CAST "cpuset")) {
            kt_xml_prop_remove(vcpu, "cpuset");
            dropped++;
        }
        for (i = 0; cpu_pin_elements[i]; i++)
            dropped += kt_xml_children_remove(cputune, cpu_pin_elements[i]);
        kt_domain_drop_if_empty(cputune);
    }
    if (nodes_foreign(root, host_nodes)) {
        xmlNode *numatune = kt_xml_child(root, "numatune");
        xmlNode *mb = kt_xml_child(root, "memoryBacking");
        xmlNode *hp = mb ? kt_xml_child(mb, "hugepages") : NULL;
        xmlNode *c;

        if (numatune) {
            kt_xml_node_remove(numatune);
            dropped++;
        }
        /* the page size stays (the guest asked for hugepages), only the
         * source host's node list goes */
        for (c = hp ? hp->children : NULL; c; c = c->next) {
            if (kt_xml_is(c, "page") && xmlHasProp(c, BAD_CAST "nodeset")) {
                kt_xml_prop_remove(c, "nodeset");
                dropped++;
            }
        }
    }
    return dropped;
}
