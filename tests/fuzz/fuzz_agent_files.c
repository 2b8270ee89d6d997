/* fuzz_agent_files.c: /files path confinement (cm_files_open, the entry point every /files
 * handler resolves ?path= through) over a sandbox holding files, a subdirectory, a harmless
 * symlink and symlinks that escape (to a file and a directory outside, and to /etc), attached
 * under its real path and its virtual run paths, plus a single attached log file; and
 * cm_files_utf8_sanitize, which /files/read uses on the bytes it returns.
 *
 * Input: byte 0 picks the prefix put before the rest (none, the sandbox's real path, a
 * virtual run path, /slave/log); the rest is the path (embedded NULs end it). Properties: the
 * answer is one of 0, CM_EINVAL, -EACCES, CM_ENOTFOUND; whatever resolves is, after symlinks,
 * the log file or inside the sandbox, never outside it; the sanitized prefix is valid UTF-8 and
 * only a trailing incomplete character is held back. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "files.h"
#include "fuzz.h"

static char root[64];
static char sandbox_real[PATH_MAX], log_real[PATH_MAX];
static char sandbox[PATH_MAX];
static struct cm_files *files;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    FUZZ_ASSERT(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void cleanup(void)
{
    cm_files_free(files);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(root, sizeof root, "/tmp/cm_fuzz_files_XXXXXX");
    FUZZ_ASSERT(mkdtemp(root) != NULL);
    char p[PATH_MAX + 64], q[PATH_MAX + 64];
    snprintf(sandbox, sizeof sandbox, "%s/sandbox", root);
    mkdir(sandbox, 0755);
    snprintf(p, sizeof p, "%s/outside", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/outside/secret", root);
    write_file(p, "secret\n");
    snprintf(p, sizeof p, "%s/stdout", sandbox);
    write_file(p, "hello\n");
    snprintf(p, sizeof p, "%s/sub", sandbox);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sub/inner.txt", sandbox);
    write_file(p, "inner\n");
    snprintf(p, sizeof p, "%s/evil", sandbox);
    snprintf(q, sizeof q, "%s/outside/secret", root);
    FUZZ_ASSERT(symlink(q, p) == 0);
    snprintf(p, sizeof p, "%s/evildir", sandbox);
    snprintf(q, sizeof q, "%s/outside", root);
    FUZZ_ASSERT(symlink(q, p) == 0);
    snprintf(p, sizeof p, "%s/etc", sandbox);
    FUZZ_ASSERT(symlink("/etc", p) == 0);
    snprintf(p, sizeof p, "%s/sub/up", sandbox);
    FUZZ_ASSERT(symlink("../..", p) == 0);
    snprintf(p, sizeof p, "%s/good", sandbox);
    FUZZ_ASSERT(symlink("sub/inner.txt", p) == 0);
    snprintf(p, sizeof p, "%s/agent.log", root);
    write_file(p, "log\n");
    FUZZ_ASSERT(realpath(sandbox, sandbox_real) != NULL);
    FUZZ_ASSERT(realpath(p, log_real) != NULL);

    files = cm_files_new();
    FUZZ_ASSERT(cm_files_attach(files, sandbox, sandbox) == 0);
    FUZZ_ASSERT(cm_files_attach(files, sandbox, "/frameworks/F/executors/E/runs/latest") == 0);
    FUZZ_ASSERT(cm_files_attach(files, sandbox, "/frameworks/F/executors/E/runs/C1") == 0);
    FUZZ_ASSERT(cm_files_attach(files, p, "/slave/log") == 0);
    atexit(cleanup);
    return 0;
}

static bool inside(const char *real)
{
    size_t n = strlen(sandbox_real);
    return strcmp(real, log_real) == 0 ||
           (strncmp(real, sandbox_real, n) == 0 && (real[n] == '\0' || real[n] == '/'));
}

static void sanitize(const uint8_t *data, size_t size)
{
    char *buf = fuzz_strndup(data, size);
    size_t keep = cm_files_utf8_sanitize(buf, size);
    FUZZ_ASSERT(keep <= size && size - keep <= 3);
    json_t *j = json_stringn(buf, keep);
    FUZZ_ASSERT(j != NULL);
    json_decref(j);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    sanitize(data + 1, size - 1);
    static const char *const prefixes[] = {"", NULL, "/frameworks/F/executors/E/runs/latest",
                                           "/slave/log"};
    const char *prefix = prefixes[data[0] % 4] ? prefixes[data[0] % 4] : sandbox;
    char *rest = fuzz_strndup(data + 1, size - 1);
    size_t n = strlen(prefix) + strlen(rest) + 1;
    char *path = malloc(n);
    FUZZ_ASSERT(path != NULL);
    snprintf(path, n, "%s%s", prefix, rest);

    /* The race-free open every /files endpoint uses: whatever it opens must be inside. */
    int fd = -1;
    int rc = cm_files_open(files, path, O_RDONLY | O_NONBLOCK, &fd, NULL);
    FUZZ_ASSERT(rc == 0 || rc == CM_EINVAL || rc == -EACCES || rc == CM_ENOTFOUND);
    if (rc == 0) {
        FUZZ_ASSERT(fd >= 0);
        char link[64], real[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, real, sizeof real - 1);
        if (len > 0) {
            real[len] = '\0';
            if (!inside(real))
                fprintf(stderr, "'%s' opened '%s', outside the sandbox\n", path, real);
            FUZZ_ASSERT(inside(real));
        }
        close(fd);
    }
    free(path);
    free(rest);
    return 0;
}
