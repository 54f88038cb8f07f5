/*
 * fuzz_app.c: libFuzzer target for the Marathon app and group parsers.
 *
 * The input is parsed as JSON (any value, NUL characters allowed in
 * strings). It goes through app_from_json and group_from_json, and, when
 * it is an array, each of its first elements too. Invariants checked:
 *   - a rejection comes with at least one problem, each with a path that
 *     starts with '/' and a message; the 422 body is valid JSON;
 *   - an accepted app has no problem; its written form is JSON that the
 *     parser accepts again and writes to the same bytes (a fixed point);
 *     an app is a scale-only change of itself, and so is the written
 *     form of the written form (the original may hold fields the parser
 *     ignores, so it can differ from its written form);
 *   - every health check of an accepted app maps to a Mesos health check
 *     when the task has enough host ports;
 *   - an accepted group flattens into apps whose written forms are JSON
 *     and whose definitions (with the inherited dependencies) parse into
 *     the same apps.
 * Any violation aborts; leaks show under the sanitizers.
 */
#include "lib/compat.h"

#include <jansson.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/jsonw.h"
#include "services/app.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_app: %s failed (line %d)\n",     \
			        #cond, __LINE__);                              \
			abort();                                               \
		}                                                              \
	} while (0)

static void check_problems(const struct app_problems *p)
{
	struct buf b = BUF_INIT;
	struct jsonw w;
	json_t *j;

	CHECK(p->n > 0);
	for (size_t i = 0; i < p->n; i++) {
		CHECK(p->v[i].path[0] == '/');
		CHECK(p->v[i].message[0] != '\0');
	}
	jsonw_init(&w, &b);
	app_problems_write_json(&w, p);
	CHECK(w.depth == 0);
	j = json_loadb(b.data, b.len, 0, NULL);
	CHECK(j);
	CHECK(json_array_size(json_object_get(j, "details")) >= 1);
	json_decref(j);
	buf_release(&b);
}

static char *write_app(const struct app *a)
{
	struct buf b = BUF_INIT;
	struct jsonw w;

	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	app_write_fields(&w, a);
	jsonw_obj_end(&w);
	CHECK(w.depth == 0);
	return buf_detach(&b, NULL);
}

static void check_health_checks(const struct app *a)
{
	static const int host_ports[] = {31000, 31001, 31002, 31003};
	struct err e = {{0}};

	for (size_t i = 0; i < a->nhealth_checks; i++) {
		json_t *m;
		if (a->nports > ARRAY_SIZE(host_ports))
			continue;
		m = app_health_check_to_mesos(&a->health_checks[i], host_ports,
		                              a->nports, &e);
		CHECK(m);
		CHECK(json_is_string(json_object_get(m, "type")));
		json_decref(m);
	}
}

/* The app parsed from text (a written form) equals b but for instances. */
static void check_written_same(const struct app *b, const char *text)
{
	struct app_problems p;
	struct app c;
	json_t *j = json_loads(text, JSON_ALLOW_NUL, NULL);

	CHECK(j);
	app_problems_init(&p);
	app_init(&c);
	CHECK(app_from_json(&c, j, "/", "", &p) == 0);
	CHECK(app_is_scale_only_change(b, &c));
	app_release(&c);
	app_problems_release(&p);
	json_decref(j);
}

static void run_app(const json_t *j)
{
	struct app_problems p, p2;
	struct app a, b;
	char *t1, *t2;
	json_t *back;

	app_problems_init(&p);
	app_init(&a);
	if (app_from_json(&a, j, "/fuzz", "", &p)) {
		check_problems(&p);
		goto out;
	}
	CHECK(p.n == 0);
	CHECK(a.id && a.id[0] == '/');
	check_health_checks(&a);
	t1 = write_app(&a);
	back = json_loads(t1, JSON_ALLOW_NUL, NULL);
	CHECK(back);
	app_problems_init(&p2);
	app_init(&b);
	if (app_from_json(&b, back, "/", "", &p2)) {
		fprintf(stderr, "re-parse of %s failed: %s: %s\n", t1,
		        p2.v[0].path, p2.v[0].message);
		CHECK(!"written form parses");
	}
	t2 = write_app(&b);
	CHECK(strcmp(t1, t2) == 0);
	CHECK(app_is_scale_only_change(&a, &a));
	check_written_same(&b, t2);
	free(t1);
	free(t2);
	app_release(&b);
	app_problems_release(&p2);
	json_decref(back);
out:
	app_release(&a);
	app_release(&a); /* release twice is harmless */
	app_problems_release(&p);
}

static void run_group(const json_t *j)
{
	struct app_problems p;
	struct group g;
	struct app *apps = NULL;
	size_t napps = 0;

	app_problems_init(&p);
	group_init(&g);
	if (group_from_json(&g, j, "/", &p)) {
		check_problems(&p);
		goto out;
	}
	CHECK(p.n == 0);
	group_take_apps(&g, &apps, &napps);
	for (size_t i = 0; i < napps; i++) {
		char *t = write_app(&apps[i]), *t2;
		json_t *back = json_loads(t, JSON_ALLOW_NUL, NULL);
		CHECK(back);
		CHECK(app_id_is_under(apps[i].id, g.id));
		/* the definition (stored by the framework) parses again */
		t2 = json_dumps(apps[i].definition, 0);
		CHECK(t2);
		check_written_same(&apps[i], t2);
		free(t2);
		json_decref(back);
		free(t);
		app_release(&apps[i]);
	}
	free(apps);
out:
	group_release(&g);
	app_problems_release(&p);
}

static void run_ids(const json_t *j)
{
	struct err e = {{0}};
	char *id, *again, *parent;

	if (!json_is_string(j))
		return;
	id = app_id_resolve("/a/b", json_string_value(j), &e);
	if (!id) {
		CHECK(e.msg[0] != '\0');
		return;
	}
	/* canonical ids resolve to themselves */
	again = app_id_resolve("/", id, &e);
	CHECK(again && strcmp(again, id) == 0);
	parent = app_id_parent(id);
	CHECK(app_id_is_under(id, parent));
	free(parent);
	free(again);
	free(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size,
	                       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	json_t *v;
	size_t i;

	if (!j)
		return 0;
	run_app(j);
	run_group(j);
	run_ids(j);
	json_array_foreach(j, i, v)
	{
		if (i >= 8)
			break;
		run_app(v);
		run_ids(v);
	}
	json_decref(j);
	return 0;
}
