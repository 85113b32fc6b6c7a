/*
 * pmix_coord.c -- bounded PMIx client calls (see pmix_coord.h).
 *
 * Every non-blocking request owns a heap "op" with two references: the waiter's and the
 * callback's. Whoever drops the last reference frees it, so a waiter that gave up at its
 * deadline never leaves the callback writing into freed memory.
 */
#include "cross/pmix_coord.h"
#include "core/strutil.h"

#include <errno.h>
#include <pmix.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t op_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t op_cond = PTHREAD_COND_INITIALIZER;

struct op {
	int refs;
	bool done;
	pmix_status_t status;
	char *str;               /* get: the value, when a string */
	pmix_info_t info[2];     /* the request's attributes: PMIx reads them until the callback */
	size_t ninfo;
};

static struct op *op_new(void)
{
	struct op *o = calloc(1, sizeof(*o));

	if (o)
		o->refs = 2;
	return o;
}

/* Drop one reference; the caller holds op_lock. */
static void op_unref_locked(struct op *o)
{
	if (--o->refs == 0) {
		for (size_t i = 0; i < o->ninfo; i++)
			PMIX_INFO_DESTRUCT(&o->info[i]);
		free(o->str);
		free(o);
	}
}

static void op_complete(struct op *o, pmix_status_t status, char *str)
{
	pthread_mutex_lock(&op_lock);
	o->status = status;
	o->str = str;
	o->done = true;
	pthread_cond_broadcast(&op_cond);
	op_unref_locked(o);
	pthread_mutex_unlock(&op_lock);
}

static void abs_deadline(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Wait until every op in ops[0..n) is done or the deadline passes; drops the waiter's
 * reference on each. Values of done gets are moved to vals (when not NULL). Returns the
 * number done with PMIX_SUCCESS. */
static int ops_wait(struct op **ops, int n, int timeout_ms, pmix_status_t *status, char **vals)
{
	struct timespec ts;
	int ok = 0;

	abs_deadline(&ts, timeout_ms < 0 ? 0 : timeout_ms);
	pthread_mutex_lock(&op_lock);
	for (;;) {
		int pending = 0;

		for (int i = 0; i < n; i++)
			pending += ops[i] && !ops[i]->done;
		if (!pending || pthread_cond_timedwait(&op_cond, &op_lock, &ts) == ETIMEDOUT)
			break;
	}
	for (int i = 0; i < n; i++) {
		if (!ops[i])
			continue;
		if (status)
			status[i] = ops[i]->done ? ops[i]->status : PMIX_ERR_TIMEOUT;
		if (ops[i]->done && ops[i]->status == PMIX_SUCCESS) {
			ok++;
			if (vals) {
				vals[i] = ops[i]->str;
				ops[i]->str = NULL;
			}
		}
		op_unref_locked(ops[i]);
	}
	pthread_mutex_unlock(&op_lock);
	return ok;
}

int pmixc_init(struct pmixc *c, char *err, size_t errlen)
{
	pmix_proc_t me, wild;
	pmix_value_t *val = NULL;
	pmix_status_t rc;

	memset(c, 0, sizeof(*c));
	rc = PMIx_Init(&me, NULL, 0);
	if (rc != PMIX_SUCCESS) {
		snprintf(err, errlen, "PMIx_Init: %s (run under srun --mpi=pmix)", PMIx_Error_string(rc));
		return -1;
	}
	c->initialized = true;
	c->rank = (int)me.rank;
	str_copy(c->nspace, sizeof(c->nspace), me.nspace);
	PMIX_PROC_CONSTRUCT(&wild);
	PMIX_LOAD_PROCID(&wild, me.nspace, PMIX_RANK_WILDCARD);
	rc = PMIx_Get(&wild, PMIX_JOB_SIZE, NULL, 0, &val);
	if (rc != PMIX_SUCCESS || !val) {
		snprintf(err, errlen, "PMIx_Get(PMIX_JOB_SIZE): %s", PMIx_Error_string(rc));
		return -1;
	}
	c->size = val->type == PMIX_UINT32 ? (int)val->data.uint32 : 0;
	PMIX_VALUE_RELEASE(val);
	if (c->size < 1 || c->rank < 0 || c->rank >= c->size) {
		snprintf(err, errlen, "PMIx: bad job size %d / rank %d", c->size, c->rank);
		return -1;
	}
	return 0;
}

void pmixc_finalize(struct pmixc *c)
{
	if (c->initialized && !c->fence_broken)
		PMIx_Finalize(NULL, 0);
	c->initialized = false;
}

int pmixc_put_str(struct pmixc *c, const char *key, const char *value)
{
	pmix_value_t v;
	pmix_status_t rc;

	PMIX_VALUE_CONSTRUCT(&v);
	v.type = PMIX_STRING;
	v.data.string = (char *)value;
	rc = PMIx_Put(PMIX_GLOBAL, key, &v);
	return rc == PMIX_SUCCESS ? 0 : -1;
}

int pmixc_commit(struct pmixc *c)
{
	return PMIx_Commit() == PMIX_SUCCESS ? 0 : -1;
}

static void fence_cb(pmix_status_t status, void *cbdata)
{
	op_complete(cbdata, status, NULL);
}

int pmixc_fence(struct pmixc *c, bool collect, int timeout_ms)
{
	pmix_proc_t all;
	pmix_status_t rc, st = PMIX_ERR_TIMEOUT;
	bool yes = true;
	int secs = (timeout_ms + 999) / 1000;
	struct op *o;

	if (c->fence_broken)
		return -1;
	o = op_new();
	if (!o)
		return -1;
	PMIX_PROC_CONSTRUCT(&all);
	PMIX_LOAD_PROCID(&all, c->nspace, PMIX_RANK_WILDCARD);
	PMIX_INFO_LOAD(&o->info[0], PMIX_TIMEOUT, &secs, PMIX_INT);
	o->ninfo = 1;
	if (collect)
		PMIX_INFO_LOAD(&o->info[o->ninfo++], PMIX_COLLECT_DATA, &yes, PMIX_BOOL);
	rc = PMIx_Fence_nb(&all, 1, o->info, o->ninfo, fence_cb, o);
	if (rc != PMIX_SUCCESS) {
		o->refs = 1;
		op_unref_locked(o);
		c->fence_broken = true;
		return -1;
	}
	ops_wait(&o, 1, timeout_ms, &st, NULL);
	if (st == PMIX_SUCCESS)
		return 0;
	c->fence_broken = true;
	return st == PMIX_ERR_TIMEOUT ? -2 : -1;
}

static void get_cb(pmix_status_t status, pmix_value_t *kv, void *cbdata)
{
	char *s = NULL;

	if (status == PMIX_SUCCESS && kv && kv->type == PMIX_STRING && kv->data.string)
		s = strdup(kv->data.string);
	if (status == PMIX_SUCCESS && !s)
		status = PMIX_ERR_NOT_FOUND;
	op_complete(cbdata, status, s);
}

/* Issue a get; returns the op (2 references) or NULL. */
static struct op *get_start(struct pmixc *c, int rank, const char *key, int timeout_ms)
{
	pmix_proc_t p;
	int secs = (timeout_ms + 999) / 1000;
	struct op *o = op_new();
	pmix_status_t rc;

	if (!o)
		return NULL;
	PMIX_PROC_CONSTRUCT(&p);
	PMIX_LOAD_PROCID(&p, c->nspace, (pmix_rank_t)rank);
	PMIX_INFO_LOAD(&o->info[0], PMIX_TIMEOUT, &secs, PMIX_INT);
	o->ninfo = 1;
	rc = PMIx_Get_nb(&p, key, o->info, o->ninfo, get_cb, o);
	if (rc != PMIX_SUCCESS) {
		o->refs = 1;
		op_unref_locked(o);
		return NULL;
	}
	return o;
}

int pmixc_get_all_str(struct pmixc *c, const char *key, int timeout_ms, char **out)
{
	struct op **ops = calloc((size_t)c->size, sizeof(*ops));
	int ok;

	for (int i = 0; i < c->size; i++)
		out[i] = NULL;
	if (!ops)
		return 0;
	for (int i = 0; i < c->size; i++)
		ops[i] = get_start(c, i, key, timeout_ms);
	ok = ops_wait(ops, c->size, timeout_ms, NULL, out);
	free(ops);
	return ok;
}

char *pmixc_get_str(struct pmixc *c, int rank, const char *key, int timeout_ms)
{
	struct op *o = get_start(c, rank, key, timeout_ms);
	char *v = NULL;

	if (o)
		ops_wait(&o, 1, timeout_ms, NULL, &v);
	return v;
}

char *pmixc_hostname(struct pmixc *c, int rank, int timeout_ms)
{
	return pmixc_get_str(c, rank, PMIX_HOSTNAME, timeout_ms);
}
