/*
 * fuzz_health.c: libFuzzer target for the HealthCheck parser and the
 * health state machine.
 *
 * The input is parsed as JSON (any value) and given to
 * health_check_from_json, as a whole and, when it is an object or array,
 * member by member (one level down). A rejection must come with a
 * message; an accepted check must satisfy everything the runner relies
 * on (a known type, a port in range for HTTP/TCP, a path starting with
 * '/', a command value for COMMAND, finite non-negative seconds). Each
 * accepted check then drives the state machine with results taken from
 * the input's bytes, checking its invariants at every step. Any
 * violation aborts.
 */
#include "lib/compat.h"

#include <math.h>

#include <jansson.h>

#include "executor/health.h"
#include "lib/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_health: %s failed (line %d)\n",  \
			        #cond, __LINE__);                              \
			abort();                                               \
		}                                                              \
	} while (0)

static bool seconds_ok(double s)
{
	return isfinite(s) && s >= 0 && s <= HEALTH_MAX_SECONDS;
}

static void check_accepted(const struct health_check *hc)
{
	CHECK(hc->type == HEALTH_COMMAND || hc->type == HEALTH_HTTP ||
	      hc->type == HEALTH_TCP);
	if (hc->type == HEALTH_COMMAND)
		CHECK(hc->command.value != NULL);
	else
		CHECK(hc->port >= 1 && hc->port <= 65535);
	if (hc->type == HEALTH_HTTP)
		CHECK(hc->path && hc->path[0] == '/');
	CHECK(seconds_ok(hc->delay_seconds));
	CHECK(seconds_ok(hc->interval_seconds));
	CHECK(seconds_ok(hc->timeout_seconds));
	CHECK(seconds_ok(hc->grace_period_seconds));
}

/* Runs the state machine over the input bits as check results. */
static void drive(const struct health_check *hc, const uint8_t *data,
                  size_t size)
{
	struct health_state s;
	double now = 0;
	bool reported_healthy = false;

	health_state_init(&s, 0);
	for (size_t i = 0; i < size && i < 256; i++) {
		bool ok = data[i] & 1;
		uint32_t before = s.failures;
		bool was_initializing = s.initializing;
		enum health_action a;

		now += (double)(data[i] >> 1) / 8.0;
		a = health_state_record(&s, hc, ok, now);
		if (ok) {
			CHECK(s.failures == 0 && !s.initializing);
			CHECK(a == HEALTH_NOTHING ||
			      a == HEALTH_REPORT_HEALTHY);
			CHECK((a == HEALTH_REPORT_HEALTHY) ==
			      (was_initializing || before > 0));
			if (a == HEALTH_REPORT_HEALTHY)
				reported_healthy = true;
			continue;
		}
		if (a == HEALTH_IGNORED) {
			CHECK(was_initializing && !reported_healthy);
			CHECK(now < hc->grace_period_seconds);
			CHECK(s.failures == before);
			continue;
		}
		CHECK(!(was_initializing && now < hc->grace_period_seconds));
		CHECK(s.failures == before + 1 || before == UINT32_MAX);
		CHECK((a == HEALTH_KILL) ==
		      (s.failures >= hc->consecutive_failures));
		CHECK(a == HEALTH_KILL || a == HEALTH_REPORT_UNHEALTHY);
	}
}

static void run_one(const json_t *j, const uint8_t *data, size_t size)
{
	struct health_check hc;
	struct err e = {{0}};

	health_check_init(&hc);
	if (health_check_from_json(&hc, j, &e)) {
		CHECK(e.msg[0] != '\0');
	} else {
		check_accepted(&hc);
		drive(&hc, data, size);
	}
	health_check_release(&hc);
	health_check_release(&hc); /* twice is harmless */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	const char *key;
	json_t *v;
	size_t i, budget = 32;

	if (!j)
		return 0;
	run_one(j, data, size);
	if (json_is_object(j)) {
		json_object_foreach(j, key, v)
		{
			if (!budget--)
				break;
			run_one(v, data, size);
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			if (!budget--)
				break;
			run_one(v, data, size);
		}
	}
	json_decref(j);
	return 0;
}
