/* fuzz-main.c: replay driver for builds without libFuzzer.  Feeds every file
 * of the directories (or files) named on the command line to the target's
 * LLVMFuzzerTestOneInput, so saved seeds and minimised crashes run as
 * regression tests in the normal and sanitizer builds (systemd's scheme). */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(path, &data, &len, &err)) {
        fprintf(stderr, "fuzz-main: %s\n", err->message);
        return 1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    return 0;
}

int
main(int argc, char **argv)
{
    int i;
    guint n = 0;

    for (i = 1; i < argc; i++) {
        if (g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
            g_autoptr(GDir) dir = g_dir_open(argv[i], 0, NULL);
            const char *name;

            while (dir && (name = g_dir_read_name(dir))) {
                g_autofree char *path = g_build_filename(argv[i], name, NULL);

                if (run_file(path) != 0)
                    return 1;
                n++;
            }
        } else {
            if (run_file(argv[i]) != 0)
                return 1;
            n++;
        }
    }
    printf("1..1\nok 1 - replayed %u inputs\n", n);
    return 0;
}
