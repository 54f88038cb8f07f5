/*
 * mesos.c: the Mesos v1 messages the kernel interprets, with validating
 * JSON parsers and streaming writers.
 *
 * Parsers follow Mesos's JSON mapping: unknown fields are ignored, an
 * unknown name in an optional enum field is dropped, a missing required
 * field or a value of the wrong JSON type is an error. Every parser fills a
 * struct err whose text is a field path relative to the object it was
 * given ("task_id: required field missing", "command.uris[1].value: must be
 * a string"); the caller adds its own prefix ("task_infos[0]: ").
 *
 * Ownership: every struct owns its strings; *_init zeroes, *_release frees
 * and re-initializes (so release twice is harmless), *_copy overwrites a
 * destination that is initialized-and-empty or released. A parser that
 * fails leaves its struct in a state *_release handles.
 */
#include "lib/compat.h"
#include "model/mesos.h"

#include <math.h>

#include "lib/err.h"
#include "lib/ids.h"
#include "lib/jsonw.h"

/* Longest id or name quoted back in an error message. */
#define QUOTE_MAX 64

/* ---- enum names ---------------------------------------------------- */

static const char *const task_state_names[TASK_STATE_COUNT] = {
    [TASK_STAGING] = "TASK_STAGING",
    [TASK_STARTING] = "TASK_STARTING",
    [TASK_RUNNING] = "TASK_RUNNING",
    [TASK_KILLING] = "TASK_KILLING",
    [TASK_FINISHED] = "TASK_FINISHED",
    [TASK_FAILED] = "TASK_FAILED",
    [TASK_KILLED] = "TASK_KILLED",
    [TASK_ERROR] = "TASK_ERROR",
    [TASK_LOST] = "TASK_LOST",
    [TASK_DROPPED] = "TASK_DROPPED",
    [TASK_UNREACHABLE] = "TASK_UNREACHABLE",
    [TASK_GONE] = "TASK_GONE",
    [TASK_GONE_BY_OPERATOR] = "TASK_GONE_BY_OPERATOR",
    [TASK_UNKNOWN] = "TASK_UNKNOWN",
};

static const char *const task_source_names[SOURCE_COUNT] = {
    [SOURCE_UNSET] = NULL,
    [SOURCE_MASTER] = "SOURCE_MASTER",
    [SOURCE_AGENT] = "SOURCE_AGENT",
    [SOURCE_EXECUTOR] = "SOURCE_EXECUTOR",
};

static const char *const task_reason_names[REASON_COUNT] = {
    [REASON_UNSET] = NULL,
#define MESOS_REASON_NAME(r) [r] = #r,
    MESOS_REASONS(MESOS_REASON_NAME)
#undef MESOS_REASON_NAME
};

/* Capability names by bit number. */
static const char *const capability_names[] = {
    "REVOCABLE_RESOURCES",    "TASK_KILLING_STATE", "GPU_RESOURCES",
    "SHARED_RESOURCES",       "PARTITION_AWARE",    "MULTI_ROLE",
    "RESERVATION_REFINEMENT", "REGION_AWARE",
};

/* Index of name in names[0..n) (NULL entries skipped), or -1. */
static int name_lookup(const char *const *names, size_t n, const char *name)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

const char *task_state_name(enum task_state s)
{
	return (unsigned)s < TASK_STATE_COUNT ? task_state_names[s]
	                                      : "TASK_UNKNOWN";
}

int task_state_parse(const char *name, enum task_state *out)
{
	int i = name_lookup(task_state_names, TASK_STATE_COUNT, name);
	if (i < 0)
		return -EINVAL;
	*out = (enum task_state)i;
	return 0;
}

bool task_state_is_terminal(enum task_state s)
{
	switch (s) {
	case TASK_FINISHED:
	case TASK_FAILED:
	case TASK_KILLED:
	case TASK_ERROR:
	case TASK_LOST:
	case TASK_DROPPED:
	case TASK_GONE:
	case TASK_GONE_BY_OPERATOR:
		return true;
	default:
		return false;
	}
}

const char *task_source_name(enum task_source s)
{
	return (unsigned)s < SOURCE_COUNT ? task_source_names[s] : NULL;
}

int task_source_parse(const char *name, enum task_source *out)
{
	int i = name_lookup(task_source_names, SOURCE_COUNT, name);
	if (i < 0)
		return -EINVAL;
	*out = (enum task_source)i;
	return 0;
}

const char *task_reason_name(enum task_reason r)
{
	return (unsigned)r < REASON_COUNT ? task_reason_names[r] : NULL;
}

int task_reason_parse(const char *name, enum task_reason *out)
{
	int i = name_lookup(task_reason_names, REASON_COUNT, name);
	if (i < 0)
		return -EINVAL;
	*out = (enum task_reason)i;
	return 0;
}

/* ---- JSON field helpers -------------------------------------------- */

static char *xstrdup_opt(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* Reads obj[key] as a string into *out (borrowed; NULL when absent). */
static int get_str(const json_t *obj, const char *key, bool required,
                   const char **out, struct err *e)
{
	const json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return err_set(e, "%s: required field missing", key);
		return 0;
	}
	if (!json_is_string(v))
		return err_set(e, "%s: must be a string", key);
	*out = json_string_value(v);
	return 0;
}

/* Reads obj[key] as a heap copy (NULL when absent). */
static int dup_str(const json_t *obj, const char *key, bool required,
                   char **out, struct err *e)
{
	const char *s;
	int rc = get_str(obj, key, required, &s, e);
	if (rc)
		return rc;
	*out = xstrdup_opt(s);
	return 0;
}

/* Reads an *ID message obj[key] = {"value": "..."} (borrowed). */
static int get_id(const json_t *obj, const char *key, bool required,
                  const char **out, struct err *e)
{
	const json_t *v = json_object_get(obj, key);
	const json_t *val;
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return err_set(e, "%s: required field missing", key);
		return 0;
	}
	if (!json_is_object(v))
		return err_set(e,
		               "%s: must be an object like {\"value\": "
		               "\"...\"}",
		               key);
	val = json_object_get(v, "value");
	if (!val)
		return err_set(e, "%s.value: required field missing", key);
	if (!json_is_string(val))
		return err_set(e, "%s.value: must be a string", key);
	*out = json_string_value(val);
	return 0;
}

static int get_bool(const json_t *obj, const char *key, bool def, bool *out,
                    struct err *e)
{
	const json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return err_set(e, "%s: must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

/*
 * Reads a double: a JSON number or a string holding one ("Infinity",
 * "NaN" and "1.5" as Mesos's mapping allows). *present says whether it
 * was there.
 */
static int get_double(const json_t *obj, const char *key, double *out,
                      bool *present, struct err *e)
{
	const json_t *v = json_object_get(obj, key);
	*present = false;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_number(v)) {
		*out = json_number_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		*out = strtod(s, &end);
		if (!*s || *end)
			return err_set(e, "%s: must be a number", key);
	} else {
		return err_set(e, "%s: must be a number", key);
	}
	*present = true;
	return 0;
}

/* Reads an int64 (a JSON integer or an integral number). */
static int get_int(const json_t *obj, const char *key, int64_t *out,
                   bool *present, struct err *e)
{
	const json_t *v = json_object_get(obj, key);
	*present = false;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
	} else if (json_is_real(v) &&
	           json_real_value(v) == floor(json_real_value(v)) &&
	           fabs(json_real_value(v)) < 9.2e18) {
		*out = (int64_t)json_real_value(v);
	} else {
		return err_set(e, "%s: must be an integer", key);
	}
	*present = true;
	return 0;
}

/* Reads an array of strings into a heap array of heap strings. */
static int get_str_array(const json_t *obj, const char *key, char ***out,
                         size_t *n, struct err *e)
{
	const json_t *arr = json_object_get(obj, key), *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return err_set(e, "%s: must be an array", key);
	if (json_array_size(arr) == 0)
		return 0;
	*out = xcalloc(json_array_size(arr), sizeof(**out));
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v))
			return err_set(e, "%s[%zu]: must be a string", key, i);
		(*out)[i] = xstrdup(json_string_value(v));
		*n = i + 1;
	}
	return 0;
}

static void str_array_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static char **str_array_copy(char *const *v, size_t n)
{
	char **r;
	if (!n)
		return NULL;
	r = xmalloc(n * sizeof(*r));
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

static void write_str_array(struct jsonw *w, const char *key, char *const *v,
                            size_t n)
{
	jsonw_key(w, key);
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_str(w, v[i]);
	jsonw_arr_end(w);
}

/* ---- ids ----------------------------------------------------------- */

const char *mesos_json_id(const json_t *obj, const char *key)
{
	return json_string_value(
	    json_object_get(json_object_get(obj, key), "value"));
}

int mesos_id_validate(const char *id, const char *what, struct err *e)
{
	size_t n;

	if (!id)
		return err_set(e, "%s: required field missing", what);
	n = strlen(id);
	if (n == 0)
		return err_set(e, "%s: must not be empty", what);
	if (n > 255)
		return err_set(e, "%s: must be at most 255 bytes, got %zu",
		               what, n);
	if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return err_set(e, "%s: must not be '.' or '..'", what);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c == '/')
			return err_set(e,
			               "%s: must not contain '/', got "
			               "'%.*s'",
			               what, QUOTE_MAX, id);
		if (c <= 0x20 || c == 0x7f)
			return err_set(e,
			               "%s: must not contain whitespace or "
			               "control characters",
			               what);
	}
	return 0;
}

/* Reads and validates an id field into a heap string. */
static int dup_valid_id(const json_t *obj, const char *key, bool required,
                        char **out, struct err *e)
{
	const char *id;
	int rc = get_id(obj, key, required, &id, e);
	if (rc)
		return rc;
	if (id && (rc = mesos_id_validate(id, key, e)))
		return rc;
	*out = xstrdup_opt(id);
	return 0;
}

/* ---- TaskStatus ---------------------------------------------------- */

void task_status_init(struct task_status *st)
{
	memset(st, 0, sizeof(*st));
	st->state = TASK_STAGING;
	st->healthy = -1;
}

void task_status_release(struct task_status *st)
{
	free(st->task_id);
	free(st->agent_id);
	free(st->executor_id);
	free(st->message);
	free(st->data);
	task_status_init(st);
}

void task_status_copy(struct task_status *dst, const struct task_status *src)
{
	*dst = *src;
	dst->task_id = xstrdup_opt(src->task_id);
	dst->agent_id = xstrdup_opt(src->agent_id);
	dst->executor_id = xstrdup_opt(src->executor_id);
	dst->message = xstrdup_opt(src->message);
	dst->data = xstrdup_opt(src->data);
}

int task_status_from_json(struct task_status *st, const json_t *obj,
                          struct err *e)
{
	const json_t *v;
	const char *s;
	bool present, healthy = false;
	int rc;

	if (!json_is_object(obj))
		return err_set(e, "must be an object");
	if ((rc = dup_valid_id(obj, "task_id", true, &st->task_id, e)) ||
	    (rc = dup_valid_id(obj, "agent_id", false, &st->agent_id, e)) ||
	    (rc = dup_valid_id(obj, "executor_id", false, &st->executor_id, e)))
		return rc;
	if ((rc = get_str(obj, "state", true, &s, e)))
		return rc;
	if (task_state_parse(s, &st->state))
		return err_set(e, "state: unknown value '%.*s'", QUOTE_MAX, s);
	/* optional enums: an unknown name is dropped, as Mesos does */
	if ((rc = get_str(obj, "source", false, &s, e)))
		return rc;
	if (s && task_source_parse(s, &st->source))
		st->source = SOURCE_UNSET;
	if ((rc = get_str(obj, "reason", false, &s, e)))
		return rc;
	if (s && task_reason_parse(s, &st->reason))
		st->reason = REASON_UNSET;
	if ((rc = dup_str(obj, "message", false, &st->message, e)) ||
	    (rc = dup_str(obj, "data", false, &st->data, e)))
		return rc;
	if ((rc = get_double(obj, "timestamp", &st->timestamp, &present, e)))
		return rc;
	if (present && (!isfinite(st->timestamp) || st->timestamp < 0))
		return err_set(e, "timestamp: must be a finite number >= 0");
	if ((rc = get_str(obj, "uuid", false, &s, e)))
		return rc;
	if (s) {
		uint8_t u[IDS_UUID_LEN + 1];
		if (ids_base64_decode(s, strlen(s), u, sizeof(u)) !=
		    IDS_UUID_LEN)
			return err_set(e, "uuid: must be the base64 of 16 "
			                  "bytes");
		memcpy(st->uuid, u, IDS_UUID_LEN);
		st->has_uuid = true;
	}
	v = json_object_get(obj, "healthy");
	if (v && !json_is_null(v)) {
		if ((rc = get_bool(obj, "healthy", false, &healthy, e)))
			return rc;
		st->healthy = healthy;
	}
	return 0;
}

void task_status_write_json(struct jsonw *w, const struct task_status *st)
{
	jsonw_obj_begin(w);
	jsonw_kid(w, "task_id", st->task_id ? st->task_id : "");
	jsonw_kstr(w, "state", task_state_name(st->state));
	if (st->message)
		jsonw_kstr(w, "message", st->message);
	if (task_source_name(st->source))
		jsonw_kstr(w, "source", task_source_name(st->source));
	if (task_reason_name(st->reason))
		jsonw_kstr(w, "reason", task_reason_name(st->reason));
	if (st->data)
		jsonw_kstr(w, "data", st->data);
	if (st->agent_id)
		jsonw_kid(w, "agent_id", st->agent_id);
	if (st->executor_id)
		jsonw_kid(w, "executor_id", st->executor_id);
	if (st->timestamp != 0)
		jsonw_kdouble(w, "timestamp", st->timestamp);
	if (st->has_uuid) {
		char b64[IDS_BASE64_LEN(IDS_UUID_LEN)];
		ids_base64_encode(st->uuid, IDS_UUID_LEN, b64);
		jsonw_kstr(w, "uuid", b64);
	}
	if (st->healthy >= 0)
		jsonw_kbool(w, "healthy", st->healthy);
	jsonw_obj_end(w);
}

/* ---- FrameworkInfo ------------------------------------------------- */

void framework_info_init(struct framework_info *fi)
{
	memset(fi, 0, sizeof(*fi));
}

void framework_info_release(struct framework_info *fi)
{
	free(fi->id);
	free(fi->user);
	free(fi->name);
	str_array_free(fi->roles, fi->nroles);
	free(fi->hostname);
	free(fi->principal);
	free(fi->webui_url);
	free(fi->labels);
	framework_info_init(fi);
}

void framework_info_copy(struct framework_info *dst,
                         const struct framework_info *src)
{
	*dst = *src;
	dst->id = xstrdup_opt(src->id);
	dst->user = xstrdup_opt(src->user);
	dst->name = xstrdup_opt(src->name);
	dst->roles = str_array_copy(src->roles, src->nroles);
	dst->hostname = xstrdup_opt(src->hostname);
	dst->principal = xstrdup_opt(src->principal);
	dst->webui_url = xstrdup_opt(src->webui_url);
	dst->labels = xstrdup_opt(src->labels);
}

static int capabilities_from_json(const json_t *arr, unsigned *out,
                                  struct err *e)
{
	const json_t *c;
	size_t i;

	*out = 0;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return err_set(e, "capabilities: must be an array");
	json_array_foreach(arr, i, c)
	{
		const char *type;
		int bit;
		if (!json_is_object(c))
			return err_set(e,
			               "capabilities[%zu]: must be an "
			               "object",
			               i);
		if (get_str(c, "type", false, &type, e))
			return res_err_path(e, "capabilities[%zu]", i);
		bit = name_lookup(capability_names,
		                  ARRAY_SIZE(capability_names), type);
		if (bit >= 0) /* unknown capabilities are ignored */
			*out |= 1u << bit;
	}
	return 0;
}

/* Fills fi->roles from "roles" (MULTI_ROLE) or "role" (else). */
static int framework_roles_from_json(struct framework_info *fi,
                                     const json_t *obj, struct err *e)
{
	const json_t *jroles = json_object_get(obj, "roles");
	bool has_roles = json_is_array(jroles) && json_array_size(jroles);
	const char *role;
	int rc;

	if ((rc = get_str(obj, "role", false, &role, e)))
		return rc;
	if (fi->capabilities & FW_CAP_MULTI_ROLE) {
		if (role)
			return err_set(e, "role: must not be set with the "
			                  "MULTI_ROLE capability (use "
			                  "'roles')");
		if ((rc = get_str_array(obj, "roles", &fi->roles, &fi->nroles,
		                        e)))
			return rc;
	} else {
		if (jroles && !json_is_null(jroles) && !json_is_array(jroles))
			return err_set(e, "roles: must be an array");
		if (has_roles)
			return err_set(e, "roles: requires the MULTI_ROLE "
			                  "capability (or use 'role')");
		fi->roles = xmalloc(sizeof(*fi->roles));
		fi->roles[0] = xstrdup(role ? role : "*");
		fi->nroles = 1;
	}
	for (size_t i = 0; i < fi->nroles; i++) {
		if ((rc = role_validate(fi->roles[i], true, e))) {
			if (fi->capabilities & FW_CAP_MULTI_ROLE)
				return res_err_path(e, "roles[%zu]", i);
			return res_err_path(e, "role");
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(fi->roles[k], fi->roles[i]) == 0)
				return err_set(e,
				               "roles[%zu]: duplicate role "
				               "'%.*s'",
				               i, QUOTE_MAX, fi->roles[i]);
	}
	return 0;
}

int framework_info_from_json(struct framework_info *fi, const json_t *obj,
                             struct err *e)
{
	const json_t *labels;
	bool present;
	int rc;

	if (!json_is_object(obj))
		return err_set(e, "must be an object");
	if ((rc = dup_str(obj, "user", true, &fi->user, e)) ||
	    (rc = dup_str(obj, "name", true, &fi->name, e)) ||
	    (rc = dup_valid_id(obj, "id", false, &fi->id, e)))
		return rc;
	if ((rc = get_double(obj, "failover_timeout", &fi->failover_timeout,
	                     &present, e)))
		return rc;
	if (present &&
	    (!isfinite(fi->failover_timeout) || fi->failover_timeout < 0))
		return err_set(e,
		               "failover_timeout: must be a finite number "
		               ">= 0, got %g",
		               fi->failover_timeout);
	if ((rc = get_bool(obj, "checkpoint", false, &fi->checkpoint, e)) ||
	    (rc = dup_str(obj, "hostname", false, &fi->hostname, e)) ||
	    (rc = dup_str(obj, "principal", false, &fi->principal, e)) ||
	    (rc = dup_str(obj, "webui_url", false, &fi->webui_url, e)))
		return rc;
	if ((rc = capabilities_from_json(json_object_get(obj, "capabilities"),
	                                 &fi->capabilities, e)))
		return rc;
	if ((rc = framework_roles_from_json(fi, obj, e)))
		return rc;
	labels = json_object_get(obj, "labels");
	if (labels && !json_is_null(labels)) {
		if (!json_is_object(labels))
			return err_set(e, "labels: must be an object");
		fi->labels = json_dumps(labels, JSON_COMPACT);
	}
	return 0;
}

void framework_info_write_json(struct jsonw *w, const struct framework_info *fi)
{
	jsonw_obj_begin(w);
	if (fi->id)
		jsonw_kid(w, "id", fi->id);
	jsonw_kstr(w, "user", fi->user);
	jsonw_kstr(w, "name", fi->name);
	jsonw_kdouble(w, "failover_timeout", fi->failover_timeout);
	jsonw_kbool(w, "checkpoint", fi->checkpoint);
	if (fi->capabilities & FW_CAP_MULTI_ROLE)
		write_str_array(w, "roles", fi->roles, fi->nroles);
	else
		jsonw_kstr(w, "role", fi->nroles ? fi->roles[0] : "*");
	if (fi->hostname)
		jsonw_kstr(w, "hostname", fi->hostname);
	if (fi->principal)
		jsonw_kstr(w, "principal", fi->principal);
	if (fi->webui_url)
		jsonw_kstr(w, "webui_url", fi->webui_url);
	jsonw_key(w, "capabilities");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < ARRAY_SIZE(capability_names); i++) {
		if (!(fi->capabilities & (1u << i)))
			continue;
		jsonw_obj_begin(w);
		jsonw_kstr(w, "type", capability_names[i]);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	if (fi->labels) {
		jsonw_key(w, "labels");
		jsonw_raw(w, fi->labels, strlen(fi->labels));
	}
	jsonw_obj_end(w);
}

bool framework_info_has_role(const struct framework_info *fi, const char *role)
{
	for (size_t i = 0; i < fi->nroles; i++)
		if (streq(fi->roles[i], role))
			return true;
	return false;
}

/* ---- CommandInfo --------------------------------------------------- */

void command_info_init(struct command_info *c)
{
	memset(c, 0, sizeof(*c));
	c->shell = true;
}

void command_info_release(struct command_info *c)
{
	free(c->value);
	str_array_free(c->arguments, c->narguments);
	for (size_t i = 0; i < c->nenv; i++) {
		free(c->env[i].name);
		free(c->env[i].value);
	}
	free(c->env);
	free(c->user);
	for (size_t i = 0; i < c->nuris; i++) {
		free(c->uris[i].value);
		free(c->uris[i].output_file);
	}
	free(c->uris);
	command_info_init(c);
}

static int env_var_from_json(struct env_var *v, const json_t *obj,
                             struct err *e)
{
	const char *type, *name;
	int rc;

	if (!json_is_object(obj))
		return err_set(e, "must be an object");
	if ((rc = get_str(obj, "type", false, &type, e)))
		return rc;
	if (type && strcmp(type, "SECRET") == 0)
		return err_set(e, "type: SECRET variables are not supported");
	if ((rc = get_str(obj, "name", true, &name, e)))
		return rc;
	if (!*name || strchr(name, '='))
		return err_set(e, "name: must be non-empty and must not "
		                  "contain '='");
	v->name = xstrdup(name);
	return dup_str(obj, "value", true, &v->value, e);
}

static int environment_from_json(struct command_info *c, const json_t *env,
                                 struct err *e)
{
	const json_t *vars, *v;
	size_t i;
	int rc;

	if (!env || json_is_null(env))
		return 0;
	if (!json_is_object(env))
		return err_set(e, "environment: must be an object");
	vars = json_object_get(env, "variables");
	if (!vars || json_is_null(vars))
		return 0;
	if (!json_is_array(vars))
		return err_set(e, "environment.variables: must be an array");
	if (json_array_size(vars) == 0)
		return 0;
	c->env = xcalloc(json_array_size(vars), sizeof(*c->env));
	json_array_foreach(vars, i, v)
	{
		c->nenv = i + 1;
		if ((rc = env_var_from_json(&c->env[i], v, e)))
			return res_err_path(e, "environment.variables[%zu]", i);
	}
	return 0;
}

static int uri_from_json(struct command_uri *u, const json_t *obj,
                         struct err *e)
{
	int rc;

	if (!json_is_object(obj))
		return err_set(e, "must be an object");
	if ((rc = dup_str(obj, "value", true, &u->value, e)) ||
	    (rc = get_bool(obj, "executable", false, &u->executable, e)) ||
	    (rc = get_bool(obj, "extract", true, &u->extract, e)) ||
	    (rc = get_bool(obj, "cache", false, &u->cache, e)) ||
	    (rc = dup_str(obj, "output_file", false, &u->output_file, e)))
		return rc;
	if (!*u->value)
		return err_set(e, "value: must not be empty");
	return 0;
}

static int uris_from_json(struct command_info *c, const json_t *arr,
                          struct err *e)
{
	const json_t *u;
	size_t i;
	int rc;

	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return err_set(e, "uris: must be an array");
	if (json_array_size(arr) == 0)
		return 0;
	c->uris = xcalloc(json_array_size(arr), sizeof(*c->uris));
	json_array_foreach(arr, i, u)
	{
		c->nuris = i + 1;
		if ((rc = uri_from_json(&c->uris[i], u, e)))
			return res_err_path(e, "uris[%zu]", i);
	}
	return 0;
}

int command_info_from_json(struct command_info *c, const json_t *obj,
                           struct err *e)
{
	int rc;

	if (!json_is_object(obj))
		return err_set(e, "must be an object");
	if ((rc = get_bool(obj, "shell", true, &c->shell, e)) ||
	    (rc = dup_str(obj, "value", false, &c->value, e)) ||
	    (rc = get_str_array(obj, "arguments", &c->arguments, &c->narguments,
	                        e)) ||
	    (rc = dup_str(obj, "user", false, &c->user, e)) ||
	    (rc = environment_from_json(c, json_object_get(obj, "environment"),
	                                e)) ||
	    (rc = uris_from_json(c, json_object_get(obj, "uris"), e)))
		return rc;
	if (!c->value)
		return err_set(e, "value: required field missing (%s)",
		               c->shell ? "the shell command"
		                        : "the program to run");
	if (!c->shell && !*c->value)
		return err_set(e, "value: must name the program to run");
	return 0;
}

void command_info_write_json(struct jsonw *w, const struct command_info *c)
{
	jsonw_obj_begin(w);
	jsonw_kbool(w, "shell", c->shell);
	if (c->value)
		jsonw_kstr(w, "value", c->value);
	if (c->narguments)
		write_str_array(w, "arguments", c->arguments, c->narguments);
	if (c->nenv) {
		jsonw_key(w, "environment");
		jsonw_obj_begin(w);
		jsonw_key(w, "variables");
		jsonw_arr_begin(w);
		for (size_t i = 0; i < c->nenv; i++) {
			jsonw_obj_begin(w);
			jsonw_kstr(w, "name", c->env[i].name);
			jsonw_kstr(w, "type", "VALUE");
			jsonw_kstr(w, "value", c->env[i].value);
			jsonw_obj_end(w);
		}
		jsonw_arr_end(w);
		jsonw_obj_end(w);
	}
	if (c->user)
		jsonw_kstr(w, "user", c->user);
	if (c->nuris) {
		jsonw_key(w, "uris");
		jsonw_arr_begin(w);
		for (size_t i = 0; i < c->nuris; i++) {
			const struct command_uri *u = &c->uris[i];
			jsonw_obj_begin(w);
			jsonw_kstr(w, "value", u->value);
			jsonw_kbool(w, "executable", u->executable);
			jsonw_kbool(w, "extract", u->extract);
			jsonw_kbool(w, "cache", u->cache);
			if (u->output_file)
				jsonw_kstr(w, "output_file", u->output_file);
			jsonw_obj_end(w);
		}
		jsonw_arr_end(w);
	}
	jsonw_obj_end(w);
}

/* ---- TaskInfo ------------------------------------------------------ */

void task_info_init(struct task_info *t)
{
	memset(t, 0, sizeof(*t));
	resources_init(&t->resources);
	command_info_init(&t->command);
	t->kill_grace_period = -1;
}

void task_info_release(struct task_info *t)
{
	free(t->name);
	free(t->task_id);
	free(t->agent_id);
	resources_release(&t->resources);
	command_info_release(&t->command);
	free(t->executor_id);
	free(t->json); /* from json_dumps, which uses malloc */
	task_info_init(t);
}

static int kill_policy_from_json(struct task_info *t, const json_t *kp,
                                 struct err *e)
{
	const json_t *gp;
	int64_t ns;
	bool present;

	if (!kp || json_is_null(kp))
		return 0;
	if (!json_is_object(kp))
		return err_set(e, "kill_policy: must be an object");
	gp = json_object_get(kp, "grace_period");
	if (!gp || json_is_null(gp))
		return 0;
	if (!json_is_object(gp))
		return err_set(e, "kill_policy.grace_period: must be an "
		                  "object");
	if (get_int(gp, "nanoseconds", &ns, &present, e))
		return res_err_path(e, "kill_policy.grace_period");
	if (!present)
		return err_set(e, "kill_policy.grace_period.nanoseconds: "
		                  "required field missing");
	if (ns < 0)
		return err_set(e,
		               "kill_policy.grace_period.nanoseconds: must "
		               "be >= 0, got %lld",
		               (long long)ns);
	t->kill_grace_period = (double)ns / 1e9;
	return 0;
}

int task_info_from_json(struct task_info *t, const json_t *obj, struct err *e)
{
	const json_t *cmd, *exe, *res;
	int rc;

	if (!json_is_object(obj))
		return err_set(e, "must be an object");
	if ((rc = dup_str(obj, "name", true, &t->name, e)) ||
	    (rc = dup_valid_id(obj, "task_id", true, &t->task_id, e)) ||
	    (rc = dup_valid_id(obj, "agent_id", true, &t->agent_id, e)))
		return rc;
	res = json_object_get(obj, "resources");
	if (res && !json_is_null(res) &&
	    (rc = resources_from_json(&t->resources, res, e)))
		return rc;
	cmd = json_object_get(obj, "command");
	exe = json_object_get(obj, "executor");
	if (json_is_null(cmd))
		cmd = NULL;
	if (json_is_null(exe))
		exe = NULL;
	if (cmd && exe)
		return err_set(e, "exactly one of 'command' or 'executor' must "
		                  "be set, got both");
	if (!cmd && !exe)
		return err_set(e, "exactly one of 'command' or 'executor' must "
		                  "be set, got neither");
	if (cmd) {
		if ((rc = command_info_from_json(&t->command, cmd, e)))
			return res_err_path(e, "command");
		t->has_command = true;
	} else {
		if (!json_is_object(exe))
			return err_set(e, "executor: must be an object");
		if ((rc = dup_valid_id(exe, "executor_id", true,
		                       &t->executor_id, e)))
			return res_err_path(e, "executor");
	}
	if ((rc = kill_policy_from_json(t, json_object_get(obj, "kill_policy"),
	                                e)))
		return rc;
	t->json = json_dumps(obj, JSON_COMPACT);
	if (!t->json)
		return err_set(e, "cannot be serialized back to JSON");
	return 0;
}

/* ---- AgentInfo ----------------------------------------------------- */

void agent_info_init(struct agent_info *a)
{
	memset(a, 0, sizeof(*a));
	resources_init(&a->resources);
	attributes_init(&a->attributes);
	a->port = 5051;
}

void agent_info_release(struct agent_info *a)
{
	free(a->id);
	free(a->hostname);
	resources_release(&a->resources);
	attributes_release(&a->attributes);
	agent_info_init(a);
}

int agent_info_from_json(struct agent_info *a, const json_t *obj, struct err *e)
{
	const json_t *v;
	int64_t port;
	bool present;
	int rc;

	if (!json_is_object(obj))
		return err_set(e, "must be an object");
	if ((rc = dup_valid_id(obj, "id", false, &a->id, e)) ||
	    (rc = dup_str(obj, "hostname", true, &a->hostname, e)))
		return rc;
	if (!*a->hostname)
		return err_set(e, "hostname: must not be empty");
	if ((rc = get_int(obj, "port", &port, &present, e)))
		return rc;
	if (present) {
		if (port < 0 || port > 65535)
			return err_set(e,
			               "port: must be between 0 and 65535, "
			               "got %lld",
			               (long long)port);
		a->port = (int)port;
	}
	v = json_object_get(obj, "resources");
	if (v && !json_is_null(v) &&
	    (rc = resources_from_json(&a->resources, v, e)))
		return rc;
	v = json_object_get(obj, "attributes");
	if (v && !json_is_null(v) &&
	    (rc = attributes_from_json(&a->attributes, v, e)))
		return rc;
	return 0;
}

void agent_info_write_json(struct jsonw *w, const struct agent_info *a)
{
	jsonw_obj_begin(w);
	if (a->id)
		jsonw_kid(w, "id", a->id);
	jsonw_kstr(w, "hostname", a->hostname);
	jsonw_kint(w, "port", a->port);
	jsonw_key(w, "resources");
	resources_write_json(w, &a->resources);
	jsonw_key(w, "attributes");
	attributes_write_json(w, &a->attributes);
	jsonw_obj_end(w);
}
