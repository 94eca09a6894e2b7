/* heap.c - canonical/raft's allocator, with a short quarantine for frees.
 *
 * libraft 0.15 frees the old configuration while installing a snapshot on
 * a follower and then sends its reply to the leader with the leader's
 * address still pointing into that configuration (fixed upstream after
 * 0.15; Debian 12 ships 0.15). Keeping the last small blocks raft frees
 * alive for a while turns that use-after-free into a read of intact
 * memory. Only small blocks (addresses, configuration arrays) wait;
 * entry and snapshot buffers are freed at once.
 *
 * Upstream: the crash this was written for (strlen on a bad leader address
 * in sendAppendEntriesResult after an install) turned out to be
 * canonical/raft#339, worked around in install.c; no upstream report of a
 * freed configuration was found. #339's fixes (#342, #353, #357) are in
 * v0.17.1. No test shows this quarantine is still needed
 * (docs/reliability.md keeps it as a cheap guard): remove it with
 * install.c once ovld builds against libraft >= 0.17.1. */
#include <malloc.h>
#include <pthread.h>
#include <raft.h>
#include <stdlib.h>

#include "../node.h"

#define QUARANTINE_SLOTS 1024
#define QUARANTINE_MAX_BYTES 512

static struct {
	pthread_mutex_t lock; /* raft may free on libuv's worker threads */
	void *slots[QUARANTINE_SLOTS];
	size_t next;
} quarantine = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *heap_malloc(void *data, size_t size)
{
	return malloc(size);
}

static void heap_free(void *data, void *ptr)
{
	if (ptr == NULL)
		return;
	if (malloc_usable_size(ptr) > QUARANTINE_MAX_BYTES) {
		free(ptr);
		return;
	}
	pthread_mutex_lock(&quarantine.lock);
	void *oldest = quarantine.slots[quarantine.next];
	quarantine.slots[quarantine.next] = ptr;
	quarantine.next = (quarantine.next + 1) % QUARANTINE_SLOTS;
	pthread_mutex_unlock(&quarantine.lock);
	free(oldest);
}

static void *heap_calloc(void *data, size_t nmemb, size_t size)
{
	return calloc(nmemb, size);
}

static void *heap_realloc(void *data, void *ptr, size_t size)
{
	return realloc(ptr, size);
}

static void *heap_aligned_alloc(void *data, size_t alignment, size_t size)
{
	return aligned_alloc(alignment, size);
}

static void heap_aligned_free(void *data, size_t alignment, void *ptr)
{
	free(ptr);
}

static struct raft_heap heap = {
    .malloc = heap_malloc,
    .free = heap_free,
    .calloc = heap_calloc,
    .realloc = heap_realloc,
    .aligned_alloc = heap_aligned_alloc,
    .aligned_free = heap_aligned_free,
};

void raftnode_heap_install(void)
{
	raft_heap_set(&heap);
}
