/*
 * bench_alloc.c: allocator benchmark.
 *
 * For agents {1k, 10k, 50k} x frameworks {10, 100, 1000}, each agent
 * cpus:2;mem:1024;disk:4096;ports:[31000-32000], in two layouts:
 *   roles=per-framework  every framework in its own role (role sorter and
 *                        framework sorters both exercised)
 *   roles=shared         all frameworks in one role
 * it measures, in CPU time of the thread (the allocator runs on one core;
 * CPU time keeps the numbers steady on a busy machine)
 *   full_ms     one full pass handing out every agent (fresh allocator,
 *               setup not timed); full_wall_ms the same in wall time
 *   recover_us  giving one agent's offer back (alloc_recover)
 *   incr_us     the incremental pass that re-offers that agent
 *   filtered_ms the incremental pass after every agent's offer was
 *               declined with a 5 s refuse filter (the declines not
 *               timed): each agent must go to a framework other than the
 *               one that declined it; filtered_skips counts the candidates
 *               a filter turned away in that pass (those pay for the
 *               filter check, the others only for a table lookup)
 * as medians over --runs runs (incremental: over 64 agents per run), and
 * checks DRF fairness after the full pass: share_spread is max - min of
 * the frameworks' dominant shares (spread_agents the same in agents; a
 * fair split is within one agent).
 *
 * Output, one line per size, key=value (parseable with awk or split):
 *   alloc agents=N frameworks=F roles=L runs=R full_ms=X full_wall_ms=W
 *         recover_us=Y incr_us=Z filtered_ms=V filtered_skips=K offers=O
 *         share_spread=S spread_agents=A
 * Exit status 1 when a pass (full, incremental or filtered) did not
 * allocate every agent it should have or the spread is above one agent.
 *
 * Usage: bench_alloc [--smoke] [--runs N]
 *   --smoke  one small size (1k x 10), for make check
 */
#include "lib/compat.h"

#include <time.h>

#include "alloc/alloc.h"
#include "lib/err.h"
#include "model/resources.h"

#define AGENT_RES "cpus:2;mem:1024;disk:4096;ports:[31000-32000]"
#define INCR_SAMPLES 64

/* What the benchmark "master" holds: each agent's current offer. */
struct bench_state {
	size_t nagents;
	struct resources *offer; /* per agent */
	size_t *holder;          /* framework index per agent */
	size_t offers;
};

static double bench_clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU time of this thread. */
static double bench_now_us(void)
{
	return bench_clock_us(CLOCK_THREAD_CPUTIME_ID);
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Ids carry their index after a fixed prefix: "agent-000042", "fw-0007". */
static size_t bench_id_index(const char *id, size_t prefix)
{
	return (size_t)strtoul(id + prefix, NULL, 10);
}

static void bench_on_offer(const char *framework_id, const char *agent_id,
                           const char *role, struct resources *res, void *arg)
{
	struct bench_state *st = arg;
	size_t i = bench_id_index(agent_id, 6);

	(void)role;
	BUG_ON(i >= st->nagents);
	resources_release(&st->offer[i]);
	st->offer[i] = *res; /* take */
	resources_init(res);
	st->holder[i] = bench_id_index(framework_id, 3);
	st->offers++;
}

struct bench_result {
	double full_ms, full_wall_ms, recover_us, incr_us, filtered_ms, spread;
	size_t offers, filtered_skips;
	bool ok;
};

static struct alloc *bench_setup(size_t nagents, size_t nfws, bool shared,
                                 const struct resources *agent_res)
{
	struct alloc *a = alloc_new(NULL);
	char id[32], role[32];

	for (size_t i = 0; i < nagents; i++) {
		snprintf(id, sizeof(id), "agent-%06zu", i);
		alloc_agent_add(a, id, agent_res);
	}
	for (size_t f = 0; f < nfws; f++) {
		const char *roles[] = {role};
		snprintf(id, sizeof(id), "fw-%04zu", f);
		snprintf(role, sizeof(role), shared ? "shared" : "role-%04zu",
		         f);
		alloc_framework_add(a, id, roles, 1, true);
	}
	return a;
}

static void bench_one(size_t nagents, size_t nfws, bool shared, size_t runs,
                      const struct resources *agent_res,
                      struct bench_result *out)
{
	double *full = xcalloc(runs, sizeof(*full));
	double *wall = xcalloc(runs, sizeof(*wall));
	double *rec = xcalloc(runs * INCR_SAMPLES, sizeof(*rec));
	double *inc = xcalloc(runs * INCR_SAMPLES, sizeof(*inc));
	double *filt = xcalloc(runs, sizeof(*filt));
	struct bench_state st = {nagents, NULL, NULL, 0};
	size_t nsamples = 0;
	char aid[32], fid[32];

	memset(out, 0, sizeof(*out));
	out->ok = true;
	st.offer = xcalloc(nagents, sizeof(*st.offer));
	st.holder = xcalloc(nagents, sizeof(*st.holder));
	for (size_t r = 0; r < runs; r++) {
		struct alloc *a = bench_setup(nagents, nfws, shared, agent_res);
		struct alloc_stats s0, s1;
		double t0, w0;

		st.offers = 0;
		w0 = bench_clock_us(CLOCK_MONOTONIC);
		t0 = bench_now_us();
		alloc_run(a, 0, true, bench_on_offer, &st);
		full[r] = (bench_now_us() - t0) / 1e3;
		wall[r] = (bench_clock_us(CLOCK_MONOTONIC) - w0) / 1e3;
		if (st.offers != nagents)
			out->ok = false;
		out->offers = st.offers;
		if (r == 0) {
			double lo = 2, hi = -1;
			for (size_t f = 0; f < nfws; f++) {
				snprintf(fid, sizeof(fid), "fw-%04zu", f);
				double s = alloc_framework_share(a, fid);
				lo = MIN(lo, s);
				hi = MAX(hi, s);
			}
			out->spread = hi - lo;
		}
		for (size_t k = 0; k < INCR_SAMPLES; k++) {
			size_t i = (k * 7919 + r * 104729) % nagents;
			snprintf(aid, sizeof(aid), "agent-%06zu", i);
			snprintf(fid, sizeof(fid), "fw-%04zu", st.holder[i]);
			double t1, t2;
			st.offers = 0;
			t0 = bench_now_us();
			alloc_recover(a, aid, fid, &st.offer[i], 0, 0);
			t1 = bench_now_us();
			alloc_run(a, 0, false, bench_on_offer, &st);
			t2 = bench_now_us();
			if (st.offers != 1)
				out->ok = false;
			rec[nsamples] = t1 - t0;
			inc[nsamples++] = t2 - t1;
		}
		for (size_t i = 0; i < nagents; i++) {
			snprintf(aid, sizeof(aid), "agent-%06zu", i);
			snprintf(fid, sizeof(fid), "fw-%04zu", st.holder[i]);
			alloc_recover(a, aid, fid, &st.offer[i], 5, 0);
		}
		st.offers = 0;
		alloc_get_stats(a, &s0);
		t0 = bench_now_us();
		alloc_run(a, 1000, false, bench_on_offer, &st);
		filt[r] = (bench_now_us() - t0) / 1e3;
		alloc_get_stats(a, &s1);
		if (st.offers != nagents)
			out->ok = false;
		/* each offer took one candidate; the rest were filtered */
		out->filtered_skips =
		    (size_t)(s1.candidates - s0.candidates) - st.offers;
		alloc_free(a);
		for (size_t i = 0; i < nagents; i++)
			resources_release(&st.offer[i]);
	}
	out->full_ms = bench_median(full, runs);
	out->full_wall_ms = bench_median(wall, runs);
	out->recover_us = bench_median(rec, nsamples);
	out->incr_us = bench_median(inc, nsamples);
	out->filtered_ms = bench_median(filt, runs);
	/* fair: within one agent's worth of the cluster (plus rounding) */
	if (out->spread * (double)nagents > 1.0 + 1e-9)
		out->ok = false;
	free(st.offer);
	free(st.holder);
	free(full);
	free(wall);
	free(rec);
	free(inc);
	free(filt);
}

int main(int argc, char **argv)
{
	static const size_t agents[] = {1000, 10000, 50000};
	static const size_t fws[] = {10, 100, 1000};
	size_t runs = 5, na = ARRAY_SIZE(agents), nf = ARRAY_SIZE(fws);
	struct resources agent_res;
	struct err e;
	int status = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0) {
			na = nf = 1;
			runs = 3;
		} else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			runs = (size_t)strtoul(argv[++i], NULL, 10);
			if (runs < 1 || runs > 1000) {
				fprintf(stderr, "bench_alloc: --runs: must be "
				                "in [1, 1000]\n");
				return 2;
			}
		} else {
			fprintf(stderr,
			        "usage: bench_alloc [--smoke] [--runs N]\n");
			return 2;
		}
	}
	resources_init(&agent_res);
	if (resources_parse_text(&agent_res, AGENT_RES, NULL, &e)) {
		fprintf(stderr, "bench_alloc: %s\n", e.msg);
		return 1;
	}
	for (size_t i = 0; i < na; i++) {
		for (size_t j = 0; j < nf; j++) {
			for (int shared = 0; shared < 2; shared++) {
				struct bench_result r;
				bench_one(agents[i], fws[j], shared, runs,
				          &agent_res, &r);
				printf(
				    "alloc agents=%zu frameworks=%zu "
				    "roles=%s runs=%zu full_ms=%.3f "
				    "full_wall_ms=%.3f recover_us=%.2f "
				    "incr_us=%.2f filtered_ms=%.3f "
				    "filtered_skips=%zu offers=%zu "
				    "share_spread=%.6f spread_agents=%.2f%s\n",
				    agents[i], fws[j],
				    shared ? "shared" : "per-framework", runs,
				    r.full_ms, r.full_wall_ms, r.recover_us,
				    r.incr_us, r.filtered_ms, r.filtered_skips,
				    r.offers, r.spread,
				    r.spread * (double)agents[i],
				    r.ok ? "" : " FAILED");
				fflush(stdout);
				if (!r.ok)
					status = 1;
			}
		}
	}
	resources_release(&agent_res);
	return status;
}
