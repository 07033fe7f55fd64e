/* cmd-check-policy.c: placeholder until its module lands; replace the whole file. */
#include <stdio.h>
#include "commands.h"

int
kt_cmd_check_policy(int argc, char **argv)
{
    fprintf(stderr, "kvmtune %s: not available in this build\n", argv[0]);
    return KT_EXIT_FAILURE;
}
