/*
 * app.c: Marathon v2 AppDefinition and Group parsing, validation and
 * writing for the services framework. Pure: no I/O, no clock.
 *
 * Parsing is one pass over the submitted JSON. Each field is read by a
 * typed getter that knows its JSON path ("/healthChecks(0)/portIndex"):
 * a missing or null field takes Marathon's default, a field of the wrong
 * type or out of range adds a problem and also takes the default, so the
 * checks that compare fields (timeoutSeconds < intervalSeconds) never see
 * a value that was already reported. Every problem is collected; nothing
 * stops at the first one. Unknown fields are ignored, as Marathon does.
 *
 * Order matters in a few places, and app_from_json follows it:
 *   ports        before health and readiness checks (portIndex, portName)
 *   container    before upgradeStrategy and unreachableStrategy (apps with
 *                persistent volumes default to 0.5/0 and "disabled")
 *   id           before dependencies (relative dependencies resolve
 *                against the app's parent group, as inside a group)
 *
 * Invariants of a parsed app (whether or not it had problems):
 *   - every char * and array field is either NULL/0 or owned by the app;
 *   - nports >= 1 unless the definition gave an empty port list: with
 *     neither "portDefinitions" nor "ports" the app gets Marathon's default
 *     of one dynamic port named "default";
 *   - definition is a deep copy of the submitted object (NULL when the
 *     input was not an object), with "id" and "dependencies" absolute and
 *     "version" removed; group_take_apps appends the inherited group
 *     dependencies to it as well, so that parsing the definition again
 *     gives the same app.
 *
 * Ids: app_id_resolve splits the parent (for a relative id) and the id on
 * '/', drops empty and "." segments, pops on "..", and checks each
 * remaining segment. Groups check that every child lies under its parent
 * and that ids are unique across the tree (a hash map of the ids seen,
 * each with the path where it was first given).
 */
#include "lib/compat.h"

#include <math.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/hmap.h"
#include "lib/jsonw.h"
#include "services/app.h"
#include "services/constraint.h"

#define APP_DEFAULT_CPUS 1.0
#define APP_DEFAULT_MEM 128.0
#define APP_DEFAULT_BACKOFF 1.0
#define APP_DEFAULT_BACKOFF_FACTOR 1.15
#define APP_DEFAULT_MAX_LAUNCH_DELAY 300.0
#define APP_DEFAULT_PROGRESS_DEADLINE 600.0
#define APP_MAX_PORT 65535
#define GROUP_MAX_DEPTH 32

/* ---- validation problems ----------------------------------------------- */

void app_problems_init(struct app_problems *p)
{
	memset(p, 0, sizeof(*p));
}

void app_problems_release(struct app_problems *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].path);
		free(p->v[i].message);
	}
	free(p->v);
	app_problems_init(p);
}

void app_problems_add(struct app_problems *p, const char *path, const char *fmt,
                      ...)
{
	struct buf msg = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	ALLOC_GROW(p->v, p->n + 1, p->cap);
	p->v[p->n].path = xstrdup(path && *path ? path : "/");
	p->v[p->n].message = msg.data ? buf_detach(&msg, NULL) : xstrdup("");
	p->n++;
}

/* The problems of one path, in the order they were added. */
struct problem_group {
	struct hmap_node node;
	size_t *idx;
	size_t n, cap;
};

void app_problems_write_json(struct jsonw *w, const struct app_problems *p)
{
	struct problem_group **groups = NULL, *g;
	size_t ngroups = 0, cap = 0;
	struct hmap seen;

	/* group by path, keeping the order of first appearance */
	hmap_init(&seen);
	for (size_t i = 0; i < p->n; i++) {
		g = hmap_entry(hmap_find(&seen, p->v[i].path),
		               struct problem_group, node);
		if (!g) {
			g = xcalloc(1, sizeof(*g));
			g->node.key = p->v[i].path;
			hmap_insert(&seen, &g->node);
			ALLOC_GROW(groups, ngroups + 1, cap);
			groups[ngroups++] = g;
		}
		ALLOC_GROW(g->idx, g->n + 1, g->cap);
		g->idx[g->n++] = i;
	}

	jsonw_obj_begin(w);
	jsonw_kstr(w, "message", "Object is not valid");
	jsonw_key(w, "details");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < ngroups; i++) {
		g = groups[i];
		jsonw_obj_begin(w);
		jsonw_kstr(w, "path", p->v[g->idx[0]].path);
		jsonw_key(w, "errors");
		jsonw_arr_begin(w);
		for (size_t k = 0; k < g->n; k++)
			jsonw_str(w, p->v[g->idx[k]].message);
		jsonw_arr_end(w);
		jsonw_obj_end(w);
		free(g->idx);
		free(g);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
	free(groups);
	hmap_release(&seen);
}

/* ---- ids ---------------------------------------------------------------- */

static bool id_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* One dot-separated label: [a-z0-9_] at both ends, [a-z0-9_-] inside. */
static bool id_label_ok(const char *s, size_t n)
{
	if (n == 0 || !id_char_ok(s[0]) || !id_char_ok(s[n - 1]))
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (!id_char_ok(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool id_segment_ok(const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!id_label_ok(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

char *app_id_resolve(const char *parent, const char *id, struct err *e)
{
	struct buf out = BUF_INIT;
	size_t *starts = NULL, nstarts = 0, cap = 0;
	const char *srcs[2];
	size_t nsrcs = 0;

	if (!id || !*id) {
		err_set(e, "id must not be empty");
		return NULL;
	}
	if (id[0] != '/')
		srcs[nsrcs++] = parent ? parent : "/";
	srcs[nsrcs++] = id;

	for (size_t k = 0; k < nsrcs; k++) {
		const char *p = srcs[k];
		while (*p) {
			size_t len = strcspn(p, "/");
			if (len == 0 || (len == 1 && p[0] == '.')) {
				/* empty (doubled or trailing '/') or "." */
			} else if (len == 2 && p[0] == '.' && p[1] == '.') {
				if (nstarts == 0) {
					err_set(e,
					        "id '%s': '..' climbs above "
					        "the root",
					        id);
					goto fail;
				}
				out.len = starts[--nstarts];
				out.data[out.len] = '\0';
			} else if (!id_segment_ok(p, len)) {
				err_set(e,
				        "id '%s': invalid segment '%.*s' (use "
				        "lowercase letters, digits, '_', '-' "
				        "and '.', beginning and ending with a "
				        "letter or digit)",
				        id, (int)MIN(len, 200), p);
				goto fail;
			} else {
				ALLOC_GROW(starts, nstarts + 1, cap);
				starts[nstarts++] = out.len;
				buf_addc(&out, '/');
				buf_add(&out, p, len);
			}
			p += len;
			if (*p == '/')
				p++;
		}
	}
	free(starts);
	if (out.len == 0) {
		buf_release(&out);
		return xstrdup("/");
	}
	return buf_detach(&out, NULL);
fail:
	free(starts);
	buf_release(&out);
	return NULL;
}

char *app_id_parent(const char *id)
{
	size_t n = strlen(id);

	while (n > 1 && id[n - 1] == '/')
		n--;
	while (n > 0 && id[n - 1] != '/')
		n--;
	/* n is now just past the last '/', or 0 */
	while (n > 1 && id[n - 1] == '/')
		n--;
	if (n <= 1)
		return xstrdup("/");
	return xstrndup(id, n);
}

bool app_id_is_under(const char *id, const char *prefix)
{
	size_t n = strlen(prefix);

	while (n > 0 && prefix[n - 1] == '/')
		n--;
	if (n == 0)
		return true;
	return strncmp(id, prefix, n) == 0 && (id[n] == '\0' || id[n] == '/');
}

/* True when id lies strictly below prefix (not equal to it). */
static bool id_is_strictly_under(const char *id, const char *prefix)
{
	return app_id_is_under(id, prefix) && strcmp(id, prefix) != 0;
}

/* ---- typed field getters ------------------------------------------------ */

/*
 * Where problems go: prefix is the path of the object being parsed inside
 * the request ("" for a top-level app, "/groups(0)/apps(1)" in a group);
 * the getters add the field's own path below it.
 */
struct pctx {
	struct app_problems *probs;
	const char *prefix;
};

/* Adds a problem at prefix + base + "/" + key (key may be NULL). */
static void prob(struct pctx *c, const char *base, const char *key,
                 const char *fmt, ...) PRINTF_LIKE(4, 5);
static void prob(struct pctx *c, const char *base, const char *key,
                 const char *fmt, ...)
{
	struct buf path = BUF_INIT, msg = BUF_INIT;
	va_list ap;

	buf_adds(&path, c->prefix);
	buf_adds(&path, base);
	if (key) {
		buf_addc(&path, '/');
		buf_adds(&path, key);
	}
	va_start(ap, fmt);
	buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	app_problems_add(c->probs, path.data ? path.data : "", "%s",
	                 msg.data ? msg.data : "");
	buf_release(&path);
	buf_release(&msg);
}

/* "base/key(i)", the path of an array element. */
static char *elem_path(const char *base, const char *key, size_t i)
{
	return xasprintf("%s/%s(%zu)", base, key, i);
}

static const char *jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		break;
	}
	return "null";
}

/* The member key of obj, or NULL when absent or null (both mean "use the
 * default", as in Marathon). */
static json_t *field(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

/* A number in [min, max]; def when absent or invalid. */
static double get_num(struct pctx *c, const json_t *obj, const char *base,
                      const char *key, double def, double min, double max)
{
	json_t *v = field(obj, key);
	double d;

	if (!v)
		return def;
	if (!json_is_number(v)) {
		prob(c, base, key, "expected a number, got %s", jtype(v));
		return def;
	}
	d = json_number_value(v);
	if (d < min) {
		prob(c, base, key, "must be >= %g, got %g", min, d);
		return def;
	}
	if (d > max) {
		prob(c, base, key, "must be <= %g, got %g", max, d);
		return def;
	}
	return d;
}

/* An integer in [min, max] (an integral real such as 2.0 counts). */
static int get_int(struct pctx *c, const json_t *obj, const char *base,
                   const char *key, int def, int min, int max)
{
	json_t *v = field(obj, key);
	double d;

	if (!v)
		return def;
	if (!json_is_number(v)) {
		prob(c, base, key, "expected an integer, got %s", jtype(v));
		return def;
	}
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < min) {
			prob(c, base, key,
			     "must be >= %d, got %" JSON_INTEGER_FORMAT, min,
			     i);
			return def;
		}
		if (i > max) {
			prob(c, base, key,
			     "must be <= %d, got %" JSON_INTEGER_FORMAT, max,
			     i);
			return def;
		}
		return (int)i;
	}
	d = json_real_value(v);
	if (d != floor(d)) {
		prob(c, base, key, "must be an integer, got %g", d);
		return def;
	}
	if (d < min) {
		prob(c, base, key, "must be >= %d, got %g", min, d);
		return def;
	}
	if (d > max) {
		prob(c, base, key, "must be <= %d, got %g", max, d);
		return def;
	}
	return (int)d;
}

static bool get_bool(struct pctx *c, const json_t *obj, const char *base,
                     const char *key, bool def)
{
	json_t *v = field(obj, key);

	if (!v)
		return def;
	if (!json_is_boolean(v)) {
		prob(c, base, key, "expected a boolean, got %s", jtype(v));
		return def;
	}
	return json_is_true(v);
}

/* A string value v (at base/key) copied to the heap; NULL on a problem. */
static char *str_value(struct pctx *c, const json_t *v, const char *base,
                       const char *key)
{
	if (!json_is_string(v)) {
		prob(c, base, key, "expected a string, got %s", jtype(v));
		return NULL;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		prob(c, base, key, "must not contain NUL characters");
		return NULL;
	}
	return xstrdup(json_string_value(v));
}

/* A string field; NULL when absent or invalid (then a problem). */
static char *get_str(struct pctx *c, const json_t *obj, const char *base,
                     const char *key)
{
	json_t *v = field(obj, key);

	return v ? str_value(c, v, base, key) : NULL;
}

/* A string field, or a copy of def. */
static char *get_str_def(struct pctx *c, const json_t *obj, const char *base,
                         const char *key, const char *def)
{
	char *s = get_str(c, obj, base, key);

	return s ? s : xstrdup(def);
}

/* The array field key, or NULL (absent, or a problem when not an array). */
static json_t *get_array(struct pctx *c, const json_t *obj, const char *base,
                         const char *key)
{
	json_t *v = field(obj, key);

	if (v && !json_is_array(v)) {
		prob(c, base, key, "expected an array, got %s", jtype(v));
		return NULL;
	}
	return v;
}

static json_t *get_object(struct pctx *c, const json_t *obj, const char *base,
                          const char *key)
{
	json_t *v = field(obj, key);

	if (v && !json_is_object(v)) {
		prob(c, base, key, "expected an object, got %s", jtype(v));
		return NULL;
	}
	return v;
}

/* An array of strings; the good elements land in *out. */
static void get_str_array(struct pctx *c, const json_t *obj, const char *base,
                          const char *key, char ***out, size_t *n)
{
	json_t *arr = get_array(c, obj, base, key), *v;
	size_t i;

	if (!arr || json_array_size(arr) == 0)
		return;
	*out = xcalloc(json_array_size(arr), sizeof(**out));
	json_array_foreach(arr, i, v)
	{
		char *p = elem_path(base, key, i);
		char *s = str_value(c, v, p, NULL);
		if (s)
			(*out)[(*n)++] = s;
		free(p);
	}
}

static void kv_free(struct app_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

/* A map of string -> string. env gets the "secrets" message. */
static void get_kv(struct pctx *c, const json_t *obj, const char *base,
                   const char *key, bool env, struct app_kv **out, size_t *n)
{
	json_t *m = get_object(c, obj, base, key), *v;
	const char *k;
	char *sub;

	if (!m || json_object_size(m) == 0)
		return;
	sub = xasprintf("%s/%s", base, key);
	*out = xcalloc(json_object_size(m), sizeof(**out));
	json_object_foreach(m, k, v)
	{
		char *s;
		if (env && json_is_object(v) && json_object_get(v, "secret")) {
			prob(c, sub, k, "secrets are not supported");
			continue;
		}
		s = str_value(c, v, sub, k);
		if (!s)
			continue;
		(*out)[*n].key = xstrdup(k);
		(*out)[*n].value = s;
		(*n)++;
	}
	free(sub);
}

/* ---- app: init and release --------------------------------------------- */

void app_init(struct app *a)
{
	memset(a, 0, sizeof(*a));
	constraint_set_init(&a->constraints);
	a->cpus = APP_DEFAULT_CPUS;
	a->mem = APP_DEFAULT_MEM;
	a->instances = 1;
	a->minimum_health_capacity = 1.0;
	a->maximum_over_capacity = 1.0;
	a->progress_deadline_seconds = APP_DEFAULT_PROGRESS_DEADLINE;
	a->backoff_seconds = APP_DEFAULT_BACKOFF;
	a->backoff_factor = APP_DEFAULT_BACKOFF_FACTOR;
	a->max_launch_delay_seconds = APP_DEFAULT_MAX_LAUNCH_DELAY;
	a->task_kill_grace_period_seconds = -1;
	a->kill_selection = APP_KILL_YOUNGEST_FIRST;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void health_check_release(struct app_health_check *hc)
{
	free(hc->protocol_name);
	free(hc->path);
	free(hc->command);
}

static void readiness_check_release(struct app_readiness_check *rc)
{
	free(rc->name);
	free(rc->protocol);
	free(rc->path);
	free(rc->port_name);
	free(rc->status_codes);
}

void app_release(struct app *a)
{
	free(a->shutdown_port_name);
	free(a->id);
	free(a->cmd);
	strv_free(a->args, a->nargs);
	constraint_set_release(&a->constraints);
	strv_free(a->accepted_resource_roles, a->naccepted_resource_roles);
	free(a->role);
	for (size_t i = 0; i < a->nports; i++) {
		free(a->ports[i].name);
		free(a->ports[i].protocol);
		kv_free(a->ports[i].labels, a->ports[i].nlabels);
	}
	free(a->ports);
	kv_free(a->env, a->nenv);
	kv_free(a->labels, a->nlabels);
	for (size_t i = 0; i < a->nfetch; i++) {
		free(a->fetch[i].uri);
		free(a->fetch[i].dest_path);
	}
	free(a->fetch);
	free(a->user);
	for (size_t i = 0; i < a->nhealth_checks; i++)
		health_check_release(&a->health_checks[i]);
	free(a->health_checks);
	for (size_t i = 0; i < a->nreadiness_checks; i++)
		readiness_check_release(&a->readiness_checks[i]);
	free(a->readiness_checks);
	strv_free(a->dependencies, a->ndependencies);
	for (size_t i = 0; i < a->nvolumes; i++) {
		free(a->volumes[i].container_path);
		free(a->volumes[i].host_path);
		free(a->volumes[i].mode);
		free(a->volumes[i].persistent_type);
	}
	free(a->volumes);
	free(a->container_type);
	free(a->version);
	json_decref(a->definition);
	app_init(a);
}

/* ---- app: the parts of a definition ------------------------------------- */

static void parse_id(struct pctx *c, struct app *a, const json_t *obj,
                     const char *parent)
{
	json_t *v = field(obj, "id");
	struct err e = {{0}};
	char *raw;

	if (!v) {
		prob(c, "", "id", "is required");
		return;
	}
	raw = str_value(c, v, "", "id");
	if (!raw)
		return;
	a->id = app_id_resolve(parent, raw, &e);
	if (!a->id)
		prob(c, "", "id", "%s", e.msg);
	else if (strcmp(a->id, "/") == 0) {
		prob(c, "", "id", "must name an app, not the root group");
		free(a->id);
		a->id = NULL;
	}
	free(raw);
}

static void parse_command(struct pctx *c, struct app *a, const json_t *obj)
{
	a->cmd = get_str(c, obj, "", "cmd");
	if (a->cmd && !*a->cmd) {
		prob(c, "", "cmd", "must not be empty");
		free(a->cmd);
		a->cmd = NULL;
	}
	get_str_array(c, obj, "", "args", &a->args, &a->nargs);
	if (field(obj, "cmd") && field(obj, "args"))
		prob(c, "", "cmd",
		     "cmd and args are mutually exclusive: give one of them");
	else if (!field(obj, "cmd") && !field(obj, "args"))
		/* Marathon: one of cmd, args or a container image; Atoll
		 * runs no images yet. */
		prob(c, "", "cmd", "give cmd or args: the command to run");
}

static void parse_resources(struct pctx *c, struct app *a, const json_t *obj)
{
	/* Marathon's validator says cpus >= 0 (its RAML says 0.001) */
	a->cpus = get_num(c, obj, "", "cpus", APP_DEFAULT_CPUS, 0, INFINITY);
	a->mem = get_num(c, obj, "", "mem", APP_DEFAULT_MEM, 0, INFINITY);
	a->disk = get_num(c, obj, "", "disk", 0, 0, INFINITY);
	a->gpus = get_int(c, obj, "", "gpus", 0, 0, INT32_MAX);
	a->instances = get_int(c, obj, "", "instances", 1, 0, INT32_MAX);
}

static void parse_constraints(struct pctx *c, struct app *a, const json_t *obj)
{
	json_t *v = field(obj, "constraints");
	size_t bad = SIZE_MAX;
	struct err e = {{0}};
	const char *msg;

	if (!v || constraint_set_from_json(&a->constraints, v, &bad, &e) == 0)
		return;
	/* drop the "constraints(2): " the message may start with: the path
	 * says it already */
	msg = e.msg;
	if (strncmp(msg, "constraints", 11) == 0 && strstr(msg, ": "))
		msg = strstr(msg, ": ") + 2;
	if (!*msg)
		msg = "invalid constraint";
	if (bad != SIZE_MAX) {
		char *p = elem_path("", "constraints", bad);
		prob(c, p, NULL, "%s", msg);
		free(p);
	} else {
		prob(c, "", "constraints", "%s", msg);
	}
}

static bool port_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-'))
			return false;
	return true;
}

static bool port_protocol_ok(const char *s)
{
	return streq(s, "tcp") || streq(s, "udp") || streq(s, "udp,tcp") ||
	       streq(s, "tcp,udp");
}

static void parse_port_definition(struct pctx *c, struct app_port *pt,
                                  const json_t *o, const char *base)
{
	if (!json_is_object(o)) {
		prob(c, base, NULL, "expected an object, got %s", jtype(o));
		pt->protocol = xstrdup("tcp");
		return;
	}
	pt->port = get_int(c, o, base, "port", 0, 0, APP_MAX_PORT);
	pt->protocol = get_str_def(c, o, base, "protocol", "tcp");
	if (!port_protocol_ok(pt->protocol)) {
		prob(c, base, "protocol",
		     "must be tcp, udp or udp,tcp, got '%s'", pt->protocol);
	}
	pt->name = get_str(c, o, base, "name");
	if (pt->name && !port_name_ok(pt->name)) {
		prob(c, base, "name", "must match ^[a-z0-9-]+$, got '%s'",
		     pt->name);
	}
	get_kv(c, o, base, "labels", false, &pt->labels, &pt->nlabels);
}

/* portDefinitions, the old ports, or Marathon's default single port. */
static void parse_ports(struct pctx *c, struct app *a, const json_t *obj)
{
	json_t *defs = get_array(c, obj, "", "portDefinitions");
	json_t *old = get_array(c, obj, "", "ports");
	json_t *v;
	size_t i;

	if (defs && old)
		prob(c, "", "ports", "give portDefinitions or ports, not both");
	if (defs) {
		a->ports =
		    xcalloc(json_array_size(defs) + 1, sizeof(*a->ports));
		json_array_foreach(defs, i, v)
		{
			char *p = elem_path("", "portDefinitions", i);
			parse_port_definition(c, &a->ports[i], v, p);
			free(p);
		}
		a->nports = json_array_size(defs);
	} else if (old) {
		a->ports = xcalloc(json_array_size(old) + 1, sizeof(*a->ports));
		json_array_foreach(old, i, v)
		{
			char key[32];
			snprintf(key, sizeof(key), "ports(%zu)", i);
			a->ports[i].protocol = xstrdup("tcp");
			if (!json_is_integer(v)) {
				prob(c, "", key,
				     "expected a port number, got %s",
				     jtype(v));
			} else if (json_integer_value(v) < 0 ||
			           json_integer_value(v) > APP_MAX_PORT) {
				prob(c, "", key,
				     "must be in 0..65535, got "
				     "%" JSON_INTEGER_FORMAT,
				     json_integer_value(v));
			} else {
				a->ports[i].port = (int)json_integer_value(v);
			}
		}
		a->nports = json_array_size(old);
	} else if (!field(obj, "portDefinitions") && !field(obj, "ports")) {
		a->ports = xcalloc(1, sizeof(*a->ports));
		a->ports[0].protocol = xstrdup("tcp");
		a->ports[0].name = xstrdup("default");
		a->nports = 1;
	}

	/* names and fixed port numbers are unique */
	for (i = 0; i < a->nports; i++) {
		for (size_t j = 0; j < i; j++) {
			char *p = elem_path(
			    "", defs ? "portDefinitions" : "ports", i);
			if (a->ports[i].name &&
			    streq(a->ports[i].name, a->ports[j].name))
				prob(c, p, "name",
				     "duplicate port name '%s' (also at "
				     "index %zu)",
				     a->ports[i].name, j);
			if (a->ports[i].port != 0 &&
			    a->ports[i].port == a->ports[j].port)
				prob(c, p, defs ? "port" : NULL,
				     "duplicate port %d (also at index %zu)",
				     a->ports[i].port, j);
			free(p);
		}
	}

	a->require_ports = get_bool(c, obj, "", "requirePorts", false);
	if (a->require_ports) {
		for (i = 0; i < a->nports; i++) {
			if (a->ports[i].port == 0) {
				prob(c, "", "requirePorts",
				     "needs fixed port numbers, but port "
				     "index %zu is 0 (dynamic)",
				     i);
				break;
			}
		}
	}
}

/* Marathon's rule for the old "uris": archives are extracted. */
static bool uri_is_archive(const char *uri)
{
	static const char *const ext[] = {
	    ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip"};
	size_t n = strlen(uri);

	for (size_t i = 0; i < ARRAY_SIZE(ext); i++) {
		size_t k = strlen(ext[i]);
		if (n >= k && strcmp(uri + n - k, ext[i]) == 0)
			return true;
	}
	return false;
}

static void parse_fetch(struct pctx *c, struct app *a, const json_t *obj)
{
	json_t *fetch = get_array(c, obj, "", "fetch");
	json_t *uris = get_array(c, obj, "", "uris");
	json_t *v;
	size_t i;

	if (fetch && uris)
		prob(c, "", "uris", "give fetch or uris, not both");
	if (fetch && json_array_size(fetch)) {
		a->fetch = xcalloc(json_array_size(fetch), sizeof(*a->fetch));
		json_array_foreach(fetch, i, v)
		{
			char *p = elem_path("", "fetch", i);
			struct app_fetch *f = &a->fetch[a->nfetch];
			if (!json_is_object(v)) {
				prob(c, p, NULL, "expected an object, got %s",
				     jtype(v));
				free(p);
				continue;
			}
			f->uri = get_str(c, v, p, "uri");
			if (!f->uri || !*f->uri) {
				if (!field(v, "uri") || f->uri)
					prob(c, p, "uri", "is required");
				free(f->uri);
				f->uri = NULL;
				free(p);
				continue;
			}
			f->extract = get_bool(c, v, p, "extract", true);
			f->executable = get_bool(c, v, p, "executable", false);
			f->cache = get_bool(c, v, p, "cache", false);
			f->dest_path = get_str(c, v, p, "destPath");
			a->nfetch++;
			free(p);
		}
	} else if (uris && !fetch && json_array_size(uris)) {
		a->fetch = xcalloc(json_array_size(uris), sizeof(*a->fetch));
		json_array_foreach(uris, i, v)
		{
			char *p = elem_path("", "uris", i);
			char *s = str_value(c, v, p, NULL);
			if (s && !*s)
				prob(c, p, NULL, "must not be empty");
			if (s && *s) {
				a->fetch[a->nfetch].uri = s;
				a->fetch[a->nfetch].extract = uri_is_archive(s);
				a->nfetch++;
			} else {
				free(s);
			}
			free(p);
		}
	}
}

static const struct {
	const char *name;
	enum app_check_protocol protocol;
} check_protocols[] = {
    {"HTTP", APP_CHECK_HTTP},         {"HTTPS", APP_CHECK_HTTPS},
    {"TCP", APP_CHECK_TCP},           {"MESOS_HTTP", APP_CHECK_HTTP},
    {"MESOS_HTTPS", APP_CHECK_HTTPS}, {"MESOS_TCP", APP_CHECK_TCP},
    {"COMMAND", APP_CHECK_COMMAND},
};

static void parse_health_check(struct pctx *c, const struct app *a,
                               struct app_health_check *hc, const json_t *o,
                               const char *base)
{
	json_t *cmd;
	bool known = false;

	hc->protocol_name = get_str_def(c, o, base, "protocol", "HTTP");
	for (size_t i = 0; i < ARRAY_SIZE(check_protocols); i++) {
		if (streq(hc->protocol_name, check_protocols[i].name)) {
			hc->protocol = check_protocols[i].protocol;
			known = true;
		}
	}
	if (!known)
		prob(c, base, "protocol",
		     "unknown protocol '%s' (want HTTP, HTTPS, TCP, "
		     "MESOS_HTTP, MESOS_HTTPS, MESOS_TCP or COMMAND)",
		     hc->protocol_name);
	else if (hc->protocol == APP_CHECK_HTTPS)
		/* The executor's checker has no TLS yet: refusing here beats
		 * tasks that fail at launch. */
		prob(c, base, "protocol",
		     "'%s' health checks are not supported yet (use HTTP, "
		     "TCP or COMMAND)",
		     hc->protocol_name);
	hc->path = get_str_def(c, o, base, "path", "/");
	hc->port_index = get_int(c, o, base, "portIndex", 0, 0, INT32_MAX);
	hc->port = get_int(c, o, base, "port", 0, 0, APP_MAX_PORT);
	cmd = get_object(c, o, base, "command");
	if (cmd) {
		char *sub = xasprintf("%s/command", base);
		hc->command = get_str(c, cmd, sub, "value");
		free(sub);
	}
	hc->grace_period_seconds =
	    get_num(c, o, base, "gracePeriodSeconds", 300, 0, INFINITY);
	hc->interval_seconds =
	    get_num(c, o, base, "intervalSeconds", 60, 0, INFINITY);
	hc->timeout_seconds =
	    get_num(c, o, base, "timeoutSeconds", 20, 0, INFINITY);
	hc->delay_seconds =
	    get_num(c, o, base, "delaySeconds", 15, 0, INFINITY);
	hc->max_consecutive_failures =
	    get_int(c, o, base, "maxConsecutiveFailures", 3, 0, INT32_MAX);
	hc->ignore_http_1xx = get_bool(c, o, base, "ignoreHttp1xx", false);

	if (hc->timeout_seconds >= hc->interval_seconds)
		prob(c, base, "timeoutSeconds",
		     "must be < intervalSeconds (%g), got %g",
		     hc->interval_seconds, hc->timeout_seconds);

	if (hc->protocol == APP_CHECK_COMMAND) {
		if (!hc->command || !*hc->command)
			prob(c, base, "command",
			     "COMMAND health checks need command.value");
		return;
	}
	if (hc->port != 0 && field(o, "portIndex"))
		prob(c, base, "port", "give port or portIndex, not both");
	if (hc->port != 0)
		return;
	if (a->nports == 0)
		prob(c, base, "portIndex",
		     "the app has no port definitions: give a port");
	else if ((size_t)hc->port_index >= a->nports)
		prob(c, base, "portIndex",
		     "must be < %zu (the number of ports), got %d", a->nports,
		     hc->port_index);
}

static void parse_health_checks(struct pctx *c, struct app *a,
                                const json_t *obj)
{
	json_t *arr = get_array(c, obj, "", "healthChecks"), *v;
	size_t i;

	if (!arr || json_array_size(arr) == 0)
		return;
	if (json_array_size(arr) > 1)
		prob(c, "", "healthChecks",
		     "at most one health check is supported (Mesos runs one "
		     "per task), got %zu",
		     json_array_size(arr));
	a->health_checks =
	    xcalloc(json_array_size(arr), sizeof(*a->health_checks));
	json_array_foreach(arr, i, v)
	{
		char *p = elem_path("", "healthChecks", i);
		if (json_is_object(v))
			parse_health_check(
			    c, a, &a->health_checks[a->nhealth_checks++], v, p);
		else
			prob(c, p, NULL, "expected an object, got %s",
			     jtype(v));
		free(p);
	}
}

static void parse_status_codes(struct pctx *c, struct app_readiness_check *rc,
                               const json_t *o, const char *base)
{
	json_t *arr = get_array(c, o, base, "httpStatusCodesForReady"), *v;
	size_t i;

	if (!arr) {
		rc->status_codes = xmalloc(sizeof(int));
		rc->status_codes[0] = 200;
		rc->nstatus_codes = 1;
		return;
	}
	if (json_array_size(arr) == 0)
		prob(c, base, "httpStatusCodesForReady", "must not be empty");
	rc->status_codes = xcalloc(json_array_size(arr) + 1, sizeof(int));
	json_array_foreach(arr, i, v)
	{
		char key[48];
		snprintf(key, sizeof(key), "httpStatusCodesForReady(%zu)", i);
		if (!json_is_integer(v) || json_integer_value(v) < 100 ||
		    json_integer_value(v) > 599) {
			prob(c, base, key,
			     "must be an HTTP status code (100..599)");
			continue;
		}
		rc->status_codes[rc->nstatus_codes++] =
		    (int)json_integer_value(v);
	}
}

static void parse_readiness_check(struct pctx *c, const struct app *a,
                                  struct app_readiness_check *rc,
                                  const json_t *o, const char *base)
{
	bool found = false;

	rc->name = get_str_def(c, o, base, "name", "readinessCheck");
	rc->protocol = get_str_def(c, o, base, "protocol", "HTTP");
	if (!streq(rc->protocol, "HTTP"))
		prob(c, base, "protocol",
		     "must be HTTP (HTTPS readiness checks are not supported "
		     "yet), got '%s'",
		     rc->protocol);
	rc->path = get_str_def(c, o, base, "path", "/");
	rc->port_name = get_str_def(c, o, base, "portName", "http-api");
	for (size_t i = 0; i < a->nports; i++)
		if (streq(a->ports[i].name, rc->port_name))
			found = true;
	if (!found)
		prob(c, base, "portName", "no port definition is named '%s'",
		     rc->port_name);
	rc->interval_seconds =
	    get_num(c, o, base, "intervalSeconds", 30, 0, INFINITY);
	rc->timeout_seconds =
	    get_num(c, o, base, "timeoutSeconds", 10, 0, INFINITY);
	if (rc->timeout_seconds >= rc->interval_seconds)
		prob(c, base, "timeoutSeconds",
		     "must be < intervalSeconds (%g), got %g",
		     rc->interval_seconds, rc->timeout_seconds);
	parse_status_codes(c, rc, o, base);
	rc->preserve_last_response =
	    get_bool(c, o, base, "preserveLastResponse", false);
}

static void parse_readiness_checks(struct pctx *c, struct app *a,
                                   const json_t *obj)
{
	json_t *arr = get_array(c, obj, "", "readinessChecks"), *v;
	size_t i;

	if (!arr || json_array_size(arr) == 0)
		return;
	if (json_array_size(arr) > 1)
		prob(c, "", "readinessChecks",
		     "at most one readiness check is allowed, got %zu",
		     json_array_size(arr));
	a->readiness_checks =
	    xcalloc(json_array_size(arr), sizeof(*a->readiness_checks));
	json_array_foreach(arr, i, v)
	{
		char *p = elem_path("", "readinessChecks", i);
		if (json_is_object(v))
			parse_readiness_check(
			    c, a, &a->readiness_checks[a->nreadiness_checks++],
			    v, p);
		else
			prob(c, p, NULL, "expected an object, got %s",
			     jtype(v));
		free(p);
	}
}

/* gracefulShutdown (Atoll addition; Aurora's HTTP lifecycle). */
static void parse_graceful_shutdown(struct pctx *c, struct app *a,
                                    const json_t *obj)
{
	json_t *g = get_object(c, obj, "", "gracefulShutdown");
	bool found = false;

	a->shutdown_quit_wait = a->shutdown_abort_wait = 5;
	if (!g)
		return;
	a->shutdown_port_name = get_str(c, g, "/gracefulShutdown", "portName");
	a->shutdown_quit_wait = get_num(c, g, "/gracefulShutdown",
	                                "quitquitquitWaitSeconds", 5, 0, 3600);
	a->shutdown_abort_wait =
	    get_num(c, g, "/gracefulShutdown", "abortabortabortWaitSeconds", 5,
	            0, 3600);
	if (!a->shutdown_port_name) {
		prob(c, "/gracefulShutdown", "portName", "is required");
		return;
	}
	for (size_t i = 0; i < a->nports; i++)
		found =
		    found || (a->ports[i].name &&
		              streq(a->ports[i].name, a->shutdown_port_name));
	if (!found)
		prob(c, "/gracefulShutdown", "portName",
		     "'%s' names no port definition", a->shutdown_port_name);
}

/* A persistent volume's containerPath: one relative segment. */
static bool volume_path_is_segment(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

/* Returns true when the volume is persistent (even if invalid). */
static bool parse_volume(struct pctx *c, struct app_volume *vol,
                         const json_t *o, const char *base)
{
	json_t *pers;
	char *pbase;

	vol->container_path = get_str(c, o, base, "containerPath");
	if (!vol->container_path)
		prob(c, base, "containerPath", "is required");
	vol->host_path = get_str(c, o, base, "hostPath");
	vol->mode = get_str_def(c, o, base, "mode", "RW");
	if (!streq(vol->mode, "RW") && !streq(vol->mode, "RO"))
		prob(c, base, "mode", "must be RW or RO, got '%s'", vol->mode);
	pers = get_object(c, o, base, "persistent");
	if (!pers) {
		if (!vol->host_path && !field(o, "persistent"))
			prob(c, base, NULL,
			     "a volume needs hostPath or persistent");
		if (vol->container_path && !*vol->container_path)
			prob(c, base, "containerPath", "must not be empty");
		return false;
	}
	pbase = xasprintf("%s/persistent", base);
	if (vol->host_path)
		prob(c, base, "hostPath",
		     "a persistent volume takes no hostPath");
	if (vol->container_path && !volume_path_is_segment(vol->container_path))
		prob(c, base, "containerPath",
		     "must be one relative path segment (no '/' or '..') "
		     "for a persistent volume, got '%s'",
		     vol->container_path);
	if (!streq(vol->mode, "RW"))
		prob(c, base, "mode", "persistent volumes must be RW, got '%s'",
		     vol->mode);
	vol->persistent_type = get_str_def(c, pers, pbase, "type", "root");
	if (!streq(vol->persistent_type, "root") &&
	    !streq(vol->persistent_type, "path") &&
	    !streq(vol->persistent_type, "mount"))
		prob(c, pbase, "type", "must be root, path or mount, got '%s'",
		     vol->persistent_type);
	if (!field(pers, "size")) {
		prob(c, pbase, "size", "is required");
	} else {
		double size =
		    get_num(c, pers, pbase, "size", 0, -INFINITY, INFINITY);
		if (json_is_number(field(pers, "size")) && size <= 0)
			prob(c, pbase, "size", "must be > 0, got %g", size);
		else
			vol->persistent_size = size;
	}
	free(pbase);
	return true;
}

/* Returns true when the app has a persistent volume. */
static bool parse_container(struct pctx *c, struct app *a, const json_t *obj)
{
	json_t *ct = get_object(c, obj, "", "container"), *vols, *v;
	bool persistent = false;
	size_t i;

	if (!ct)
		return false;
	a->container_type = get_str_def(c, ct, "/container", "type", "MESOS");
	if (streq(a->container_type, "DOCKER"))
		prob(c, "/container", "type",
		     "docker containers are not supported");
	else if (!streq(a->container_type, "MESOS"))
		prob(c, "/container", "type",
		     "unknown container type '%s' (want MESOS)",
		     a->container_type);
	vols = get_array(c, ct, "/container", "volumes");
	if (!vols || json_array_size(vols) == 0)
		return false;
	a->volumes = xcalloc(json_array_size(vols), sizeof(*a->volumes));
	json_array_foreach(vols, i, v)
	{
		char *p = elem_path("/container", "volumes", i);
		if (json_is_object(v)) {
			if (parse_volume(c, &a->volumes[a->nvolumes++], v, p))
				persistent = true;
		} else {
			prob(c, p, NULL, "expected an object, got %s",
			     jtype(v));
		}
		free(p);
	}
	return persistent;
}

static void parse_upgrade_strategy(struct pctx *c, struct app *a,
                                   const json_t *obj, bool persistent)
{
	json_t *us = get_object(c, obj, "", "upgradeStrategy");
	const char *b = "/upgradeStrategy";

	a->minimum_health_capacity = persistent ? 0.5 : 1.0;
	a->maximum_over_capacity = persistent ? 0.0 : 1.0;
	a->progress_deadline_seconds = APP_DEFAULT_PROGRESS_DEADLINE;
	if (!us)
		return;
	a->minimum_health_capacity = get_num(c, us, b, "minimumHealthCapacity",
	                                     a->minimum_health_capacity, 0, 1);
	a->maximum_over_capacity = get_num(c, us, b, "maximumOverCapacity",
	                                   a->maximum_over_capacity, 0, 1);
	a->progress_deadline_seconds =
	    get_num(c, us, b, "progressDeadlineSeconds",
	            APP_DEFAULT_PROGRESS_DEADLINE, 0, INFINITY);
	if (persistent && a->maximum_over_capacity != 0)
		prob(c, b, "maximumOverCapacity",
		     "must be 0 for apps with persistent volumes, got %g",
		     a->maximum_over_capacity);
}

static void parse_lifecycle(struct pctx *c, struct app *a, const json_t *obj,
                            bool persistent)
{
	json_t *ks, *us;

	a->backoff_seconds = get_num(c, obj, "", "backoffSeconds",
	                             APP_DEFAULT_BACKOFF, 0, INFINITY);
	a->backoff_factor = get_num(c, obj, "", "backoffFactor",
	                            APP_DEFAULT_BACKOFF_FACTOR, 1, INFINITY);
	a->max_launch_delay_seconds =
	    get_num(c, obj, "", "maxLaunchDelaySeconds",
	            APP_DEFAULT_MAX_LAUNCH_DELAY, 0, INFINITY);
	a->task_kill_grace_period_seconds =
	    get_num(c, obj, "", "taskKillGracePeriodSeconds", -1, 0, INFINITY);

	ks = field(obj, "killSelection");
	if (ks) {
		if (json_is_string(ks) &&
		    streq(json_string_value(ks), "OLDEST_FIRST"))
			a->kill_selection = APP_KILL_OLDEST_FIRST;
		else if (!json_is_string(ks) ||
		         !streq(json_string_value(ks), "YOUNGEST_FIRST"))
			prob(c, "", "killSelection",
			     "must be YOUNGEST_FIRST or OLDEST_FIRST");
	}

	us = field(obj, "unreachableStrategy");
	a->unreachable_disabled = persistent;
	if (!us)
		return;
	if (json_is_string(us)) {
		if (streq(json_string_value(us), "disabled"))
			a->unreachable_disabled = true;
		else
			prob(c, "", "unreachableStrategy",
			     "must be \"disabled\" or an object");
		return;
	}
	if (!json_is_object(us)) {
		prob(c, "", "unreachableStrategy",
		     "expected \"disabled\" or an object, got %s", jtype(us));
		return;
	}
	if (persistent)
		prob(c, "", "unreachableStrategy",
		     "must be \"disabled\" for apps with persistent volumes");
	a->inactive_after_seconds =
	    get_num(c, us, "/unreachableStrategy", "inactiveAfterSeconds", 0, 0,
	            INFINITY);
	a->expunge_after_seconds =
	    get_num(c, us, "/unreachableStrategy", "expungeAfterSeconds", 0, 0,
	            INFINITY);
	if (a->inactive_after_seconds > a->expunge_after_seconds)
		prob(c, "/unreachableStrategy", "expungeAfterSeconds",
		     "must be >= inactiveAfterSeconds (%g), got %g",
		     a->inactive_after_seconds, a->expunge_after_seconds);
}

/* Relative dependencies resolve against the app's parent group. */
static void parse_dependencies(struct pctx *c, struct app *a, const json_t *obj,
                               const char *parent)
{
	json_t *arr = get_array(c, obj, "", "dependencies"), *v;
	char *base = a->id ? app_id_parent(a->id) : xstrdup(parent);
	size_t i;

	if (!arr || json_array_size(arr) == 0)
		goto out;
	a->dependencies =
	    xcalloc(json_array_size(arr), sizeof(*a->dependencies));
	json_array_foreach(arr, i, v)
	{
		char *p = elem_path("", "dependencies", i);
		struct err e = {{0}};
		char *raw = str_value(c, v, p, NULL), *dep;
		bool dup = false;

		dep = raw ? app_id_resolve(base, raw, &e) : NULL;
		if (raw && !dep)
			prob(c, p, NULL, "%s", e.msg);
		for (size_t k = 0; dep && k < a->ndependencies; k++)
			dup = dup || streq(a->dependencies[k], dep);
		if (dep && dup) {
			prob(c, p, NULL, "duplicate dependency '%s'", dep);
			free(dep);
		} else if (dep && a->id && app_id_is_under(a->id, dep)) {
			prob(c, p, NULL,
			     "an app cannot depend on itself or "
			     "its own group ('%s')",
			     dep);
			free(dep);
		} else if (dep) {
			a->dependencies[a->ndependencies++] = dep;
		}
		free(raw);
		free(p);
	}
out:
	free(base);
}

/* The submitted object, ids absolute, without "version". */
static void keep_definition(struct app *a, const json_t *obj)
{
	json_t *deps;

	a->definition = json_deep_copy(obj);
	BUG_ON(!a->definition);
	json_object_del(a->definition, "version");
	if (a->id)
		json_object_set_new(a->definition, "id", json_string(a->id));
	deps = json_object_get(a->definition, "dependencies");
	if (json_is_array(deps) && json_array_size(deps) == a->ndependencies) {
		json_t *abs = json_array();
		for (size_t i = 0; i < a->ndependencies; i++)
			json_array_append_new(abs,
			                      json_string(a->dependencies[i]));
		json_object_set_new(a->definition, "dependencies", abs);
	}
}

int app_from_json(struct app *a, const json_t *obj, const char *parent,
                  const char *path_prefix, struct app_problems *probs)
{
	struct pctx c = {probs, path_prefix ? path_prefix : ""};
	size_t before = probs->n;
	json_t *secrets;
	bool persistent;

	if (!parent)
		parent = "/";
	if (!json_is_object(obj)) {
		prob(&c, "", NULL, "expected an object, got %s",
		     obj ? jtype(obj) : "nothing");
		return -EINVAL;
	}
	parse_id(&c, a, obj, parent);
	parse_command(&c, a, obj);
	parse_resources(&c, a, obj);
	parse_constraints(&c, a, obj);
	get_str_array(&c, obj, "", "acceptedResourceRoles",
	              &a->accepted_resource_roles,
	              &a->naccepted_resource_roles);
	for (size_t i = 0; i < a->naccepted_resource_roles; i++) {
		if (!*a->accepted_resource_roles[i])
			prob(&c, "", "acceptedResourceRoles",
			     "roles must not be empty");
	}
	a->role = get_str(&c, obj, "", "role");
	parse_ports(&c, a, obj);
	get_kv(&c, obj, "", "env", true, &a->env, &a->nenv);
	secrets = field(obj, "secrets");
	if (secrets && (!json_is_object(secrets) || json_object_size(secrets)))
		prob(&c, "", "secrets", "secrets are not supported");
	get_kv(&c, obj, "", "labels", false, &a->labels, &a->nlabels);
	parse_fetch(&c, a, obj);
	a->user = get_str(&c, obj, "", "user");
	parse_health_checks(&c, a, obj);
	parse_readiness_checks(&c, a, obj);
	parse_graceful_shutdown(&c, a, obj);
	persistent = parse_container(&c, a, obj);
	parse_upgrade_strategy(&c, a, obj, persistent);
	parse_lifecycle(&c, a, obj, persistent);
	parse_dependencies(&c, a, obj, parent);
	keep_definition(a, obj);
	return probs->n > before ? -EINVAL : 0;
}

/* ---- app: writing ------------------------------------------------------- */

/*
 * Writes "key": v in the shortest form that reads back as the same double
 * (1.15, not jsonw's 17-digit 1.1499999999999999), as Marathon shows it.
 */
static void write_num(struct jsonw *w, const char *key, double v)
{
	char tmp[40];

	jsonw_key(w, key);
	if (!isfinite(v) || v == floor(v)) {
		jsonw_double(w, v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	jsonw_raw(w, tmp, strlen(tmp));
}

static void write_strv(struct jsonw *w, const char *key, char *const *v,
                       size_t n)
{
	jsonw_key(w, key);
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_str(w, v[i]);
	jsonw_arr_end(w);
}

static void write_kv(struct jsonw *w, const char *key, const struct app_kv *kv,
                     size_t n)
{
	jsonw_key(w, key);
	jsonw_obj_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_kstr(w, kv[i].key, kv[i].value);
	jsonw_obj_end(w);
}

static void write_kstr_or_null(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	if (s)
		jsonw_str(w, s);
	else
		jsonw_null(w);
}

static void write_ports(struct jsonw *w, const struct app *a)
{
	jsonw_key(w, "portDefinitions");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < a->nports; i++) {
		const struct app_port *pt = &a->ports[i];
		jsonw_obj_begin(w);
		jsonw_kint(w, "port", pt->port);
		jsonw_kstr(w, "protocol", pt->protocol ? pt->protocol : "tcp");
		if (pt->name)
			jsonw_kstr(w, "name", pt->name);
		write_kv(w, "labels", pt->labels, pt->nlabels);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_kbool(w, "requirePorts", a->require_ports);
}

static void write_fetch(struct jsonw *w, const struct app *a)
{
	jsonw_key(w, "fetch");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < a->nfetch; i++) {
		const struct app_fetch *f = &a->fetch[i];
		jsonw_obj_begin(w);
		jsonw_kstr(w, "uri", f->uri);
		jsonw_kbool(w, "extract", f->extract);
		jsonw_kbool(w, "executable", f->executable);
		jsonw_kbool(w, "cache", f->cache);
		if (f->dest_path)
			jsonw_kstr(w, "destPath", f->dest_path);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

static const char *check_protocol_name(const struct app_health_check *hc)
{
	if (hc->protocol_name)
		return hc->protocol_name;
	for (size_t i = 0; i < ARRAY_SIZE(check_protocols); i++)
		if (check_protocols[i].protocol == hc->protocol)
			return check_protocols[i].name;
	return "HTTP";
}

static void write_health_checks(struct jsonw *w, const struct app *a)
{
	jsonw_key(w, "healthChecks");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < a->nhealth_checks; i++) {
		const struct app_health_check *hc = &a->health_checks[i];
		jsonw_obj_begin(w);
		jsonw_kstr(w, "protocol", check_protocol_name(hc));
		if (hc->protocol == APP_CHECK_COMMAND) {
			jsonw_key(w, "command");
			jsonw_obj_begin(w);
			jsonw_kstr(w, "value", hc->command ? hc->command : "");
			jsonw_obj_end(w);
		} else {
			if (hc->protocol != APP_CHECK_TCP)
				jsonw_kstr(w, "path",
				           hc->path ? hc->path : "/");
			if (hc->port != 0)
				jsonw_kint(w, "port", hc->port);
			else
				jsonw_kint(w, "portIndex", hc->port_index);
		}
		write_num(w, "gracePeriodSeconds", hc->grace_period_seconds);
		write_num(w, "intervalSeconds", hc->interval_seconds);
		write_num(w, "timeoutSeconds", hc->timeout_seconds);
		write_num(w, "delaySeconds", hc->delay_seconds);
		jsonw_kint(w, "maxConsecutiveFailures",
		           hc->max_consecutive_failures);
		jsonw_kbool(w, "ignoreHttp1xx", hc->ignore_http_1xx);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

static void write_readiness_checks(struct jsonw *w, const struct app *a)
{
	jsonw_key(w, "readinessChecks");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < a->nreadiness_checks; i++) {
		const struct app_readiness_check *rc = &a->readiness_checks[i];
		jsonw_obj_begin(w);
		jsonw_kstr(w, "name", rc->name ? rc->name : "readinessCheck");
		jsonw_kstr(w, "protocol", rc->protocol ? rc->protocol : "HTTP");
		jsonw_kstr(w, "path", rc->path ? rc->path : "/");
		jsonw_kstr(w, "portName",
		           rc->port_name ? rc->port_name : "http-api");
		write_num(w, "intervalSeconds", rc->interval_seconds);
		write_num(w, "timeoutSeconds", rc->timeout_seconds);
		jsonw_key(w, "httpStatusCodesForReady");
		jsonw_arr_begin(w);
		for (size_t k = 0; k < rc->nstatus_codes; k++)
			jsonw_int(w, rc->status_codes[k]);
		jsonw_arr_end(w);
		jsonw_kbool(w, "preserveLastResponse",
		            rc->preserve_last_response);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

static void write_container(struct jsonw *w, const struct app *a)
{
	if (!a->container_type && a->nvolumes == 0)
		return;
	jsonw_key(w, "container");
	jsonw_obj_begin(w);
	jsonw_kstr(w, "type", a->container_type ? a->container_type : "MESOS");
	jsonw_key(w, "volumes");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < a->nvolumes; i++) {
		const struct app_volume *v = &a->volumes[i];
		jsonw_obj_begin(w);
		if (v->container_path)
			jsonw_kstr(w, "containerPath", v->container_path);
		if (v->host_path)
			jsonw_kstr(w, "hostPath", v->host_path);
		jsonw_kstr(w, "mode", v->mode ? v->mode : "RW");
		if (v->persistent_size > 0) {
			jsonw_key(w, "persistent");
			jsonw_obj_begin(w);
			jsonw_kstr(w, "type",
			           v->persistent_type ? v->persistent_type
			                              : "root");
			write_num(w, "size", v->persistent_size);
			jsonw_obj_end(w);
		}
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

void app_write_fields(struct jsonw *w, const struct app *a)
{
	write_kstr_or_null(w, "id", a->id);
	write_kstr_or_null(w, "cmd", a->cmd);
	jsonw_key(w, "args");
	if (a->args) {
		jsonw_arr_begin(w);
		for (size_t i = 0; i < a->nargs; i++)
			jsonw_str(w, a->args[i]);
		jsonw_arr_end(w);
	} else {
		jsonw_null(w);
	}
	write_num(w, "cpus", a->cpus);
	write_num(w, "mem", a->mem);
	write_num(w, "disk", a->disk);
	jsonw_kint(w, "gpus", a->gpus);
	jsonw_kint(w, "instances", a->instances);
	jsonw_key(w, "constraints");
	if (a->constraints.n) {
		constraint_set_write_json(w, &a->constraints);
	} else {
		jsonw_arr_begin(w);
		jsonw_arr_end(w);
	}
	write_strv(w, "acceptedResourceRoles", a->accepted_resource_roles,
	           a->naccepted_resource_roles);
	write_kstr_or_null(w, "role", a->role);
	write_ports(w, a);
	write_kv(w, "env", a->env, a->nenv);
	write_kv(w, "labels", a->labels, a->nlabels);
	write_fetch(w, a);
	write_kstr_or_null(w, "user", a->user);
	write_health_checks(w, a);
	write_readiness_checks(w, a);
	if (a->shutdown_port_name) {
		jsonw_key(w, "gracefulShutdown");
		jsonw_obj_begin(w);
		jsonw_kstr(w, "portName", a->shutdown_port_name);
		write_num(w, "quitquitquitWaitSeconds", a->shutdown_quit_wait);
		write_num(w, "abortabortabortWaitSeconds",
		          a->shutdown_abort_wait);
		jsonw_obj_end(w);
	}
	jsonw_key(w, "upgradeStrategy");
	jsonw_obj_begin(w);
	write_num(w, "minimumHealthCapacity", a->minimum_health_capacity);
	write_num(w, "maximumOverCapacity", a->maximum_over_capacity);
	write_num(w, "progressDeadlineSeconds", a->progress_deadline_seconds);
	jsonw_obj_end(w);
	write_num(w, "backoffSeconds", a->backoff_seconds);
	write_num(w, "backoffFactor", a->backoff_factor);
	write_num(w, "maxLaunchDelaySeconds", a->max_launch_delay_seconds);
	if (a->task_kill_grace_period_seconds >= 0) {
		write_num(w, "taskKillGracePeriodSeconds",
		          a->task_kill_grace_period_seconds);
	} else {
		jsonw_key(w, "taskKillGracePeriodSeconds");
		jsonw_null(w);
	}
	jsonw_kstr(w, "killSelection",
	           a->kill_selection == APP_KILL_OLDEST_FIRST
	               ? "OLDEST_FIRST"
	               : "YOUNGEST_FIRST");
	jsonw_key(w, "unreachableStrategy");
	if (a->unreachable_disabled) {
		jsonw_str(w, "disabled");
	} else {
		jsonw_obj_begin(w);
		write_num(w, "inactiveAfterSeconds", a->inactive_after_seconds);
		write_num(w, "expungeAfterSeconds", a->expunge_after_seconds);
		jsonw_obj_end(w);
	}
	write_strv(w, "dependencies", a->dependencies, a->ndependencies);
	write_container(w, a);
	if (a->version)
		jsonw_kstr(w, "version", a->version);
}

/* ---- app: change detection ---------------------------------------------- */

/* The fields app_from_json reads; others are compared as given. */
static const char *const known_fields[] = {
    "id",
    "cmd",
    "args",
    "cpus",
    "mem",
    "disk",
    "gpus",
    "instances",
    "constraints",
    "acceptedResourceRoles",
    "role",
    "portDefinitions",
    "ports",
    "requirePorts",
    "env",
    "secrets",
    "labels",
    "fetch",
    "uris",
    "user",
    "healthChecks",
    "readinessChecks",
    "gracefulShutdown",
    "container",
    "upgradeStrategy",
    "backoffSeconds",
    "backoffFactor",
    "maxLaunchDelaySeconds",
    "taskKillGracePeriodSeconds",
    "killSelection",
    "unreachableStrategy",
    "dependencies",
    "version",
};

/* The app in its normalized written form, without instances and version. */
static json_t *normalized(const struct app *a)
{
	struct buf b = BUF_INIT;
	struct jsonw w;
	json_t *j;

	jsonw_init(&w, &b);
	jsonw_obj_begin(&w);
	app_write_fields(&w, a);
	jsonw_obj_end(&w);
	j = json_loadb(b.data, b.len, 0, NULL);
	BUG_ON(!j);
	json_object_del(j, "instances");
	json_object_del(j, "version");
	buf_release(&b);
	return j;
}

/* The submitted fields app_from_json does not interpret. */
static json_t *unknown_fields(const struct app *a)
{
	json_t *j =
	    a->definition ? json_deep_copy(a->definition) : json_object();

	for (size_t i = 0; i < ARRAY_SIZE(known_fields); i++)
		json_object_del(j, known_fields[i]);
	return j;
}

bool app_is_scale_only_change(const struct app *old, const struct app *new)
{
	json_t *a = normalized(old), *b = normalized(new);
	bool same = json_equal(a, b);

	json_decref(a);
	json_decref(b);
	if (same) {
		a = unknown_fields(old);
		b = unknown_fields(new);
		same = json_equal(a, b);
		json_decref(a);
		json_decref(b);
	}
	return same;
}

/* ---- health checks for Mesos -------------------------------------------- */

json_t *app_health_check_to_mesos(const struct app_health_check *hc,
                                  const int *host_ports, size_t nports,
                                  struct err *e)
{
	json_t *j = json_object(), *sub = json_object();
	int port = hc->port;

	if (hc->protocol != APP_CHECK_COMMAND && port == 0) {
		if (hc->port_index < 0 || (size_t)hc->port_index >= nports) {
			err_set(e,
			        "healthChecks: portIndex %d is out of range "
			        "(the task has %zu ports)",
			        hc->port_index, nports);
			json_decref(sub);
			json_decref(j);
			return NULL;
		}
		port = host_ports[hc->port_index];
	}
	switch (hc->protocol) {
	case APP_CHECK_HTTP:
	case APP_CHECK_HTTPS:
		json_object_set_new(j, "type", json_string("HTTP"));
		json_object_set_new(sub, "port", json_integer(port));
		json_object_set_new(sub, "path",
		                    json_string(hc->path ? hc->path : "/"));
		json_object_set_new(sub, "scheme",
		                    json_string(hc->protocol == APP_CHECK_HTTPS
		                                    ? "https"
		                                    : "http"));
		json_object_set_new(j, "http", sub);
		break;
	case APP_CHECK_TCP:
		json_object_set_new(j, "type", json_string("TCP"));
		json_object_set_new(sub, "port", json_integer(port));
		json_object_set_new(j, "tcp", sub);
		break;
	case APP_CHECK_COMMAND:
		json_object_set_new(j, "type", json_string("COMMAND"));
		json_object_set_new(sub, "shell", json_true());
		json_object_set_new(
		    sub, "value", json_string(hc->command ? hc->command : ""));
		json_object_set_new(j, "command", sub);
		break;
	}
	json_object_set_new(j, "delay_seconds", json_real(hc->delay_seconds));
	json_object_set_new(j, "interval_seconds",
	                    json_real(hc->interval_seconds));
	json_object_set_new(j, "timeout_seconds",
	                    json_real(hc->timeout_seconds));
	json_object_set_new(j, "consecutive_failures",
	                    json_integer(hc->max_consecutive_failures));
	json_object_set_new(j, "grace_period_seconds",
	                    json_real(hc->grace_period_seconds));
	return j;
}

/* ---- groups ------------------------------------------------------------- */

void group_init(struct group *g)
{
	memset(g, 0, sizeof(*g));
}

void group_release(struct group *g)
{
	free(g->id);
	strv_free(g->dependencies, g->ndependencies);
	for (size_t i = 0; i < g->napps; i++)
		app_release(&g->apps[i]);
	free(g->apps);
	for (size_t i = 0; i < g->ngroups; i++)
		group_release(&g->groups[i]);
	free(g->groups);
	group_init(g);
}

/* An id seen in the tree, with the path that gave it first. */
struct seen_id {
	struct hmap_node node;
	char *id;
	char *path;
};

struct gctx {
	struct app_problems *probs;
	struct hmap seen;
	struct seen_id **all;
	size_t nall, cap;
};

/* Records id (given at prefix + "/id"); a second sighting is a problem. */
static void note_id(struct gctx *gc, const char *id, const char *prefix)
{
	struct pctx c = {gc->probs, prefix};
	struct seen_id *s;

	s = hmap_entry(hmap_find(&gc->seen, id), struct seen_id, node);
	if (s) {
		prob(&c, "", "id", "duplicate id '%s' (also at %s)", id,
		     s->path);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->id = xstrdup(id);
	s->path = xasprintf("%s/id", prefix);
	s->node.key = s->id;
	hmap_insert(&gc->seen, &s->node);
	ALLOC_GROW(gc->all, gc->nall + 1, gc->cap);
	gc->all[gc->nall++] = s;
}

/* The group's own id: top-level groups without one are parent itself. */
static void group_parse_id(struct pctx *c, struct group *g, const json_t *obj,
                           const char *parent, bool top)
{
	json_t *v = field(obj, "id");
	struct err e = {{0}};
	char *raw;

	if (!v && top) {
		g->id = app_id_resolve("/", parent, &e);
		if (!g->id)
			prob(c, "", "id", "%s", e.msg);
		return;
	}
	if (!v) {
		prob(c, "", "id", "is required");
		return;
	}
	raw = str_value(c, v, "", "id");
	if (!raw)
		return;
	g->id = app_id_resolve(parent, raw, &e);
	if (!g->id) {
		prob(c, "", "id", "%s", e.msg);
	} else if (!top && !id_is_strictly_under(g->id, parent)) {
		prob(c, "", "id", "must lie under the group '%s', got '%s'",
		     parent, g->id);
	}
	free(raw);
}

static void group_parse_apps(struct gctx *gc, struct pctx *c, struct group *g,
                             const json_t *obj, const char *base)
{
	json_t *arr = get_array(c, obj, "", "apps"), *v;
	size_t i;

	if (!arr || json_array_size(arr) == 0)
		return;
	g->apps = xcalloc(json_array_size(arr), sizeof(*g->apps));
	json_array_foreach(arr, i, v)
	{
		char *p = elem_path(c->prefix, "apps", i);
		struct app *a = &g->apps[g->napps++];
		struct pctx ac = {gc->probs, p};

		app_init(a);
		(void)!app_from_json(a, v, base, p, gc->probs);
		if (a->id && !id_is_strictly_under(a->id, base))
			prob(&ac, "", "id",
			     "must lie under the group '%s', got '%s'", base,
			     a->id);
		if (a->id)
			note_id(gc, a->id, p);
		free(p);
	}
}

static void group_parse(struct gctx *gc, struct group *g, const json_t *obj,
                        const char *parent, const char *prefix, bool top,
                        int depth)
{
	struct pctx c = {gc->probs, prefix};
	json_t *arr, *v;
	const char *base;
	size_t i;

	if (!json_is_object(obj)) {
		prob(&c, "", NULL, "expected an object, got %s",
		     obj ? jtype(obj) : "nothing");
		return;
	}
	if (depth > GROUP_MAX_DEPTH) {
		prob(&c, "", NULL, "groups are nested more than %d deep",
		     GROUP_MAX_DEPTH);
		return;
	}
	group_parse_id(&c, g, obj, parent, top);
	base = g->id ? g->id : parent;
	if (g->id)
		note_id(gc, g->id, prefix);

	arr = get_array(&c, obj, "", "dependencies");
	if (arr && json_array_size(arr))
		g->dependencies = xcalloc(json_array_size(arr), sizeof(char *));
	json_array_foreach(arr, i, v)
	{
		char *p = elem_path("", "dependencies", i);
		char *raw = str_value(&c, v, p, NULL), *abs;
		struct err e = {{0}};

		abs = raw ? app_id_resolve(base, raw, &e) : NULL;
		if (abs)
			g->dependencies[g->ndependencies++] = abs;
		else if (raw)
			prob(&c, p, NULL, "%s", e.msg);
		free(raw);
		free(p);
	}

	group_parse_apps(gc, &c, g, obj, base);

	arr = get_array(&c, obj, "", "groups");
	if (!arr || json_array_size(arr) == 0)
		return;
	g->groups = xcalloc(json_array_size(arr), sizeof(*g->groups));
	json_array_foreach(arr, i, v)
	{
		char *p = elem_path(prefix, "groups", i);
		struct group *sub = &g->groups[g->ngroups++];
		group_init(sub);
		group_parse(gc, sub, v, base, p, false, depth + 1);
		free(p);
	}
}

int group_from_json(struct group *g, const json_t *obj, const char *parent,
                    struct app_problems *probs)
{
	struct gctx gc = {.probs = probs};
	size_t before = probs->n;

	hmap_init(&gc.seen);
	group_parse(&gc, g, obj, parent ? parent : "/", "", true, 0);
	for (size_t i = 0; i < gc.nall; i++) {
		free(gc.all[i]->id);
		free(gc.all[i]->path);
		free(gc.all[i]);
	}
	free(gc.all);
	hmap_release(&gc.seen);
	return probs->n > before ? -EINVAL : 0;
}

/*
 * Appends dep to a's dependencies unless present or enclosing a. The
 * definition gets it too: it is what the services framework stores and
 * parses again after a restart, so an inherited dependency must be there.
 */
static void app_add_dependency(struct app *a, const char *dep)
{
	json_t *deps;

	if (a->id && app_id_is_under(a->id, dep))
		return;
	for (size_t i = 0; i < a->ndependencies; i++)
		if (streq(a->dependencies[i], dep))
			return;
	a->dependencies =
	    xrealloc(a->dependencies, (a->ndependencies + 1) * sizeof(char *));
	a->dependencies[a->ndependencies++] = xstrdup(dep);
	if (!json_is_object(a->definition))
		return;
	deps = json_object_get(a->definition, "dependencies");
	if (!json_is_array(deps)) {
		deps = json_array();
		json_object_set_new(a->definition, "dependencies", deps);
	}
	json_array_append_new(deps, json_string(dep));
}

struct take_ctx {
	struct app *apps;
	size_t n, cap;
	const char **inherited;
	size_t ninherited, icap;
};

static void take_rec(struct take_ctx *t, struct group *g)
{
	size_t mark = t->ninherited;

	for (size_t i = 0; i < g->ndependencies; i++) {
		ALLOC_GROW(t->inherited, t->ninherited + 1, t->icap);
		t->inherited[t->ninherited++] = g->dependencies[i];
	}
	for (size_t i = 0; i < g->napps; i++) {
		ALLOC_GROW(t->apps, t->n + 1, t->cap);
		t->apps[t->n] = g->apps[i];
		for (size_t k = 0; k < t->ninherited; k++)
			app_add_dependency(&t->apps[t->n], t->inherited[k]);
		t->n++;
	}
	free(g->apps);
	g->apps = NULL;
	g->napps = 0;
	for (size_t i = 0; i < g->ngroups; i++)
		take_rec(t, &g->groups[i]);
	t->ninherited = mark;
}

void group_take_apps(struct group *g, struct app **apps, size_t *napps)
{
	struct take_ctx t = {0};

	take_rec(&t, g);
	free(t.inherited);
	*apps = t.apps;
	*napps = t.n;
}
