/*
 * cli.h: the operator command line, `atoll <verb>`.
 *
 * Every verb finds the master from --master, else $ATOLL_MASTER, else
 * 127.0.0.1:5050, talks to it over plain HTTP (the v1 operator API,
 * POST /api/v1, and the classic /state), prints aligned tables for people
 * and, with --json, the master's own JSON for scripts.
 *
 * Exit codes (every verb but `run`): 0 success, 1 the master or an agent
 * refused or failed the request, 2 bad usage, 3 the master (or an agent)
 * could not be reached. `atoll run` exits with its task's exit status (see
 * cli_run_main()).
 *
 * The verbs block: each runs a private libuv loop for its requests, so a
 * verb reads like a script (ask, wait, print).
 */
#ifndef ATOLL_CLI_H
#define ATOLL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

enum cli_exit {
	CLI_OK = 0,
	CLI_FAILED = 1,
	CLI_USAGE = 2,
	CLI_UNREACHABLE = 3,
};

/* ---- option parsing ------------------------------------------------------ */

enum cli_opt_type {
	CLI_OPT_BOOL,   /* bool; --name, --no-name */
	CLI_OPT_STRING, /* const char * borrowed from argv */
	CLI_OPT_DOUBLE, /* double */
	CLI_OPT_INT,    /* long */
};

struct cli_opt {
	const char *name; /* long name without "--" */
	char short_name;  /* -x, or 0 */
	enum cli_opt_type type;
	void *value;
	const char *help;
};

/*
 * Parses argv[0..argc) against opts: --name value, --name=value, -x
 * (booleans), "--" ending the options (its index + 1 is stored in *rest
 * when rest is not NULL, else "--" is an error). Other words are stored
 * in pos[0..maxpos) (borrowed) with their count in *npos. Returns 0, 1 for
 * --help / -h, or -EINVAL after printing a message naming the option to
 * stderr.
 */
int cli_parse(const char *verb, const struct cli_opt *opts, size_t nopts,
              int argc, char **argv, const char **pos, size_t maxpos,
              size_t *npos, int *rest);
/* Prints "usage: atoll <synopsis>", the summary and the option table. */
void cli_usage(FILE *out, const char *synopsis, const char *summary,
               const struct cli_opt *opts, size_t nopts);

/* ---- talking to the master ----------------------------------------------- */

struct cli_master {
	char *address; /* as given: "host:port" */
	char *host;
	int port;
};

/*
 * Resolves the master address from flag (may be NULL), then
 * $ATOLL_MASTER, then 127.0.0.1:5050; a zk:// URL is resolved to the
 * current leader (waiting at most 10 s). Returns 0, -EINVAL (bad address)
 * or -EHOSTUNREACH (no leader found), the message printed.
 */
int cli_master_init(struct cli_master *m, const char *flag);
void cli_master_release(struct cli_master *m);

struct cli_response {
	int status; /* HTTP status, 0 when no answer */
	int err;    /* 0 or a negative errno when no answer came */
	char *body; /* NUL-terminated heap copy (never NULL after a call) */
	size_t len;
};

/*
 * One blocking HTTP exchange with host:port on a private loop. body NULL
 * means GET. Fills r (release with cli_response_release()). Returns 0 when
 * an answer came (any status), else the negative errno (also in r->err).
 */
int cli_http(const char *host, int port, const char *method, const char *path,
             const char *body, size_t body_len, uint64_t timeout_ms,
             struct cli_response *r);
void cli_response_release(struct cli_response *r);

/*
 * Posts the operator call {"type": type, "<type lowercased>": payload} to
 * the master's /api/v1; payload (may be NULL) is taken. On success returns
 * CLI_OK with *out (when out is not NULL) set to the decoded answer, NULL
 * for an empty body (caller decrefs). Otherwise prints why (unreachable,
 * or the master's status and message) and returns CLI_UNREACHABLE or
 * CLI_FAILED.
 */
int cli_operator_call(const struct cli_master *m, const char *type,
                      json_t *payload, json_t **out);
/* The same, also handing over the answer's text as it came in *raw
 * (heap, caller frees) on success. */
int cli_operator_call_raw(const struct cli_master *m, const char *type,
                          json_t *payload, json_t **out, char **raw);
/* GETs a JSON document (e.g. /state) from host:port; what names the
 * daemon in messages ("the master at ..."). Returns as above. */
int cli_get_json(const char *what, const char *host, int port, const char *path,
                 json_t **out);
/* Prints "atoll: cannot reach <what> at <addr>: <reason>" to stderr. */
void cli_print_unreachable(const char *what, const char *address, int err);

/* ---- tables ---------------------------------------------------------------
 */

/*
 * A table of text cells printed with aligned columns (two spaces between
 * columns, the last column not padded). Cells are copied.
 */
struct cli_table {
	size_t ncols;
	char **cells; /* row-major, nrows * ncols */
	size_t nrows, cap;
};

void cli_table_init(struct cli_table *t, size_t ncols);
void cli_table_release(struct cli_table *t);
/* Appends a row of ncols cells; NULL cells print as "-". */
void cli_table_row(struct cli_table *t, const char *const *cells);
void cli_table_print(const struct cli_table *t, FILE *out);

/*
 * Shortens id for a table: an id longer than max becomes its first
 * characters, "..", and its last characters, so both the shared prefix
 * and the distinguishing tail (Atoll ids end in a sequence number) stay
 * visible. Writes into out (size outsz) and returns out.
 */
const char *cli_short_id(const char *id, size_t max, char *out, size_t outsz);
/* Formats a scalar the way Mesos prints them ("0.1", "4", "1024"). */
const char *cli_fmt_scalar(double v, char *out, size_t outsz);
/* Sums the scalar resource name in a v1 resources array. */
double cli_resources_scalar(const json_t *resources, const char *name);
/* Returns obj.key.value as a string (v1 ids), or NULL. */
const char *cli_json_id(const json_t *obj, const char *key);
/* Returns the value at a dotted path ("framework_info.name") or NULL. */
json_t *cli_json_path(const json_t *obj, const char *path);

/* ---- verbs (argv after the verb words) ----------------------------------- */

int cli_agents_main(int argc, char **argv);
int cli_frameworks_main(int argc, char **argv);
int cli_tasks_main(int argc, char **argv);
int cli_roles_main(int argc, char **argv);
/* `atoll task logs|kill ...`: argv[0] is the sub-verb. */
int cli_task_main(int argc, char **argv);
/* `atoll framework teardown ID`. */
int cli_framework_main(int argc, char **argv);
/* `atoll agent gone ID` (main dispatches here when argv[0] is "gone"). */
int cli_agent_main(int argc, char **argv);
int cli_events_main(int argc, char **argv);
/*
 * `atoll app deploy|ls|show|scale|restart|rm ...` and `atoll deployment
 * ls|rollback ...` (cli_app.c): argv[0] is the sub-verb. They talk to
 * `atoll services` (Marathon v2 REST API) at --services, else
 * $ATOLL_SERVICES, else 127.0.0.1:8080, with the exit codes above;
 * --wait follows a deployment and exits 1 when it failed (rolled back,
 * replaced, apps not healthy at the end) or exceeded --timeout.
 */
int cli_app_main(int argc, char **argv);
int cli_deployment_main(int argc, char **argv);
/*
 * `atoll run [--cpus --mem --instances --name] -- CMD...`: runs CMD on the
 * cluster as a one-off framework, prints the tasks' states and output,
 * tears the framework down and exits with the task's exit status: 0 when
 * every instance FINISHED, else the first failing instance's command
 * status (128 + signal when it was killed by a signal, 1 when the task
 * ended otherwise, e.g. KILLED or LOST); 125 when run itself failed
 * (bad usage, master unreachable or refusing the framework); 130 / 143
 * after SIGINT / SIGTERM, which kill the tasks and tear down.
 */
int cli_run_main(int argc, char **argv);

/* ---- shared by verbs ------------------------------------------------------
 */

/*
 * Exit status of a terminal task from its state name and status message:
 * 0 for TASK_FINISHED; N for "Command exited with status N"; 128 + signal
 * number for "Command terminated with signal NAME"; else 1.
 */
int cli_task_exit_code(const char *state, const char *message);

/*
 * Finds where a task's sandbox files are served: from the master's /state,
 * the task's agent (host, port from its pid "slave(1)@ip:port") and, from
 * that agent's /state, the executor directory. Fills *host (heap),
 * *port, *dir (heap) and *terminal. Returns CLI_OK or another cli_exit
 * (with a message on stderr unless quiet).
 */
int cli_task_sandbox(const struct cli_master *m, const char *task_id,
                     bool quiet, char **host, int *port, char **dir,
                     bool *terminal);

#endif
