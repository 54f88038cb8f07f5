/*
 * agent_config.c: the agent's configuration. One flag table drives
 * parsing, --help and the /flags answer; what the table cannot express
 * (the --master list, --recover values) is checked once afterwards.
 *
 * Resources not given with --resources are detected from the machine as
 * Mesos does (agent_resources_build is the pure part; agent_machine_detect
 * reads the machine). Differences from Mesos, on purpose: disk is based on
 * the free space of the work directory's filesystem (Mesos uses its total
 * size, which over-promises on a shared disk), and --work-dir has a
 * default (Mesos requires it).
 */
#include "lib/compat.h"
#include "agent/agent_int.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/flags.h"
#include "lib/jsonw.h"
#include "lib/zk.h"

#define MB (1024.0 * 1024.0)
#define GB (1024.0 * MB)

static const struct flag_def agent_flags[] = {
    FLAG_DEF(struct agent_config, ip, "ip", FLAG_STRING, "127.0.0.1", 0, 0,
             "IP address to listen on (also given to executors)"),
    FLAG_DEF(struct agent_config, port, "port", FLAG_INT, "5051", 0, 65535,
             "port to listen on (0 = pick a free port)"),
    FLAG_DEF(struct agent_config, master, "master", FLAG_STRING, NULL, 0, 0,
             "the master: host:port, a comma-separated list of them, or "
             "zk://host:port[,host:port...]/path to follow the leader "
             "elected in ZooKeeper (required)"),
    FLAG_DEF(struct agent_config, work_dir, "work-dir", FLAG_STRING, NULL, 0, 0,
             "directory for sandboxes and checkpoints (default: "
             "/var/lib/atoll/agent as root, else ~/.atoll/agent)"),
    FLAG_DEF(struct agent_config, resources, "resources", FLAG_STRING, NULL, 0,
             0,
             "resources to offer, e.g. 'cpus:4;mem:8192;disk:20000;"
             "ports:[31000-32000]' or a JSON array; cpus, mem, disk and "
             "ports left out are detected"),
    FLAG_DEF(struct agent_config, attributes, "attributes", FLAG_STRING, NULL,
             0, 0, "attributes, e.g. 'rack:r1;zone:2'"),
    FLAG_DEF(struct agent_config, hostname, "hostname", FLAG_STRING, NULL, 0, 0,
             "hostname to advertise (default: the machine's)"),
    FLAG_DEF(struct agent_config, port_file, "port-file", FLAG_STRING, NULL, 0,
             0, "write the bound port to this file once listening"),
    FLAG_DEF(struct agent_config, log_level, "log-level", FLAG_STRING, "info",
             0, 0, "error, warn, info or debug"),
    FLAG_DEF(struct agent_config, recover, "recover", FLAG_STRING, "reconnect",
             0, 0,
             "on start: 'reconnect' to checkpointed executors, or "
             "'cleanup' (kill them and start afresh)"),
    FLAG_DEF(struct agent_config, strict, "strict", FLAG_BOOL, "true", 0, 0,
             "fail recovery on damaged checkpoints instead of skipping "
             "them"),
    FLAG_DEF(struct agent_config, executor_registration_timeout,
             "executor-registration-timeout", FLAG_DURATION, "1mins", 0.01,
             86400, "an executor that does not subscribe in time is killed"),
    FLAG_DEF(struct agent_config, executor_reregistration_timeout,
             "executor-reregistration-timeout", FLAG_DURATION, "5secs", 0.01,
             86400,
             "after a restart or a lost stream, an executor must "
             "resubscribe within this, or it is killed"),
    FLAG_DEF(struct agent_config, executor_shutdown_grace_period,
             "executor-shutdown-grace-period", FLAG_DURATION, "5secs", 0, 3600,
             "time an executor has to shut down before SIGKILL"),
    FLAG_DEF(struct agent_config, recovery_timeout, "recovery-timeout",
             FLAG_DURATION, "15mins", 0.01, 604800,
             "how long checkpointing executors wait for a restarting "
             "agent (MESOS_RECOVERY_TIMEOUT)"),
    FLAG_DEF(struct agent_config, status_update_retry_interval,
             "status-update-retry-interval", FLAG_DURATION, "10secs", 0.001,
             86400,
             "first retry of an unacknowledged status update; doubles "
             "on each retry"),
    FLAG_DEF(struct agent_config, status_update_retry_interval_max,
             "status-update-retry-interval-max", FLAG_DURATION, "10mins", 0.001,
             86400, "cap of the status update retry interval"),
    FLAG_DEF(struct agent_config, max_body_bytes, "max-body-bytes", FLAG_BYTES,
             "8MB", 1024, 1073741824.0,
             "largest request body accepted (413 beyond)"),
    FLAG_DEF(struct agent_config, http_idle_timeout, "http-idle-timeout",
             FLAG_DURATION, "75secs", 0.1, 86400,
             "close HTTP connections idle this long"),
    FLAG_DEF(struct agent_config, max_completed_tasks, "max-completed-tasks",
             FLAG_INT, "1000", 0, 10000000, "completed tasks kept for /state"),
    FLAG_DEF(struct agent_config, isolation, "isolation", FLAG_STRING, NULL, 0,
             0,
             "'posix' (no cgroups), 'cgroups' (v2 when the unified "
             "hierarchy has cpu, memory and pids, else v1), or a comma "
             "list of Mesos isolators: cgroups/cpu, cgroups/mem, "
             "cgroups/pids, cgroups/all (any of them: cgroups with all "
             "controllers), posix/cpu, posix/mem, filesystem/posix (no "
             "cgroups), disk/du or posix/disk (sandbox disk usage), "
             "namespaces/pid (a command task is pid 1 of its own pid "
             "namespace), filesystem/linux (a command task gets a mount "
             "namespace with a private /tmp, <sandbox>/tmp); default: "
             "cgroups when usable and running as root, else posix, "
             "disk/du, and no namespaces (see docs/isolation.md)"),
    FLAG_DEF(struct agent_config, cgroups_root, "cgroups-root", FLAG_STRING,
             "atoll", 0, 0, "the cgroup holding the containers' cgroups"),
    FLAG_DEF(struct agent_config, cgroups_enable_cfs, "cgroups-enable-cfs",
             FLAG_BOOL, "false", 0, 0,
             "cap a container's cpu time at its cpus with a CFS quota "
             "(else cpus only weigh its share)"),
    FLAG_DEF(struct agent_config, cgroups_pids_max, "cgroups-pids-max",
             FLAG_INT, "4096", 0, 4194304,
             "most processes and threads in one container (0 = no "
             "limit)"),
    FLAG_DEF(struct agent_config, allow_root_tasks, "allow-root-tasks",
             FLAG_BOOL, "false", 0, 0,
             "run tasks whose user (CommandInfo.user, else "
             "FrameworkInfo.user) is root; without it they are refused "
             "with TASK_ERROR (when the agent runs as root)"),
    FLAG_DEF(struct agent_config, fetcher_cache_dir, "fetcher-cache-dir",
             FLAG_STRING, NULL, 0, 0,
             "the fetcher's cache of URIs with cache=true, one "
             "subdirectory per user (default: <work-dir>/fetcher-cache)"),
    FLAG_DEF(struct agent_config, fetcher_cache_size, "fetcher-cache-size",
             FLAG_BYTES, "2GB", 0, 1099511627776.0,
             "most bytes the fetcher keeps in one user's cache (least "
             "recently used entries are evicted)"),
    FLAG_DEF(struct agent_config, gc_delay, "gc-delay", FLAG_DURATION, "1weeks",
             0, 315360000.0,
             "the longest a terminated executor's sandbox is kept; less "
             "as the disk fills: gc_delay * max(0, 1 - gc_disk_headroom "
             "- disk usage)"),
    FLAG_DEF(struct agent_config, gc_disk_headroom, "gc-disk-headroom",
             FLAG_DOUBLE, "0.1", 0, 1,
             "fraction of the work directory's disk to keep free: at "
             "a usage of 1 - gc_disk_headroom sandboxes are removed at "
             "once"),
    FLAG_DEF(struct agent_config, disk_watch_interval, "disk-watch-interval",
             FLAG_DURATION, "1mins", 0.01, 86400,
             "how often the disk usage is checked and due sandboxes "
             "removed"),
    FLAG_DEF(struct agent_config, container_disk_watch_interval,
             "container-disk-watch-interval", FLAG_DURATION, "15secs", 0.01,
             86400,
             "how often disk/du measures each live sandbox (reported as "
             "disk_used_bytes)"),
    FLAG_DEF(struct agent_config, enforce_container_disk_quota,
             "enforce-container-disk-quota", FLAG_BOOL, "false", 0, 0,
             "kill a container whose sandbox uses more than its disk "
             "(TASK_FAILED, REASON_CONTAINER_LIMITATION_DISK); without it "
             "the usage is only reported"),
};

int agent_config_parse(struct agent_config *cfg, int argc, char **argv,
                       struct err *e)
{
	int rc = flags_parse(agent_flags, ARRAY_SIZE(agent_flags), cfg, argc,
	                     argv, NULL, e);
	if (rc)
		return rc;
	return agent_config_check(cfg, e);
}

int agent_config_check(const struct agent_config *cfg, struct err *e)
{
	struct agent_isolation iso;
	char **masters = NULL;
	size_t n = 0;
	int rc;

	if (!cfg->master || !*cfg->master)
		return err_set(e, "--master: required (host:port of the "
		                  "master)");
	if ((rc = agent_parse_masters(cfg->master, &masters, &n, e)))
		return rc;
	agent_strv_free(masters, n);
	if (strcmp(cfg->recover, "reconnect") &&
	    strcmp(cfg->recover, "cleanup"))
		return err_set(e,
		               "--recover: expected 'reconnect' or "
		               "'cleanup', got '%s'",
		               cfg->recover);
	if ((rc = agent_isolation_parse(cfg->isolation, &iso, e)))
		return rc;
	if (cfg->fetcher_cache_dir && !*cfg->fetcher_cache_dir)
		return err_set(e, "--fetcher-cache-dir: must not be empty");
	if (!cfg->cgroups_root || !*cfg->cgroups_root ||
	    strchr(cfg->cgroups_root, '/') || !strcmp(cfg->cgroups_root, ".") ||
	    !strcmp(cfg->cgroups_root, ".."))
		return err_set(e,
		               "--cgroups-root: must be one path component, "
		               "got '%s'",
		               cfg->cgroups_root ? cfg->cgroups_root : "");
	if (cfg->port_file && !*cfg->port_file)
		return err_set(e, "--port-file: must not be empty");
	if (cfg->work_dir && !*cfg->work_dir)
		return err_set(e, "--work-dir: must not be empty");
	if (cfg->status_update_retry_interval_max <
	    cfg->status_update_retry_interval)
		return err_set(e, "--status-update-retry-interval-max: must "
		                  "be >= --status-update-retry-interval");
	return 0;
}

void agent_config_release(struct agent_config *cfg)
{
	flags_release(agent_flags, ARRAY_SIZE(agent_flags), cfg);
}

void agent_config_usage(FILE *out)
{
	flags_usage(out, "atoll agent",
	            "Runs an agent: advertises this machine's resources to "
	            "the master, runs executors in sandboxes, relays their "
	            "status updates reliably, serves the Mesos v1 executor "
	            "API.",
	            agent_flags, ARRAY_SIZE(agent_flags));
}

void agent_config_write(const struct agent_config *cfg, struct jsonw *w,
                        bool as_list)
{
	if (as_list)
		flags_write_list(w, agent_flags, ARRAY_SIZE(agent_flags), cfg);
	else
		flags_write_map(w, agent_flags, ARRAY_SIZE(agent_flags), cfg);
}

/* One isolator name and what it turns on. */
struct isolator_name {
	const char *name;
	enum agent_cgroups_mode cgroups; /* AUTO = no opinion */
	bool pid_ns, private_tmp, disk;
};

static const struct isolator_name isolators[] = {
    {"posix", AGENT_CGROUPS_OFF, false, false, false},
    {"posix/cpu", AGENT_CGROUPS_OFF, false, false, false},
    {"posix/mem", AGENT_CGROUPS_OFF, false, false, false},
    /* Mesos's old name of disk/du, a posix isolator. */
    {"posix/disk", AGENT_CGROUPS_OFF, false, false, true},
    {"filesystem/posix", AGENT_CGROUPS_OFF, false, false, false},
    {"cgroups", AGENT_CGROUPS_ON, false, false, false},
    {"cgroups/cpu", AGENT_CGROUPS_ON, false, false, false},
    {"cgroups/mem", AGENT_CGROUPS_ON, false, false, false},
    {"cgroups/pids", AGENT_CGROUPS_ON, false, false, false},
    {"cgroups/all", AGENT_CGROUPS_ON, false, false, false},
    {"disk/du", AGENT_CGROUPS_AUTO, false, false, true},
    {"namespaces/pid", AGENT_CGROUPS_AUTO, true, false, false},
    {"filesystem/linux", AGENT_CGROUPS_AUTO, false, true, false},
};

int agent_isolation_parse(const char *text, struct agent_isolation *out,
                          struct err *e)
{
	const char *p = text, *posix = NULL, *cgroups = NULL;
	size_t posix_len = 0, cgroups_len = 0;
	bool named = false; /* a Mesos isolator name (with a '/') */

	memset(out, 0, sizeof(*out));
	out->cgroups = AGENT_CGROUPS_AUTO;
	out->disk = true;
	if (!text)
		return 0;
	out->disk = false;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const struct isolator_name *found = NULL;

		while (len > 0 && *p == ' ') {
			p++;
			len--;
		}
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == 0)
			return err_set(e, "--isolation: empty item in '%s'",
			               text);
		for (size_t i = 0; i < ARRAY_SIZE(isolators); i++)
			if (strlen(isolators[i].name) == len &&
			    !memcmp(isolators[i].name, p, len))
				found = &isolators[i];
		if (!found)
			return err_set(
			    e,
			    "--isolation: unknown isolator '%.*s' "
			    "(known: posix, cgroups, cgroups/cpu, "
			    "cgroups/mem, cgroups/pids, cgroups/all, "
			    "posix/cpu, posix/mem, posix/disk, "
			    "filesystem/posix, disk/du, namespaces/pid, "
			    "filesystem/linux)",
			    (int)len, p);
		if (found->cgroups == AGENT_CGROUPS_OFF && !posix) {
			posix = p;
			posix_len = len;
		} else if (found->cgroups == AGENT_CGROUPS_ON && !cgroups) {
			cgroups = p;
			cgroups_len = len;
		}
		out->pid_ns |= found->pid_ns;
		out->private_tmp |= found->private_tmp;
		out->disk |= found->disk;
		named |= strchr(found->name, '/') != NULL;
		if (!comma)
			break;
		p = comma + 1;
	}
	if (posix && cgroups)
		return err_set(e,
		               "--isolation: '%.*s' and '%.*s' contradict each "
		               "other (posix means no cgroups)",
		               (int)posix_len, posix, (int)cgroups_len,
		               cgroups);
	/* The bare words choose the cgroups only: disk/du stays on. */
	if (!named)
		out->disk = true;
	out->cgroups = cgroups ? AGENT_CGROUPS_ON
	               : posix ? AGENT_CGROUPS_OFF
	                       : AGENT_CGROUPS_AUTO;
	return 0;
}

char *agent_isolation_executor_env(const struct agent_isolation *iso)
{
	return xasprintf("%s%s%s", iso->pid_ns ? "namespaces/pid" : "",
	                 iso->pid_ns && iso->private_tmp ? "," : "",
	                 iso->private_tmp ? "filesystem/linux" : "");
}

char *agent_default_work_dir(uid_t euid, const char *home)
{
	if (euid == 0)
		return xstrdup("/var/lib/atoll/agent");
	if (home && *home)
		return xasprintf("%s/.atoll/agent", home);
	return xstrdup("./.atoll/agent");
}

void agent_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Validates one "host:port" (after an optional http:// and before an
 * optional path) and appends it to *out. */
static int master_item(const char *item, size_t len, char ***out, size_t *n,
                       size_t *cap, struct err *e)
{
	const char *colon, *slash;
	unsigned long port = 0;

	while (len > 0 && (*item == ' ' || *item == '\t')) {
		item++;
		len--;
	}
	while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
		len--;
	if (len == 0)
		return err_set(e, "--master: empty address in the list");
	if (len >= 5 && !strncasecmp(item, "zk://", 5))
		return err_set(e, "--master: a zk:// URL must be the whole "
		                  "--master value, not one item of a list");
	if (len >= 7 && !strncmp(item, "http://", 7)) {
		item += 7;
		len -= 7;
	}
	slash = memchr(item, '/', len);
	if (slash)
		len = (size_t)(slash - item);
	colon = NULL;
	for (size_t i = len; i > 0; i--) {
		if (item[i - 1] == ':') {
			colon = item + i - 1;
			break;
		}
	}
	if (!colon || colon == item)
		return err_set(e, "--master: expected host:port, got '%.*s'",
		               (int)len, item);
	for (const char *p = colon + 1; p < item + len; p++) {
		if (*p < '0' || *p > '9' || port > 65535) {
			port = 0;
			break;
		}
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		return err_set(e, "--master: bad port in '%.*s' (1-65535)",
		               (int)len, item);
	ALLOC_GROW(*out, *n + 1, *cap);
	(*out)[(*n)++] = xstrndup(item, len);
	return 0;
}

int agent_parse_masters(const char *text, char ***out, size_t *n, struct err *e)
{
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	const char *p = text;

	*out = NULL;
	*n = 0;
	if (!text || !*text)
		return err_set(e, "--master: required");
	if (zk_url_is_zk(text)) {
		/* The leader is read from ZooKeeper: the one item is the
		 * URL itself (its host list has commas of its own). */
		struct zk_url url;
		int rc = zk_url_parse(text, &url, e);
		if (rc)
			return err_prefix(e, "--master");
		zk_url_release(&url);
		v = xmalloc(sizeof(*v));
		v[0] = xstrdup(text);
		*out = v;
		*n = 1;
		return 0;
	}
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		int rc = master_item(p, len, &v, &cnt, &cap, e);
		if (rc) {
			agent_strv_free(v, cnt);
			return rc;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* True when r has any resource called name. */
static bool has_resource(const struct resources *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].name, name))
			return true;
	return false;
}

/* Mesos's rule: total - reserve, or half when total < 2 * reserve. */
static double detected_mb(uint64_t total_bytes, double reserve_bytes)
{
	double total = (double)total_bytes;
	double v =
	    total >= 2 * reserve_bytes ? total - reserve_bytes : total / 2;
	return (double)(uint64_t)(v / MB); /* whole megabytes */
}

int agent_resources_build(struct resources *out, const char *text,
                          const struct agent_machine *m, struct err *e)
{
	struct buf extra = BUF_INIT;
	int rc = 0;

	if (text && *text && (rc = resources_parse_text(out, text, NULL, e)))
		return err_prefix(e, "--resources");
	if (!has_resource(out, "cpus"))
		buf_addf(&extra, "cpus:%ld;", m->cpus > 0 ? m->cpus : 1);
	if (!has_resource(out, "mem"))
		buf_addf(&extra, "mem:%.0f;", detected_mb(m->mem_bytes, GB));
	if (!has_resource(out, "disk"))
		buf_addf(&extra, "disk:%.0f;",
		         detected_mb(m->disk_bytes, 5 * GB));
	if (!has_resource(out, "ports"))
		buf_adds(&extra, "ports:[31000-32000];");
	if (extra.len) {
		extra.data[--extra.len] = '\0'; /* the last ';' */
		rc = resources_parse_text(out, extra.data, NULL, e);
		if (rc)
			err_prefix(e, "detected resources '%s'", extra.data);
	}
	buf_release(&extra);
	return rc;
}

int agent_machine_detect(struct agent_machine *m, const char *work_dir,
                         struct err *e)
{
	struct statvfs vfs;
	long pages, page;

	m->cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (m->cpus < 1)
		m->cpus = 1;
	pages = sysconf(_SC_PHYS_PAGES);
	page = sysconf(_SC_PAGESIZE);
	m->mem_bytes =
	    pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
	if (statvfs(work_dir, &vfs))
		return err_set(e, "cannot stat the filesystem of '%s': %s",
		               work_dir, strerror(errno));
	m->disk_bytes = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
	return 0;
}
