/* pool.c - ctl's own worker threads. The overlay model blocks on Raft and
 * on the datapath, so it must not borrow libuv's thread pool: libraft
 * prepares segments and writes snapshots there, and a model call waiting
 * for a write that waits for that pool would never finish. */
#include <stdlib.h>

#include "../log.h"
#include "internal.h"

static void *worker(void *arg)
{
	ctl_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->head)
			break;
		ctl_job *j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		j->run(j);
		pthread_mutex_lock(&p->mu);
		j->next = NULL;
		if (p->dtail)
			p->dtail->next = j;
		else
			p->dhead = j;
		p->dtail = j;
		uv_async_send(&p->async);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void on_async(uv_async_t *a)
{
	ctl_pool *p = a->data;
	pthread_mutex_lock(&p->mu);
	ctl_job *j = p->dhead;
	p->dhead = p->dtail = NULL;
	pthread_mutex_unlock(&p->mu);
	while (j) {
		ctl_job *next = j->next;
		if (j->done)
			j->done(j);
		else
			free(j);
		j = next;
	}
}

int ctl_pool_init(ctl_pool *p, uv_loop_t *loop, size_t n_threads)
{
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->threads = calloc(n_threads, sizeof(*p->threads));
	if (!p->threads || uv_async_init(loop, &p->async, on_async) != 0)
		return -1;
	p->async.data = p;
	for (size_t i = 0; i < n_threads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
			log_error("ctl", "cannot start worker threads");
			return -1;
		}
		p->n_threads++;
	}
	return 0;
}

void ctl_pool_submit(ctl_pool *p, ctl_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void ctl_pool_close(ctl_pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	p->threads = NULL;
	on_async(&p->async);
	uv_close((uv_handle_t *)&p->async, NULL);
}
