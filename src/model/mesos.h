/*
 * mesos.h: the Mesos v1 data model Atoll speaks: enums with their wire
 * names, and the messages the kernel interprets (TaskStatus, FrameworkInfo,
 * CommandInfo, TaskInfo, AgentInfo), each with a validating JSON parser
 * (jansson in, struct err naming the field out) and a streaming writer.
 *
 * JSON mapping rules (Mesos's, not proto3's): snake_case field names, enum
 * values as their names, bytes as base64, unknown fields ignored, unset
 * fields omitted on output, *ID messages as {"value": "..."}.
 */
#ifndef ATOLL_MESOS_H
#define ATOLL_MESOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "model/resources.h"

struct err;
struct jsonw;

/* ---- enums ---------------------------------------------------------- */

enum task_state {
	TASK_STAGING,
	TASK_STARTING,
	TASK_RUNNING,
	TASK_KILLING,
	TASK_FINISHED,
	TASK_FAILED,
	TASK_KILLED,
	TASK_ERROR,
	TASK_LOST,
	TASK_DROPPED,
	TASK_UNREACHABLE,
	TASK_GONE,
	TASK_GONE_BY_OPERATOR,
	TASK_UNKNOWN,
	TASK_STATE_COUNT
};

const char *task_state_name(enum task_state s);
int task_state_parse(const char *name, enum task_state *out);
/* FINISHED FAILED KILLED ERROR LOST DROPPED GONE GONE_BY_OPERATOR. */
bool task_state_is_terminal(enum task_state s);

enum task_source {
	SOURCE_UNSET,
	SOURCE_MASTER,
	SOURCE_AGENT,
	SOURCE_EXECUTOR,
	SOURCE_COUNT
};
const char *task_source_name(enum task_source s); /* NULL for UNSET */
int task_source_parse(const char *name, enum task_source *out);

/* Mesos's TaskStatus.Reason values, by wire name (REASON_...). */
#define MESOS_REASONS(X)                                                       \
	X(REASON_COMMAND_EXECUTOR_FAILED)                                      \
	X(REASON_CONTAINER_LAUNCH_FAILED)                                      \
	X(REASON_CONTAINER_LIMITATION)                                         \
	X(REASON_CONTAINER_LIMITATION_DISK)                                    \
	X(REASON_CONTAINER_LIMITATION_MEMORY)                                  \
	X(REASON_CONTAINER_PREEMPTED)                                          \
	X(REASON_CONTAINER_UPDATE_FAILED)                                      \
	X(REASON_MAX_COMPLETION_TIME_REACHED)                                  \
	X(REASON_EXECUTOR_REGISTRATION_TIMEOUT)                                \
	X(REASON_EXECUTOR_REREGISTRATION_TIMEOUT)                              \
	X(REASON_EXECUTOR_TERMINATED)                                          \
	X(REASON_EXECUTOR_UNREGISTERED)                                        \
	X(REASON_FRAMEWORK_REMOVED)                                            \
	X(REASON_GC_ERROR)                                                     \
	X(REASON_INVALID_FRAMEWORKID)                                          \
	X(REASON_INVALID_OFFERS)                                               \
	X(REASON_IO_SWITCHBOARD_EXITED)                                        \
	X(REASON_MASTER_DISCONNECTED)                                          \
	X(REASON_RECONCILIATION)                                               \
	X(REASON_RESOURCES_UNKNOWN)                                            \
	X(REASON_AGENT_DISCONNECTED)                                           \
	X(REASON_AGENT_REMOVED)                                                \
	X(REASON_AGENT_REMOVED_BY_OPERATOR)                                    \
	X(REASON_AGENT_REREGISTERED)                                           \
	X(REASON_AGENT_RESTARTED)                                              \
	X(REASON_AGENT_UNKNOWN)                                                \
	X(REASON_AGENT_DRAINING)                                               \
	X(REASON_TASK_KILLED_DURING_LAUNCH)                                    \
	X(REASON_TASK_CHECK_STATUS_UPDATED)                                    \
	X(REASON_TASK_HEALTH_CHECK_STATUS_UPDATED)                             \
	X(REASON_TASK_GROUP_INVALID)                                           \
	X(REASON_TASK_GROUP_UNAUTHORIZED)                                      \
	X(REASON_TASK_INVALID)                                                 \
	X(REASON_TASK_UNAUTHORIZED)                                            \
	X(REASON_TASK_UNKNOWN)                                                 \
	X(REASON_FETCHER_FAILURE) /* Atoll: fetch of CommandInfo.uris failed   \
	                           */

enum task_reason {
	REASON_UNSET,
#define MESOS_REASON_ENUM(r) r,
	MESOS_REASONS(MESOS_REASON_ENUM)
#undef MESOS_REASON_ENUM
	    REASON_COUNT
};
const char *task_reason_name(enum task_reason r); /* NULL for UNSET */
int task_reason_parse(const char *name, enum task_reason *out);

/* FrameworkInfo.Capability.Type as bits. */
enum framework_capability {
	FW_CAP_REVOCABLE_RESOURCES = 1 << 0,
	FW_CAP_TASK_KILLING_STATE = 1 << 1,
	FW_CAP_GPU_RESOURCES = 1 << 2,
	FW_CAP_SHARED_RESOURCES = 1 << 3,
	FW_CAP_PARTITION_AWARE = 1 << 4,
	FW_CAP_MULTI_ROLE = 1 << 5,
	FW_CAP_RESERVATION_REFINEMENT = 1 << 6,
	FW_CAP_REGION_AWARE = 1 << 7,
};

/* ---- ids ------------------------------------------------------------ */

/* obj[key].value as a string, or NULL when absent or not a string. */
const char *mesos_json_id(const json_t *obj, const char *key);
/*
 * Validates an id coming from outside (task, executor, framework ids):
 * 1..255 bytes, no '/', no whitespace or control characters, not "." or
 * "..". what names it in the error ("task_id").
 */
int mesos_id_validate(const char *id, const char *what, struct err *e);

/* ---- TaskStatus ----------------------------------------------------- */

struct task_status {
	char *task_id;
	char *agent_id;    /* NULL = unset */
	char *executor_id; /* NULL = unset */
	enum task_state state;
	enum task_source source;
	enum task_reason reason;
	char *message;    /* NULL = unset */
	double timestamp; /* seconds since the epoch; 0 = unset */
	bool has_uuid;
	uint8_t uuid[16];
	int healthy; /* -1 unset, 0 false, 1 true */
	char *data;  /* base64 text as on the wire; NULL = unset */
};

/* Conventions for every message below: *_init zeroes (and sets the
 * documented defaults), *_release frees and re-initializes (twice is
 * harmless), *_copy overwrites dst without freeing it (pass it
 * initialized-and-empty or released). A *_from_json that fails leaves its
 * struct for *_release. Error texts are field paths relative to the object
 * given ("task_id: required field missing"); the caller prefixes its own
 * ("task_infos[0]: "). */

void task_status_init(struct task_status *st);
void task_status_release(struct task_status *st);
void task_status_copy(struct task_status *dst, const struct task_status *src);
/* Requires task_id (validated as by mesos_id_validate) and a known state;
 * uuid must be base64 of 16 bytes; timestamp finite and >= 0. Unknown
 * source/reason names are dropped (Mesos's rule for optional enums). */
int task_status_from_json(struct task_status *st, const json_t *obj,
                          struct err *e);
void task_status_write_json(struct jsonw *w, const struct task_status *st);

/* ---- FrameworkInfo -------------------------------------------------- */

struct framework_info {
	char *id; /* NULL for a new framework */
	char *user;
	char *name;
	char **roles; /* effective roles: "roles" with MULTI_ROLE, else "role"
	                 (default "*") */
	size_t nroles;
	double failover_timeout; /* seconds, default 0 */
	bool checkpoint;
	char *hostname, *principal, *webui_url; /* NULL = unset */
	unsigned capabilities;                  /* enum framework_capability */
	char *labels; /* the "labels" object as compact JSON, NULL = unset */
};

void framework_info_init(struct framework_info *fi);
void framework_info_release(struct framework_info *fi);
void framework_info_copy(struct framework_info *dst,
                         const struct framework_info *src);
/*
 * Validates as Mesos does: user and name required; roles valid names
 * ("*" allowed), no duplicates; "roles" only with MULTI_ROLE (an empty
 * array is tolerated without it) and "role" not with it; failover_timeout
 * finite and >= 0; id valid when present. Unknown capabilities are
 * ignored. A MULTI_ROLE framework may have no role at all (nroles 0).
 */
int framework_info_from_json(struct framework_info *fi, const json_t *obj,
                             struct err *e);
void framework_info_write_json(struct jsonw *w,
                               const struct framework_info *fi);
bool framework_info_has_role(const struct framework_info *fi, const char *role);

/* ---- CommandInfo ---------------------------------------------------- */

struct command_uri {
	char *value;
	bool executable, extract, cache; /* extract defaults to true */
	char *output_file;               /* NULL = unset */
};

struct env_var {
	char *name, *value;
};

struct command_info {
	bool shell;  /* default true */
	char *value; /* NULL = unset (required when shell) */
	char **arguments;
	size_t narguments;
	struct env_var *env;
	size_t nenv;
	char *user; /* NULL = unset */
	struct command_uri *uris;
	size_t nuris;
};

void command_info_init(struct command_info *c);
void command_info_release(struct command_info *c);
/* shell=true requires value; shell=false requires value (the program).
 * Environment variables of type SECRET are rejected; uris need a value. */
int command_info_from_json(struct command_info *c, const json_t *obj,
                           struct err *e);
void command_info_write_json(struct jsonw *w, const struct command_info *c);

/* ---- TaskInfo ------------------------------------------------------- */

struct task_info {
	char *name;
	char *task_id;
	char *agent_id;
	struct resources resources;
	bool has_command;
	struct command_info command;
	char *executor_id; /* ExecutorInfo.executor_id when "executor" set */
	double kill_grace_period; /* seconds; < 0 = unset */
	/* The TaskInfo object as received, compact, for passing on unchanged
	 * (labels, discovery, health_check, data, container, ...). */
	char *json;
};

void task_info_init(struct task_info *t);
void task_info_release(struct task_info *t);
/*
 * Validates: name, task_id and agent_id (mesos_id_validate) present;
 * resources parse (an empty list is allowed); exactly one of command /
 * executor, and executor.executor_id when executor is set;
 * kill_policy.grace_period.nanoseconds >= 0. Does not check resources
 * against an offer (the master does). Keeps a compact copy in t->json
 * (freed with free()).
 */
int task_info_from_json(struct task_info *t, const json_t *obj, struct err *e);

/* ---- AgentInfo ------------------------------------------------------ */

struct agent_info {
	char *id; /* NULL before registration */
	char *hostname;
	int port;
	struct resources resources;
	struct attributes attributes;
};

/* port defaults to 5051. */
void agent_info_init(struct agent_info *a);
void agent_info_release(struct agent_info *a);
/* hostname required and non-empty; port in [0, 65535]; id, when present,
 * valid; resources and attributes parse. */
int agent_info_from_json(struct agent_info *a, const json_t *obj,
                         struct err *e);
void agent_info_write_json(struct jsonw *w, const struct agent_info *a);

#endif
