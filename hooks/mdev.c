/* mdev.c: mediated devices under a sysroot; see mdev.h. */
#include "mdev.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt-error.h"

/* sysfs attributes we read are a few bytes; anything longer is not one. */
#define ATTR_MAX 64

static bool
is_lower_hex(char c)
{
    return g_ascii_isdigit(c) || (c >= 'a' && c <= 'f');
}

bool
kt_mdev_uuid_valid(const char *uuid)
{
    gsize i;

    if (!uuid || strlen(uuid) != 36)
        return false;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (uuid[i] != '-')
                return false;
        } else if (!is_lower_hex(uuid[i])) {
            return false;
        }
    }
    return true;
}

bool
kt_mdev_type_valid(const char *type)
{
    gsize i;
    gsize len;

    if (!type)
        return false;
    len = strlen(type);
    /* A leading '.' would allow "." and ".." (and hidden names). */
    if (len == 0 || len > 64 || type[0] == '.')
        return false;
    for (i = 0; i < len; i++) {
        char c = type[i];

        if (!g_ascii_isalnum(c) && c != '-' && c != '_' && c != '.' &&
            c != ':' && c != '+')
            return false;
    }
    return true;
}

/* Parses exactly @n lower-case hex digits at @s into @ret. */
static bool
hex_field(const char *s, gsize n, guint *ret)
{
    guint v = 0;
    gsize i;

    for (i = 0; i < n; i++) {
        if (!is_lower_hex(s[i]))
            return false;
        v = v * 16 + (guint)g_ascii_xdigit_value(s[i]);
    }
    *ret = v;
    return true;
}

bool
kt_pci_address_valid(const char *address)
{
    const char *colon;
    gsize ndomain;
    guint v;

    if (!address)
        return false;
    colon = strchr(address, ':');
    if (!colon)
        return false;
    ndomain = (gsize)(colon - address);
    if (ndomain < 4 || ndomain > 8 || !hex_field(address, ndomain, &v))
        return false;
    /* ":bb:ss.f" and nothing after. */
    if (strlen(colon) != 8 || colon[3] != ':' || colon[6] != '.')
        return false;
    if (!hex_field(colon + 1, 2, &v))
        return false;
    if (!hex_field(colon + 4, 2, &v) || v > 0x1f)
        return false;
    if (!hex_field(colon + 7, 1, &v) || v > 7)
        return false;
    return true;
}

gboolean
kt_mdev_check_names(const char *parent, const char *type, const char *uuid,
                    GError **error)
{
    /* Quote with %s only after escaping: a hostile string may hold control
     * characters that would break the one-line message. */
    if (!kt_pci_address_valid(parent)) {
        g_autofree char *esc = g_strescape(parent ? parent : "(none)", NULL);

        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "mdev parent '%s' is not a PCI address", esc);
        return FALSE;
    }
    if (type && !kt_mdev_type_valid(type)) {
        g_autofree char *esc = g_strescape(type, NULL);

        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "mdev type '%s' is not a valid type id", esc);
        return FALSE;
    }
    if (!kt_mdev_uuid_valid(uuid)) {
        g_autofree char *esc = g_strescape(uuid ? uuid : "(none)", NULL);

        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "mdev uuid '%s' is not a canonical lower-case uuid", esc);
        return FALSE;
    }
    return TRUE;
}

static char *
type_dir(const char *sysroot, const char *parent, const char *type)
{
    return g_build_filename(sysroot, "sys", "class", "mdev_bus", parent,
                            "mdev_supported_types", type, NULL);
}

static char *
device_dir(const char *sysroot, const char *uuid)
{
    return g_build_filename(sysroot, "sys", "bus", "mdev", "devices", uuid, NULL);
}

/* One write(2) of @text, as sysfs stores need.  Never creates the file.
 * No O_TRUNC: sysfs has nothing to truncate, and on a disk-backed fake
 * sysfs (tests) truncate-then-write makes ext4 flush at close
 * (auto_da_alloc), milliseconds per write.  Returns 0 or -errno. */
static int
write_attr(const char *path, const char *text)
{
    gsize len = strlen(text);
    ssize_t n;
    int fd;
    int saved;

    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    n = write(fd, text, len);
    saved = errno;
    if (close(fd) < 0 && n >= 0)
        return -errno;
    if (n < 0)
        return -saved;
    if ((gsize)n != len)
        return -EIO;
    return 0;
}

/* Reads a small attribute into @buf (NUL-terminated, whitespace stripped).
 * Returns 0 or -errno. */
static int
read_attr(const char *path, char *buf, gsize size)
{
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, size - 1);
    if (n < 0) {
        int saved = errno;

        close(fd);
        return -saved;
    }
    close(fd);
    buf[n] = '\0';
    g_strstrip(buf);
    return 0;
}

bool
kt_mdev_exists(const char *sysroot, const char *uuid)
{
    g_autofree char *dir = NULL;

    if (!kt_mdev_uuid_valid(uuid))
        return false;
    dir = device_dir(sysroot, uuid);
    return g_file_test(dir, G_FILE_TEST_IS_DIR);
}

gboolean
kt_mdev_available(const char *sysroot, const char *parent, const char *type,
                  guint *ret_available, GError **error)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    char buf[ATTR_MAX];
    guint64 value;
    int r;

    if (!kt_mdev_check_names(parent, type, "00000000-0000-0000-0000-000000000000",
                             error))
        return FALSE;
    dir = type_dir(sysroot, parent, type);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_autofree char *pdir = g_build_filename(sysroot, "sys", "class",
                                                 "mdev_bus", parent, NULL);

        if (!g_file_test(pdir, G_FILE_TEST_IS_DIR))
            g_set_error(error, KT_ERROR, KT_ERROR_NOT_FOUND,
                        "%s is not an mdev parent on this host", parent);
        else
            g_set_error(error, KT_ERROR, KT_ERROR_NOT_FOUND,
                        "%s does not offer mdev type %s", parent, type);
        return FALSE;
    }
    path = g_build_filename(dir, "available_instances", NULL);
    r = read_attr(path, buf, sizeof(buf));
    if (r < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "%s: %s", path, g_strerror(-r));
        return FALSE;
    }
    if (!g_ascii_string_to_unsigned(buf, 10, 0, G_MAXUINT, &value, NULL)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "%s: '%s' is not a count", path, buf);
        return FALSE;
    }
    *ret_available = (guint)value;
    return TRUE;
}

gboolean
kt_mdev_create(const char *sysroot, const char *parent, const char *type,
               const char *uuid, GError **error)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    int r;

    if (!kt_mdev_check_names(parent, type, uuid, error))
        return FALSE;
    dir = type_dir(sysroot, parent, type);
    path = g_build_filename(dir, "create", NULL);
    r = write_attr(path, uuid);
    if (r == -ENOENT) {
        g_set_error(error, KT_ERROR, KT_ERROR_NOT_FOUND,
                    "cannot create mdev %s: %s has no mdev type %s",
                    uuid, parent, type);
        return FALSE;
    }
    if (r < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO,
                    "cannot create mdev %s (%s on %s): %s",
                    uuid, type, parent, g_strerror(-r));
        return FALSE;
    }
    return TRUE;
}

gboolean
kt_mdev_remove(const char *sysroot, const char *uuid, bool *ret_removed,
               GError **error)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    int r;

    if (!kt_mdev_check_names("0000:00:00.0", NULL, uuid, error))
        return FALSE;
    dir = device_dir(sysroot, uuid);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        if (ret_removed)
            *ret_removed = false;
        return TRUE;
    }
    path = g_build_filename(dir, "remove", NULL);
    r = write_attr(path, "1");
    if (r < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO,
                    "cannot remove mdev %s: %s", uuid, g_strerror(-r));
        return FALSE;
    }
    if (ret_removed)
        *ret_removed = true;
    return TRUE;
}

char *
kt_mdev_mdevctl_path(const char *mdevctl_dir, const char *parent,
                     const char *uuid)
{
    return g_build_filename(mdevctl_dir, parent, uuid, NULL);
}

bool
kt_mdev_mdevctl_defined(const char *mdevctl_dir, const char *parent,
                        const char *uuid)
{
    g_autofree char *path = NULL;

    if (!kt_pci_address_valid(parent) || !kt_mdev_uuid_valid(uuid))
        return false;
    path = kt_mdev_mdevctl_path(mdevctl_dir, parent, uuid);
    return g_file_test(path, G_FILE_TEST_IS_REGULAR);
}

char *
kt_mdev_format_mdevctl(const char *type, bool autostart)
{
    g_return_val_if_fail(kt_mdev_type_valid(type), NULL);

    /* A valid type id needs no JSON escaping. */
    return g_strdup_printf("{\n"
                           "  \"mdev_type\": \"%s\",\n"
                           "  \"start\": \"%s\",\n"
                           "  \"attrs\": []\n"
                           "}\n",
                           type, autostart ? "auto" : "manual");
}
