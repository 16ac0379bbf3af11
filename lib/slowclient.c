/*
 * Slow clients (slowclient.h): the connection list and its sweeper.
 */
#include "slowclient.h"
#include "deadline.h"
#include "clock.h"

#include <pthread.h>
#include <stdlib.h>

#define SWEEP_MS 500

struct pa_slowclients {
	const struct pa_log *log;
	uint64_t header_timeout_us;	/* 0: no sweeper */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct pa_slowclient *conns;	/* every open connection */
	pthread_t sweeper;
	bool running, stop;
};

/* Cuts connections that hold no whole request header header_timeout
 * after they became ready for one. */
static void *
sweeper(void *arg)
{
	struct pa_slowclients *s = arg;
	struct timespec ts;
	struct pa_slowclient *c;
	uint64_t now, ready;

	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		now = pa_now_us();
		for (c = s->conns; c != NULL; c = c->next) {
			if (c->cut || atomic_load_explicit(&c->busy, memory_order_acquire))
				continue;
			ready = atomic_load_explicit(&c->ready_us, memory_order_relaxed);
			if (ready > now || now - ready < s->header_timeout_us)
				continue;
			(void)shutdown(c->fd, SHUT_RDWR);
			c->cut = true;
			pa_log_msg(s->log, PA_LOG_DEBUG, "closed a connection from %s: no "
				   "whole request header within header_timeout", c->peer);
		}
		ts = pa_deadline_ms(SWEEP_MS);
		(void)pthread_cond_timedwait(&s->wake, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct pa_slowclients *
pa_slowclients_start(const struct pa_log *log, uint64_t header_timeout_us)
{
	struct pa_slowclients *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->log = log;
	s->header_timeout_us = header_timeout_us;
	pthread_mutex_init(&s->lock, NULL);
	(void)pa_cond_init_monotonic(&s->wake);
	if (header_timeout_us > 0) {
		if (pthread_create(&s->sweeper, NULL, sweeper, s) != 0) {
			pa_slowclients_free(s);
			return NULL;
		}
		s->running = true;
	}
	return s;
}

void
pa_slowclients_stop(struct pa_slowclients *s)
{
	if (s == NULL || !s->running)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->sweeper, NULL);
	s->running = false;
}

void
pa_slowclients_free(struct pa_slowclients *s)
{
	struct pa_slowclient *c, *next;

	if (s == NULL)
		return;
	pa_slowclients_stop(s);
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct pa_slowclient *
pa_slowclient_open(struct pa_slowclients *s, const struct sockaddr *addr, int fd,
		   uint64_t now_us)
{
	struct pa_slowclient *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	pa_sockaddr_text(addr, c->peer);
	c->fd = fd;
	atomic_init(&c->busy, false);
	atomic_init(&c->ready_us, now_us);
	pthread_mutex_lock(&s->lock);
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	pthread_mutex_unlock(&s->lock);
	return c;
}

void
pa_slowclient_close(struct pa_slowclients *s, struct pa_slowclient *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (s->conns == c)
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&s->lock);
	free(c);
}
