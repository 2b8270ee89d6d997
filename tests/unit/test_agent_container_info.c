/* container_info: which ContainerInfo the agent refuses, and the message naming why. */
#include <string.h>

#include "containerizer/container_info.h"
#include "errors.h"
#include "test.h"

static void test_honoured(void)
{
    char why[1024] = "";
    CHECK_INT(cm_container_info_check(NULL, "task", why, sizeof why), 0);
    Mesos__V1__ContainerInfo ci = MESOS__V1__CONTAINER_INFO__INIT;
    ci.type = MESOS__V1__CONTAINER_INFO__TYPE__MESOS;
    Mesos__V1__ContainerInfo__MesosInfo mi = MESOS__V1__CONTAINER_INFO__MESOS_INFO__INIT;
    ci.mesos = &mi; /* MesosInfo without an image is fine */
    CHECK_INT(cm_container_info_check(&ci, "task", why, sizeof why), 0);
}

static void test_refused(void)
{
    char why[1024] = "";
    Mesos__V1__ContainerInfo ci = MESOS__V1__CONTAINER_INFO__INIT;
    Mesos__V1__ContainerInfo__DockerInfo di = MESOS__V1__CONTAINER_INFO__DOCKER_INFO__INIT;
    di.image = "alpine:3.19";
    ci.type = MESOS__V1__CONTAINER_INFO__TYPE__DOCKER;
    ci.docker = &di;
    CHECK_INT(cm_container_info_check(&ci, "executor", why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "The executor's ContainerInfo cannot be honoured") != NULL);
    CHECK(strstr(why, "type DOCKER (image 'alpine:3.19') is not supported") != NULL);

    Mesos__V1__ContainerInfo m = MESOS__V1__CONTAINER_INFO__INIT;
    m.type = MESOS__V1__CONTAINER_INFO__TYPE__MESOS;
    Mesos__V1__ContainerInfo__MesosInfo mi = MESOS__V1__CONTAINER_INFO__MESOS_INFO__INIT;
    Mesos__V1__Image im = MESOS__V1__IMAGE__INIT;
    Mesos__V1__Image__Docker imd = MESOS__V1__IMAGE__DOCKER__INIT;
    imd.name = "busybox";
    im.docker = &imd;
    mi.image = &im;
    m.mesos = &mi;
    Mesos__V1__Volume vol = MESOS__V1__VOLUME__INIT;
    Mesos__V1__Volume *vols[] = {&vol};
    m.n_volumes = 1;
    m.volumes = vols;
    m.hostname = "h";
    Mesos__V1__LinuxInfo li = MESOS__V1__LINUX_INFO__INIT;
    m.linux_info = &li;
    CHECK_INT(cm_container_info_check(&m, "task", why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "The task's ContainerInfo") != NULL);
    CHECK(strstr(why, "'mesos.image' ('busybox') is not supported") != NULL);
    CHECK(strstr(why, "'volumes' are not supported") != NULL);
    CHECK(strstr(why, "'hostname' is not supported") != NULL);
    CHECK(strstr(why, "'linux_info' is not supported") != NULL);

    /* A DockerInfo under type MESOS, and an unknown type. */
    Mesos__V1__ContainerInfo d = MESOS__V1__CONTAINER_INFO__INIT;
    d.type = MESOS__V1__CONTAINER_INFO__TYPE__MESOS;
    d.docker = &di;
    CHECK_INT(cm_container_info_check(&d, "task", why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "'docker' is not supported") != NULL);
    d.docker = NULL;
    d.type = (Mesos__V1__ContainerInfo__Type)7;
    CHECK_INT(cm_container_info_check(&d, "task", why, sizeof why), CM_EINVAL);
    CHECK(strstr(why, "type 7 is not supported") != NULL);
}

TEST_MAIN(TEST(test_honoured), TEST(test_refused))
