/* cmd-status.c: `kvmtune status [--control PATH] [--json]`: what kvmtuned
 * has booked per node, free capacity and pending bookings, asked over the
 * control socket (protocol in control.h). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "control.h"
#include "kt-error.h"

#define STATUS_TIMEOUT_MS 10000

int
kt_cmd_status(int argc, char **argv)
{
    g_autofree char *control = NULL;
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "control", 0, 0, G_OPTION_ARG_FILENAME, &control,
          "kvmtuned's control socket (default " KT_CONTROL_DEFAULT_PATH ")", "PATH" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON instead of text", NULL },
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(GVariant) reply = NULL;
    const char *out = NULL;

    g_option_context_set_summary(ctx, "Bookings per node, free capacity and pending "
                                      "bookings of the running kvmtuned.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "kvmtune status: %s\n", err->message);
        return KT_EXIT_USAGE;
    }
    if (argc > 1) {
        fprintf(stderr, "kvmtune status: unexpected argument '%s'\n", argv[1]);
        return KT_EXIT_USAGE;
    }
    reply = kt_control_call(control ? control : KT_CONTROL_DEFAULT_PATH,
                            g_variant_new_parsed("{'op': <'status'>}"), STATUS_TIMEOUT_MS,
                            &err);
    if (!reply) {
        fprintf(stderr, "kvmtune status: %s\n", err->message);
        return KT_EXIT_FAILURE;
    }
    if (!g_variant_lookup(reply, json ? "json" : "text", "&s", &out)) {
        fprintf(stderr, "kvmtune status: kvmtuned sent no %s\n", json ? "json" : "text");
        return KT_EXIT_FAILURE;
    }
    fputs(out, stdout);
    if (out[0] && out[strlen(out) - 1] != '\n')
        fputc('\n', stdout);
    return KT_EXIT_OK;
}
