/* user: looking up the user a container runs as, and refusing what cannot be honoured. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "containerizer/user.h"
#include "errors.h"
#include "test.h"

static void test_lookup(void)
{
    struct cm_user u;
    char why[256] = "";
    CHECK_INT(cm_user_lookup("cm-no-such-user-4711", &u, why, sizeof why), CM_ENOTFOUND);
    CHECK_STR(why, "User 'cm-no-such-user-4711' does not exist on this agent");
    CHECK_INT(cm_user_lookup("", &u, why, sizeof why), CM_EINVAL);
    CHECK_INT(cm_user_lookup(NULL, &u, why, sizeof why), CM_EINVAL);
    if (geteuid() != 0) {
        /* Not root: another user is refused with the reason. */
        CHECK_INT(cm_user_lookup("root", &u, why, sizeof why), CM_ESTATE);
        CHECK(strstr(why, "not as root") != NULL);
        return;
    }
    CHECK_INT(cm_user_lookup("root", &u, why, sizeof why), 0);
    CHECK(u.uid == 0 && u.gid == 0 && u.ngroups >= 1 && strcmp(u.name, "root") == 0);
    cm_user_cleanup(&u);
    CHECK_INT(cm_user_lookup("nobody", &u, why, sizeof why), 0);
    CHECK(u.uid == 65534 && u.ngroups >= 1);
    cm_user_cleanup(&u);
    cm_user_cleanup(NULL);
}

/* A child that became nobody: nobody itself is fine, root is refused, and cm_user_drop leaves
 * no way back. */
static void test_drop(void)
{
    if (geteuid() != 0)
        SKIP_CASE("dropping to another user needs root");
    struct cm_user u;
    char why[256] = "";
    REQUIRE(cm_user_lookup("nobody", &u, why, sizeof why) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (cm_user_drop(&u) != 0 || getuid() != 65534 || geteuid() != 65534)
            _exit(1);
        if (setuid(0) == 0)
            _exit(2);
        struct cm_user again;
        char w[256];
        if (cm_user_lookup("nobody", &again, w, sizeof w) != 0)
            _exit(3);
        cm_user_cleanup(&again);
        if (cm_user_lookup("root", &again, w, sizeof w) != CM_ESTATE)
            _exit(4);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), 0);
    cm_user_cleanup(&u);
}

TEST_MAIN(TEST(test_lookup), TEST(test_drop))
