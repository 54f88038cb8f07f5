/*
 * fuzz_mesos_json.c: libFuzzer target for the Mesos message parsers.
 *
 * The input is parsed as JSON (any value). Every *_from_json parser runs on
 * it and on its members down to three levels (so a whole Call body reaches
 * the nested messages too). Whatever a parser accepts is written back with
 * its writer; that output must be JSON that the same parser accepts again,
 * and writing the re-parsed value must give the same bytes (a fixed
 * point). Rejections must come with a message. Any violation aborts.
 */
#include "lib/compat.h"

#include <jansson.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/jsonw.h"
#include "model/mesos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr,                                        \
			        "fuzz_mesos_json: %s failed (line %d)\n",      \
			        #cond, __LINE__);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* One message type: its functions, behind void pointers. */
struct codec {
	void (*init)(void *);
	void (*release)(void *);
	int (*parse)(void *, const json_t *, struct err *);
	/* NULL for task_info, which keeps the JSON it was given */
	void (*write)(struct jsonw *, const void *);
};

#define CODEC(prefix)                                                          \
	static void prefix##_init_v(void *p)                                   \
	{                                                                      \
		prefix##_init(p);                                              \
	}                                                                      \
	static void prefix##_release_v(void *p)                                \
	{                                                                      \
		prefix##_release(p);                                           \
	}                                                                      \
	static int prefix##_parse_v(void *p, const json_t *j, struct err *e)   \
	{                                                                      \
		return prefix##_from_json(p, j, e);                            \
	}

CODEC(task_status)
CODEC(framework_info)
CODEC(command_info)
CODEC(task_info)
CODEC(agent_info)

static void task_status_write_v(struct jsonw *w, const void *p)
{
	task_status_write_json(w, p);
}

static void framework_info_write_v(struct jsonw *w, const void *p)
{
	framework_info_write_json(w, p);
}

static void command_info_write_v(struct jsonw *w, const void *p)
{
	command_info_write_json(w, p);
}

static void agent_info_write_v(struct jsonw *w, const void *p)
{
	agent_info_write_json(w, p);
}

static const struct codec codecs[] = {
    {task_status_init_v, task_status_release_v, task_status_parse_v,
     task_status_write_v},
    {framework_info_init_v, framework_info_release_v, framework_info_parse_v,
     framework_info_write_v},
    {command_info_init_v, command_info_release_v, command_info_parse_v,
     command_info_write_v},
    {task_info_init_v, task_info_release_v, task_info_parse_v, NULL},
    {agent_info_init_v, agent_info_release_v, agent_info_parse_v,
     agent_info_write_v},
};

union any_message {
	struct task_status st;
	struct framework_info fi;
	struct command_info ci;
	struct task_info ti;
	struct agent_info ai;
};

static void write_one(const struct codec *c, const void *msg, struct buf *b)
{
	struct jsonw w;
	buf_reset(b);
	jsonw_init(&w, b);
	c->write(&w, msg);
	CHECK(w.depth == 0);
}

static void run_codec(const struct codec *c, const json_t *j)
{
	union any_message m1, m2;
	struct buf b1 = BUF_INIT, b2 = BUF_INIT;
	struct err e = {{0}};
	json_t *back;

	c->init(&m1);
	if (c->parse(&m1, j, &e)) {
		CHECK(e.msg[0] != '\0');
		goto out;
	}
	if (!c->write) {
		/* task_info has no writer; its compact copy must be JSON */
		back = json_loads(m1.ti.json, 0, NULL);
		CHECK(back);
		json_decref(back);
		goto out;
	}
	write_one(c, &m1, &b1);
	back = json_loads(b1.data, 0, NULL);
	CHECK(back);
	c->init(&m2);
	if (c->parse(&m2, back, &e)) {
		fprintf(stderr, "re-parse of %s failed: %s\n", b1.data, e.msg);
		CHECK(!"written form parses");
	}
	write_one(c, &m2, &b2);
	CHECK(strcmp(b1.data, b2.data) == 0);
	c->release(&m2);
	json_decref(back);
out:
	c->release(&m1);
	c->release(&m1); /* release twice is harmless */
	buf_release(&b1);
	buf_release(&b2);
}

static void run_all(const json_t *j)
{
	struct err e;

	for (size_t i = 0; i < ARRAY_SIZE(codecs); i++)
		run_codec(&codecs[i], j);
	if (json_is_string(j)) {
		const char *s = json_string_value(j);
		enum task_state st;
		enum task_reason r;
		enum task_source src;
		(void)mesos_id_validate(s, "id", &e);
		if (task_state_parse(s, &st) == 0)
			CHECK(!strcmp(task_state_name(st), s));
		if (task_reason_parse(s, &r) == 0)
			CHECK(!strcmp(task_reason_name(r), s));
		if (task_source_parse(s, &src) == 0)
			CHECK(!strcmp(task_source_name(src), s));
	}
	if (json_is_object(j)) {
		const char *id = mesos_json_id(j, "task_id");
		if (id)
			(void)mesos_id_validate(id, "task_id", &e);
	}
}

/*
 * Runs every parser on j and its members, down to depth 3, at most
 * *budget values in all (so a large input stays fast).
 */
static void walk(json_t *j, int depth, int *budget)
{
	const char *key;
	json_t *v;
	size_t i;

	if (--*budget < 0)
		return;
	run_all(j);
	if (depth >= 3)
		return;
	if (json_is_object(j)) {
		json_object_foreach(j, key, v)
		{
			walk(v, depth + 1, budget);
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			walk(v, depth + 1, budget);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	int budget = 64;

	if (!j)
		return 0;
	walk(j, 0, &budget);
	json_decref(j);
	return 0;
}
