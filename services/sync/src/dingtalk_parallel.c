/*
 * services/sync/src/dingtalk_parallel.c
 *    Runs a batch of independent reads on several connections of one
 *    client at once. Over the Internet one DingTalk request takes tens of
 *    milliseconds, so a walk with one request in flight stays well below
 *    the 20 calls per second an API allows.
 */
#include "dingtalk_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "roster/alloc.h"

struct pool {
    dt_task_fn fn;
    void *arg;
    size_t n;
    pthread_mutex_t mu;
    size_t next;  /* under mu: the next task to hand out */
    bool stopped; /* under mu: a task failed, hand out no more */
};

struct pool_thread {
    struct pool *pool;
    struct dt_conn *conn;
    pthread_t tid;
};

/* Takes tasks in index order until none are left or one has failed. */
static void
run_tasks(struct pool *p, struct dt_conn *conn)
{
    size_t i;

    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (p->stopped || p->next == p->n) {
            pthread_mutex_unlock(&p->mu);
            return;
        }
        i = p->next++;
        pthread_mutex_unlock(&p->mu);
        if (p->fn(p->arg, i, conn))
            continue;
        pthread_mutex_lock(&p->mu);
        p->stopped = true;
        pthread_mutex_unlock(&p->mu);
    }
}

static void *
thread_main(void *arg)
{
    struct pool_thread *t = arg;

    run_tasks(t->pool, t->conn);
    return NULL;
}

size_t
dt__run_parallel(struct dt_conn *const *conns, size_t n_conns, size_t n, dt_task_fn fn,
                 void *arg)
{
    struct pool_thread *threads = NULL;
    struct pool p;
    size_t i, started = 0;
    /* The calling thread works too, on the client's own connection. */
    size_t extra = n > 1 ? n - 1 : 0;

    memset(&p, 0, sizeof(p));
    p.fn = fn;
    p.arg = arg;
    p.n = n;
    pthread_mutex_init(&p.mu, NULL);
    if (extra > n_conns)
        extra = n_conns;
    if (extra > 0)
        threads = rs_calloc(extra, sizeof(*threads));
    /* Without threads (none wanted, or none could start) the caller
     * reads every task itself: slower, never wrong. */
    for (i = 0; threads != NULL && i < extra; i++) {
        threads[i].pool = &p;
        threads[i].conn = conns[i];
        if (pthread_create(&threads[i].tid, NULL, thread_main, &threads[i]) != 0)
            break;
        started++;
    }
    run_tasks(&p, NULL);
    for (i = 0; i < started; i++)
        pthread_join(threads[i].tid, NULL);
    rs_free(threads);
    pthread_mutex_destroy(&p.mu);
    return p.next;
}
