/* commands.h: the subcommands of the `kvmtune` CLI.  Each lives in its own
 * cmd-<name>.c and returns the process exit status: 0 ok, 1 bad input or
 * usage, 2 internal failure, 3 no capacity.  argv[0] is the subcommand. */
#pragma once

#define KT_EXIT_OK 0
#define KT_EXIT_USAGE 1
#define KT_EXIT_FAILURE 2
#define KT_EXIT_NO_CAPACITY 3

int kt_cmd_rewrite(int argc, char **argv);
int kt_cmd_explain(int argc, char **argv);
int kt_cmd_simulate(int argc, char **argv);
int kt_cmd_inventory(int argc, char **argv);
int kt_cmd_check_policy(int argc, char **argv);
int kt_cmd_status(int argc, char **argv);
int kt_cmd_mdev(int argc, char **argv);
int kt_cmd_pve_apply(int argc, char **argv);
int kt_cmd_pve_hook(int argc, char **argv);
