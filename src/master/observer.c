/* observer.c: the master core's one observer — how the operator API's SUBSCRIBE streams learn
 * about tasks, agents and frameworks without the core calling up into an edge. See master.h. */
#include <string.h>

#include "master.h"

void cm_master_set_observer(struct cm_master *m, const struct cm_master_observer *obs)
{
    if (obs)
        m->observer = *obs;
    else
        memset(&m->observer, 0, sizeof m->observer);
}

void cm_master_observer_destroy(struct cm_master *m)
{
    struct cm_master_observer obs = m->observer;
    memset(&m->observer, 0, sizeof m->observer);
    if (obs.destroy)
        obs.destroy(obs.arg);
}

void cm_master_notify_task_added(struct cm_master *m, const struct cm_task *t)
{
    if (m->observer.task_added)
        m->observer.task_added(m->observer.arg, t);
}

void cm_master_notify_task_updated(struct cm_master *m, const struct cm_task *t,
                                   const Mesos__V1__TaskStatus *st)
{
    if (m->observer.task_updated)
        m->observer.task_updated(m->observer.arg, t, st);
}

void cm_master_notify_agent_added(struct cm_master *m, const struct cm_agent *a)
{
    if (m->observer.agent_added)
        m->observer.agent_added(m->observer.arg, a);
}

void cm_master_notify_agent_removed(struct cm_master *m, const char *agent_id)
{
    if (m->observer.agent_removed)
        m->observer.agent_removed(m->observer.arg, agent_id);
}

void cm_master_notify_framework_added(struct cm_master *m, const struct cm_framework *fw)
{
    if (m->observer.framework_added)
        m->observer.framework_added(m->observer.arg, fw);
}

void cm_master_notify_framework_updated(struct cm_master *m, const struct cm_framework *fw)
{
    if (m->observer.framework_updated)
        m->observer.framework_updated(m->observer.arg, fw);
}

void cm_master_notify_framework_removed(struct cm_master *m, const struct cm_framework *fw)
{
    if (m->observer.framework_removed)
        m->observer.framework_removed(m->observer.arg, fw);
}
