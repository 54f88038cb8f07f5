/*
 * app.h: the services framework's app and group definitions (Marathon's
 * AppDefinition and Group JSON), their validation and their JSON form.
 * Pure: no I/O, no clock (versions are passed in).
 *
 * Parsing fills every field with Marathon's default when absent (cpus 1,
 * mem 128, disk 0, instances 1, backoffSeconds 1, backoffFactor 1.15,
 * maxLaunchDelaySeconds 300, upgradeStrategy 1.0/1.0 (0.5/0 for apps with
 * persistent volumes), killSelection YOUNGEST_FIRST, unreachableStrategy
 * 0/0, health check defaults of Marathon's healthCheck.raml). Unknown
 * fields are ignored, as Marathon does. Validation collects every problem,
 * not just the first: the 422 body lists each with its JSON path.
 *
 * Ids: absolute paths ("/product/database/mysql"); a relative id in a
 * group or a request is resolved against its parent ("mysql" inside
 * "/product/database"); "." and ".." segments are resolved; each segment
 * matches
 * ^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$
 * (Marathon's rule), except that "_" is also accepted (the slides use
 * "rails_app").
 */
#ifndef ATOLL_SERVICES_APP_H
#define ATOLL_SERVICES_APP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "services/constraint.h"

struct err;
struct jsonw;

/* ---- validation problems (the 422 body) ---------------------------------- */

struct app_problem {
	char *path; /* JSON path: "/cpus", "/healthChecks(0)/portIndex",
	               "/apps(1)/id" (Marathon's notation) */
	char *message;
};

struct app_problems {
	struct app_problem *v;
	size_t n, cap;
};

void app_problems_init(struct app_problems *p);
void app_problems_release(struct app_problems *p);
/* Appends a problem (printf-style message). */
void app_problems_add(struct app_problems *p, const char *path, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));
/* {"message":"Object is not valid","details":[{"path":..,"errors":[..]}]}
 * with one details entry per distinct path. */
void app_problems_write_json(struct jsonw *w, const struct app_problems *p);

/* ---- the definition ------------------------------------------------------ */

struct app_kv {
	char *key;
	char *value;
};

struct app_port {
	int port;       /* 0 = dynamic */
	char *name;     /* may be NULL */
	char *protocol; /* "tcp" (default), "udp", "udp,tcp" */
	struct app_kv *labels;
	size_t nlabels;
};

struct app_fetch {
	char *uri;
	bool extract, executable, cache;
	char *dest_path; /* may be NULL */
};

enum app_check_protocol {
	APP_CHECK_HTTP,  /* HTTP and MESOS_HTTP */
	APP_CHECK_HTTPS, /* HTTPS and MESOS_HTTPS */
	APP_CHECK_TCP,   /* TCP and MESOS_TCP */
	APP_CHECK_COMMAND,
};

struct app_health_check {
	enum app_check_protocol protocol;
	char *protocol_name;          /* as given, written back unchanged */
	char *path;                   /* "/" */
	int port_index;               /* 0 */
	int port;                     /* 0 = use port_index */
	char *command;                /* COMMAND: command.value */
	double grace_period_seconds;  /* 300 */
	double interval_seconds;      /* 60 */
	double timeout_seconds;       /* 20 */
	double delay_seconds;         /* 15 */
	int max_consecutive_failures; /* 3 */
	bool ignore_http_1xx;         /* false */
};

struct app_readiness_check {
	char *name;              /* "readinessCheck" */
	char *protocol;          /* "HTTP" | "HTTPS" */
	char *path;              /* "/" */
	char *port_name;         /* "http-api" */
	double interval_seconds; /* 30 */
	double timeout_seconds;  /* 10, must be < interval */
	int *status_codes;       /* [200] */
	size_t nstatus_codes;
	bool preserve_last_response;
};

struct app_volume {
	char *container_path;   /* persistent: one relative segment */
	char *host_path;        /* host volumes; NULL for persistent */
	char *mode;             /* "RW" | "RO" */
	double persistent_size; /* MiB; 0 = not persistent */
	char *persistent_type;  /* "root" (default) | "path" | "mount" */
};

enum app_kill_selection {
	APP_KILL_YOUNGEST_FIRST,
	APP_KILL_OLDEST_FIRST,
};

struct app {
	char *id;    /* absolute path */
	char *cmd;   /* exactly one of cmd / args (or neither, */
	char **args; /* for an executor that needs none) */
	size_t nargs;
	double cpus, mem, disk;
	int gpus;
	int instances;
	struct constraint_set constraints;
	char **accepted_resource_roles;
	size_t naccepted_resource_roles;
	char *role;             /* NULL = the framework's default role */
	struct app_port *ports; /* portDefinitions, or the old "ports" */
	size_t nports;
	bool require_ports;
	struct app_kv *env; /* plain string values only (secrets: 422) */
	size_t nenv;
	struct app_kv *labels;
	size_t nlabels;
	struct app_fetch *fetch; /* "fetch", or the old "uris" strings */
	size_t nfetch;
	char *user;
	struct app_health_check *health_checks;
	size_t nhealth_checks; /* Atoll runs at most one (Mesos's limit) */
	struct app_readiness_check *readiness_checks;
	size_t nreadiness_checks;       /* 0 or 1 */
	double minimum_health_capacity; /* upgradeStrategy */
	double maximum_over_capacity;
	/* Atoll addition: upgradeStrategy.progressDeadlineSeconds (default
	 * 600, 0 = none): a deployment of this app that makes no progress
	 * for that long is rolled back automatically. */
	double progress_deadline_seconds;
	double backoff_seconds, backoff_factor, max_launch_delay_seconds;
	double task_kill_grace_period_seconds; /* < 0: unset */
	/* Atoll addition, Aurora's graceful shutdown: "gracefulShutdown":
	 * {"portName", "quitquitquitWaitSeconds" 5,
	 * "abortabortabortWaitSeconds" 5}: a kill first POSTs /quitquitquit
	 * then /abortabortabort to the named port (the executor does it). */
	char *shutdown_port_name; /* NULL = off */
	double shutdown_quit_wait, shutdown_abort_wait;
	enum app_kill_selection kill_selection;
	bool unreachable_disabled;     /* unreachableStrategy "disabled" */
	double inactive_after_seconds; /* 0 */
	double expunge_after_seconds;  /* 0 */
	char **dependencies;           /* absolute paths */
	size_t ndependencies;
	struct app_volume *volumes; /* container.volumes */
	size_t nvolumes;
	char *container_type; /* "MESOS" (default) | "DOCKER" (422 for now) */
	char *version;        /* ISO-8601 UTC with ms, set by the caller */
	/* The definition as submitted (ids made absolute, "version" removed),
	 * kept for PATCH / partial PUT merges and change detection. Owned. */
	json_t *definition;
};

void app_init(struct app *a);
void app_release(struct app *a);

/*
 * Parses and validates one app definition. parent is the group the id is
 * relative to ("/" at the top). Problems are appended to probs with paths
 * prefixed by path_prefix ("" for a top-level app, "/apps(1)" inside a
 * group). Returns 0, or -EINVAL when probs gained a problem (then *a holds
 * a partially filled app: release it).
 */
int app_from_json(struct app *a, const json_t *obj, const char *parent,
                  const char *path_prefix, struct app_problems *probs)
    __attribute__((warn_unused_result));

/*
 * Writes the app's fields (no surrounding braces, so the caller can append
 * runtime fields such as tasksRunning) in Marathon's GET /v2/apps shape,
 * every default filled in.
 */
void app_write_fields(struct jsonw *w, const struct app *a);

/*
 * True when new differs from old only in instances (a scale, not a
 * restart): compares the definitions without "instances" and "version".
 */
bool app_is_scale_only_change(const struct app *old, const struct app *new);

/*
 * Builds the Mesos HealthCheck (v1 JSON) for check hc of an app whose task
 * got host ports host_ports[0..nports): type HTTP/TCP/COMMAND, the port
 * from port (or host_ports[port_index]), path, scheme, delay_seconds,
 * interval_seconds, timeout_seconds, consecutive_failures,
 * grace_period_seconds. NULL with e set when port_index is out of range.
 */
json_t *app_health_check_to_mesos(const struct app_health_check *hc,
                                  const int *host_ports, size_t nports,
                                  struct err *e);

/* ---- ids ---------------------------------------------------------------- */

/*
 * Resolves id against parent into a canonical absolute path (heap). NULL
 * with e set when a segment is invalid, or ".." climbs above the root.
 * The root itself is "/".
 */
char *app_id_resolve(const char *parent, const char *id, struct err *e);
/* The parent group of an absolute id ("/a/b" -> "/a", "/a" -> "/"). */
char *app_id_parent(const char *id);
/* True when id equals prefix or lies under it ("/a/b" is under "/a",
 * "/ab" is not; everything is under "/"). */
bool app_id_is_under(const char *id, const char *prefix);

/* ---- groups ------------------------------------------------------------- */

struct group {
	char *id;            /* absolute */
	char **dependencies; /* absolute */
	size_t ndependencies;
	struct app *apps;
	size_t napps;
	struct group *groups;
	size_t ngroups;
};

void group_init(struct group *g);
void group_release(struct group *g);

/*
 * Parses a group (POST/PUT /v2/groups body) recursively: ids of apps and
 * subgroups resolve against their group; a child's id must lie under its
 * parent; ids must be unique across the tree. parent is the group the
 * request's id is relative to ("/" for /v2/groups). Problems as for
 * app_from_json (paths like "/groups(1)/apps(0)/cpus").
 */
int group_from_json(struct group *g, const json_t *obj, const char *parent,
                    struct app_problems *probs)
    __attribute__((warn_unused_result));

/*
 * Flattens g into its apps, each with its dependencies extended by the
 * dependencies of every enclosing group (inherited, as in Marathon).
 * Apps are moved out of g into *apps (n in *napps); g keeps its groups.
 */
void group_take_apps(struct group *g, struct app **apps, size_t *napps);

#endif
