/*
 * A fixed pool of worker threads running jobs from one bounded FIFO.  The
 * HTTP front hands slow work (backend lookups, password hashing) to it so
 * that libmicrohttpd's event-loop threads never block.  Jobs are intrusive
 * (embedded in the caller's struct): submitting allocates nothing.
 */
#ifndef PA_WORKQ_H
#define PA_WORKQ_H

#include <stddef.h>

struct pa_job {
	struct pa_job *next;
	void (*run)(struct pa_job *job);
};

struct pa_workq;

/* Starts nthreads workers with room for max_queued waiting jobs.  Returns
 * the queue, or NULL when threads or memory cannot be had. */
struct pa_workq *pa_workq_start(int nthreads, size_t max_queued);

/* Queues job.  Returns 0, or -1 when the queue is full or stopping: the
 * caller must then answer the request itself (503). */
int pa_workq_submit(struct pa_workq *q, struct pa_job *job);

/* Refuses new jobs from now on, lets the queued ones finish and joins the
 * workers, waiting at most timeout_ms.  Returns 0, or -1 when a job is
 * still running then (a backend that hangs past its own timeout): the
 * workers are left running and the queue must not be freed.  The queue
 * stays valid (pa_workq_submit() then returns -1) until pa_workq_free(),
 * because other threads may still call submit.  Safe on NULL. */
int pa_workq_stop(struct pa_workq *q, int timeout_ms);

/* Frees a stopped queue.  Safe on NULL. */
void pa_workq_free(struct pa_workq *q);

/* How many CPUs this process may run on: its affinity mask (a container's
 * cpuset, taskset, systemd's CPUAffinity=), not every online CPU, so that
 * "one thread per CPU" does not put two on one core.  At least 1. */
long pa_usable_cpus(void);

#endif
