/*
 * The reconnecting watcher thread (see watcher.h).  It sleeps in exactly
 * two places, both woken by pa_watcher_stop(): the back-off, a timed wait
 * on a condvar, and the wait for input, a poll() that also watches the
 * read end of a pipe that stop writes to.
 */
#include "watcher.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 2000

struct pa_watcher {
	struct pa_watcher_config cfg;
	pthread_t thread;
	pthread_mutex_t lock;		/* guards stop */
	pthread_cond_t wake;		/* on CLOCK_MONOTONIC */
	bool stop;
	int pipe[2];			/* stop writes a byte to pipe[1] */
};

long
pa_watcher_next_backoff(long ms, long max_ms)
{
	return ms >= max_ms / 2 ? max_ms : ms * 2;
}

static bool
stopping(struct pa_watcher *w)
{
	bool s;

	pthread_mutex_lock(&w->lock);
	s = w->stop;
	pthread_mutex_unlock(&w->lock);
	return s;
}

/* Waits ms, or less when stopped. */
static void
back_off(struct pa_watcher *w, long ms)
{
	struct pa_deadline dl = pa_deadline_in(ms, pa_now_us());
	struct timespec until = pa_deadline_timespec(&dl);

	pthread_mutex_lock(&w->lock);
	while (!w->stop && pa_deadline_left_us(&dl, pa_now_us()) > 0)
		if (pthread_cond_timedwait(&w->wake, &w->lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&w->lock);
}

/* Reads from conn until it is lost (-1, err set) or the watcher stops (0). */
static int
watch(struct pa_watcher *w, void *conn, struct pa_error *err)
{
	const struct pa_watch_source *src = w->cfg.src;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = src->fd(w->cfg.ctx, conn), .events = POLLIN },
			{ .fd = w->pipe[0], .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			pa_error_set(err, "poll: %s", strerror(errno));
			return -1;
		}
		if (p[1].revents != 0)
			return 0;
		if (p[0].revents != 0 && src->read(w->cfg.ctx, conn, err) != 0)
			return -1;
	}
}

static void *
run(void *arg)
{
	struct pa_watcher *w = arg;
	const struct pa_watch_source *src = w->cfg.src;
	struct pa_error err = { { 0 } };
	long backoff = w->cfg.backoff_min_ms;
	bool down = false;

	while (!stopping(w)) {
		struct pa_deadline dl = pa_deadline_in(w->cfg.open_timeout_ms, pa_now_us());
		void *conn = src->open(w->cfg.ctx, &dl, &err);

		if (conn == NULL) {
			if (!down)
				pa_log_msg(w->cfg.log, PA_LOG_WARN, "%s: %s: %s; retrying",
					   src->name, w->cfg.down, err.msg);
			down = true;
			back_off(w, backoff);
			backoff = pa_watcher_next_backoff(backoff, w->cfg.backoff_max_ms);
			continue;
		}
		/* Notices sent while we were away are lost: forget everything
		 * the source told us before. */
		w->cfg.invalidate(w->cfg.invalidate_arg, src->name, NULL);
		if (w->cfg.deaf != NULL)
			w->cfg.deaf(w->cfg.invalidate_arg, src->name, false);
		pa_log_msg(w->cfg.log, PA_LOG_INFO, "%s: %s%s", src->name, w->cfg.up,
			   down ? " again" : "");
		down = false;
		backoff = w->cfg.backoff_min_ms;
		if (watch(w, conn, &err) != 0) {
			pa_log_msg(w->cfg.log, PA_LOG_WARN, "%s: %s lost: %s; reconnecting",
				   src->name, w->cfg.conn_name, err.msg);
			down = true;
			if (w->cfg.deaf != NULL)
				w->cfg.deaf(w->cfg.invalidate_arg, src->name, true);
			/* From now on notices go unheard: what the source told
			 * us is asked again at once, not only once it is back (it
			 * may not be for a while); while the server is down too,
			 * stale_grace may still use a grant. */
			if (w->cfg.expire != NULL)
				w->cfg.expire(w->cfg.invalidate_arg, src->name);
			else
				w->cfg.invalidate(w->cfg.invalidate_arg, src->name, NULL);
		}
		src->close(w->cfg.ctx, conn);
	}
	return NULL;
}

struct pa_watcher *
pa_watcher_start(const struct pa_watcher_config *cfg, struct pa_error *err)
{
	struct pa_watcher *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		pa_error_set(err, "out of memory");
		return NULL;
	}
	w->cfg = *cfg;
	if (w->cfg.backoff_min_ms <= 0)
		w->cfg.backoff_min_ms = BACKOFF_MIN_MS;
	if (w->cfg.backoff_max_ms <= 0)
		w->cfg.backoff_max_ms = BACKOFF_MAX_MS;
	w->pipe[0] = w->pipe[1] = -1;
	/* Not subscribed yet. */
	if (w->cfg.deaf != NULL)
		w->cfg.deaf(w->cfg.invalidate_arg, cfg->src->name, true);
	pthread_mutex_init(&w->lock, NULL);
	if (pa_cond_init_monotonic(&w->wake) != 0) {
		pthread_mutex_destroy(&w->lock);
		free(w);
		pa_error_set(err, "%s: cannot make a condition variable", cfg->src->name);
		return NULL;
	}
	if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
	    pthread_create(&w->thread, NULL, run, w) != 0) {
		pa_error_set(err, "%s: cannot start the watcher thread", cfg->src->name);
		if (w->pipe[0] >= 0) {
			close(w->pipe[0]);
			close(w->pipe[1]);
		}
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return NULL;
	}
	return w;
}

void
pa_watcher_stop(struct pa_watcher *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	(void)!write(w->pipe[1], "x", 1);
	pthread_join(w->thread, NULL);
	close(w->pipe[0]);
	close(w->pipe[1]);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
