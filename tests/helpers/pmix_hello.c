/* pmix_hello: test helper (not product). Run as `srun --mpi=pmix pmix_hello`: every task puts
 * "<hostname>/<node>:<rank>" with PMIX_GLOBAL scope, commits, fences with PMIX_COLLECT_DATA,
 * then gets every peer's value. Prints one line per task:
 *   pmix_hello rank R/N host H node X: saw N/N peers: v0 v1 ...
 * and exits 0 only when every peer's value was seen; 1 otherwise (with the errors on stderr). */
#include <pmix.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HELLO_KEY "efa_check.hello"

static uint32_t job_size(const pmix_proc_t *me)
{
	pmix_proc_t wild;
	pmix_value_t *val = NULL;
	uint32_t n = 0;

	PMIX_LOAD_PROCID(&wild, me->nspace, PMIX_RANK_WILDCARD);
	if (PMIx_Get(&wild, PMIX_JOB_SIZE, NULL, 0, &val) != PMIX_SUCCESS || val == NULL)
		return 0;
	if (val->type == PMIX_UINT32)
		n = val->data.uint32;
	PMIX_VALUE_RELEASE(val);
	return n;
}

int main(void)
{
	pmix_proc_t me, wild, peer;
	pmix_value_t v;
	pmix_value_t *got;
	pmix_info_t info;
	bool collect = true;
	char host[256], mine[512];
	const char *node = getenv("SLURMD_NODENAME");
	pmix_status_t rc;
	uint32_t size, r, seen = 0;
	size_t len = 0, cap = 4096;
	char *line;

	rc = PMIx_Init(&me, NULL, 0);
	if (rc != PMIX_SUCCESS) {
		fprintf(stderr, "pmix_hello: PMIx_Init: %s\n", PMIx_Error_string(rc));
		return 1;
	}
	size = job_size(&me);
	if (size == 0) {
		fprintf(stderr, "pmix_hello: rank %u: no PMIX_JOB_SIZE\n", me.rank);
		PMIx_Finalize(NULL, 0);
		return 1;
	}
	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "?");
	host[sizeof(host) - 1] = '\0';
	snprintf(mine, sizeof(mine), "%s/%s:%u", host, node ? node : "?", me.rank);

	PMIX_VALUE_CONSTRUCT(&v);
	v.type = PMIX_STRING;
	v.data.string = mine;
	rc = PMIx_Put(PMIX_GLOBAL, HELLO_KEY, &v);
	if (rc == PMIX_SUCCESS)
		rc = PMIx_Commit();
	if (rc != PMIX_SUCCESS) {
		fprintf(stderr, "pmix_hello: rank %u: put/commit: %s\n", me.rank, PMIx_Error_string(rc));
		PMIx_Finalize(NULL, 0);
		return 1;
	}

	PMIX_LOAD_PROCID(&wild, me.nspace, PMIX_RANK_WILDCARD);
	PMIX_INFO_CONSTRUCT(&info);
	PMIX_INFO_LOAD(&info, PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
	rc = PMIx_Fence(&wild, 1, &info, 1);
	PMIX_INFO_DESTRUCT(&info);
	if (rc != PMIX_SUCCESS) {
		fprintf(stderr, "pmix_hello: rank %u: fence: %s\n", me.rank, PMIx_Error_string(rc));
		PMIx_Finalize(NULL, 0);
		return 1;
	}

	line = malloc(cap);
	if (line == NULL)
		return 1;
	line[0] = '\0';
	for (r = 0; r < size; r++) {
		got = NULL;
		PMIX_LOAD_PROCID(&peer, me.nspace, r);
		rc = PMIx_Get(&peer, HELLO_KEY, NULL, 0, &got);
		if (rc != PMIX_SUCCESS || got == NULL || got->type != PMIX_STRING ||
		    got->data.string == NULL) {
			fprintf(stderr, "pmix_hello: rank %u: get from rank %u: %s\n", me.rank, r,
				PMIx_Error_string(rc));
		} else {
			size_t need = strlen(got->data.string) + 2;
			if (len + need >= cap) {
				char *bigger = realloc(line, cap * 2 + need);
				if (bigger == NULL)
					break;
				line = bigger;
				cap = cap * 2 + need;
			}
			len += (size_t)snprintf(line + len, cap - len, " %s", got->data.string);
			seen++;
		}
		if (got != NULL)
			PMIX_VALUE_RELEASE(got);
	}
	printf("pmix_hello rank %u/%u host %s node %s: saw %u/%u peers:%s\n", me.rank, size, host,
	       node ? node : "?", seen, size, line);
	fflush(stdout);
	free(line);
	PMIx_Finalize(NULL, 0);
	return seen == size ? 0 : 1;
}
