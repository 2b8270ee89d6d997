/* fuzz_agent_image.c: the container image parsers (image_spec.h) and the tar reader
 * (image_tar.h). The first byte picks the parser, the rest is its input. Properties: a refusal
 * says why; an accepted reference prints back to a string that parses to the same parts and
 * has no '..' component; an accepted config's diff_ids are 64 hex digits; accepted manifest
 * member names are relative without '..'; OCI descriptors are 64 hex digits; the tar reader
 * never yields a name longer than its bound, and cleaned names never hold '..'. */
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "containerizer/image_spec.h"
#include "containerizer/image_tar.h"
#include "errors.h"
#include "fuzz.h"

static bool hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool has_dotdot(const char *s)
{
    for (const char *c = s;;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return true;
        if (!e)
            return false;
        c = e + 1;
    }
}

static void fuzz_ref(const char *text)
{
    struct cm_image_ref r, r2;
    char why[256] = "", s[1024];
    if (cm_image_ref_parse(text, &r, why, sizeof why) != 0) {
        FUZZ_ASSERT(why[0]);
        return;
    }
    FUZZ_ASSERT(r.repository[0]);
    cm_image_ref_string(&r, s, sizeof s);
    FUZZ_ASSERT(!has_dotdot(s));
    /* A digest hides the tag when printed; without one the round trip is exact. */
    if (!r.digest[0]) {
        FUZZ_ASSERT(cm_image_ref_parse(s, &r2, why, sizeof why) == 0);
        FUZZ_ASSERT(strcmp(r.registry, r2.registry) == 0);
        FUZZ_ASSERT(strcmp(r.repository, r2.repository) == 0);
        FUZZ_ASSERT(strcmp(r.tag, r2.tag) == 0);
    }
}

static void fuzz_config(const char *text, size_t len)
{
    struct cm_image_config c;
    char why[256] = "";
    if (cm_image_config_parse(text, len, &c, why, sizeof why) != 0) {
        FUZZ_ASSERT(why[0]);
        return;
    }
    for (size_t i = 0; i < c.n_diff_ids; i++)
        FUZZ_ASSERT(hex64(c.diff_ids[i]));
    FUZZ_ASSERT(!c.workdir || !c.workdir[0] || c.workdir[0] == '/');
    char **argv = NULL;
    if (cm_image_launch_argv(false, NULL, NULL, 0, &c, &argv, why, sizeof why) == 0) {
        FUZZ_ASSERT(argv && argv[0]);
        cm_image_strv_free(argv);
    }
    cm_image_config_cleanup(&c);
}

static void fuzz_manifest(const char *text, size_t len)
{
    struct cm_image_ref r;
    cm_image_ref_parse("busybox", &r, NULL, 0);
    char *config = NULL, **layers = NULL, why[256] = "";
    if (cm_image_docker_manifest(text, len, &r, &config, &layers, why, sizeof why) != 0) {
        FUZZ_ASSERT(why[0] && !config && !layers);
        return;
    }
    FUZZ_ASSERT(config[0] != '/' && !has_dotdot(config));
    for (char **l = layers; *l; l++)
        FUZZ_ASSERT((*l)[0] != '/' && !has_dotdot(*l));
    free(config);
    cm_image_strv_free(layers);
}

static void fuzz_oci(const char *text, size_t len)
{
    struct cm_image_desc d, cfg, *layers = NULL;
    size_t n = 0;
    char why[256] = "";
    if (cm_image_oci_index(text, len, "busybox", "latest", &d, why, sizeof why) == 0)
        FUZZ_ASSERT(hex64(d.hex));
    else
        FUZZ_ASSERT(why[0]);
    why[0] = '\0';
    if (cm_image_oci_manifest(text, len, &cfg, &layers, &n, why, sizeof why) == 0) {
        FUZZ_ASSERT(hex64(cfg.hex));
        for (size_t i = 0; i < n; i++)
            FUZZ_ASSERT(hex64(layers[i].hex));
        free(layers);
    } else {
        FUZZ_ASSERT(why[0] && !layers);
    }
}

static void fuzz_tar(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-tar", MFD_CLOEXEC);
    if (fd < 0)
        return;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return;
    }
    struct cm_tar_src *s = NULL;
    if (cm_tar_src_open(fd, 0, -1, &s) != 0) {
        close(fd);
        return;
    }
    struct cm_tar_entry e;
    char why[256] = "";
    int rc, entries = 0;
    while ((rc = cm_tar_next(s, &e, why, sizeof why)) == 1 && entries++ < 1000) {
        FUZZ_ASSERT(strlen(e.path) < CM_TAR_PATH_MAX && strlen(e.link) < CM_TAR_PATH_MAX);
        char clean[CM_TAR_PATH_MAX];
        if (cm_tar_clean_path(e.path, clean, sizeof clean) == 0)
            FUZZ_ASSERT(!has_dotdot(clean) && clean[0] != '/');
        if (entries % 2) {
            char *buf = NULL;
            size_t n = 0;
            if (cm_tar_read_data(s, &e, 4096, &buf, &n, why, sizeof why) == 0)
                FUZZ_ASSERT(n == e.size);
            free(buf);
        }
    }
    if (rc < 0)
        FUZZ_ASSERT(why[0]);
    cm_tar_src_free(s);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 5;
    data++;
    size--;
    char *text = fuzz_strndup(data, size);
    switch (which) {
    case 0: fuzz_ref(text); break;
    case 1: fuzz_config(text, size); break;
    case 2: fuzz_manifest(text, size); break;
    case 3: fuzz_oci(text, size); break;
    default: fuzz_tar(data, size); break;
    }
    free(text);
    return 0;
}
