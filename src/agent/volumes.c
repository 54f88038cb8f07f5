/*
 * volumes.c: persistent volumes and checkpointed resources on the agent
 * (API and on-disk layout in volumes.h).
 *
 * Source of truth. a->info.resources is the agent's total: the
 * --resources with the master's operations applied. The checkpoint file
 * holds its checkpointed part (dynamic reservations and volumes); the
 * total is rebuilt at start-up as resources_apply_checkpointed(
 * --resources, checkpoint). A volume exists on disk iff it is in the
 * total, except while a CHECKPOINT_RESOURCES is being applied:
 *
 *   CHECKPOINT_RESOURCES{resources}        (agent_volumes_on_checkpoint)
 *     new total = apply_checkpointed(total, resources)   (pure, may fail:
 *                                                         logged, ignored)
 *     mkdir the volumes the new total adds                (CREATE)
 *     write the checkpoint (temp, fsync, rename, fsync dir)
 *     a->info.resources = new total
 *     rm -r the volumes it dropped, unless a live task uses one (DESTROY)
 *
 * A crash before the checkpoint is written leaves at worst an empty new
 * directory (created again, harmlessly, when the master resends); a crash
 * after it leaves at worst a dropped volume's directory behind, never a
 * volume in the checkpoint without its directory.
 *
 * Mounts: agent_volumes_mount() bind-mounts each volume of a task into its
 * sandbox before the executor starts; agent_volumes_unmount() undoes it
 * after the executor exits. Mount points are resolved with realpath() and
 * must stay inside the sandbox, so a symlink planted in a sandbox cannot
 * redirect a volume elsewhere.
 */
#include "lib/compat.h"
#include "agent/volumes.h"

#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "agent/agent_int.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/jsonw.h"
#include "lib/log.h"

#define VOLUMES_LOG "agent"

/* ---- paths --------------------------------------------------------------- */

char *agent_volumes_path(const char *work_dir, const char *role,
                         const char *persistence_id)
{
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s/volumes/roles/", work_dir);
	for (const char *p = role; *p; p++) {
		if (*p == '%')
			buf_adds(&b, "%25");
		else if (*p == '/')
			buf_adds(&b, "%2F");
		else
			buf_addc(&b, *p);
	}
	buf_addf(&b, "/%s", persistence_id);
	return buf_detach(&b, NULL);
}

char *agent_volumes_host_path(const char *work_dir, const struct resource *r)
{
	if (!resource_is_persistent_volume(r))
		return NULL;
	return agent_volumes_path(work_dir, r->role, r->persistence_id);
}

/* ---- directories --------------------------------------------------------- */

int agent_volumes_create(const char *work_dir, const struct resources *res,
                         struct err *e)
{
	for (size_t i = 0; i < res->n; i++) {
		char *dir = agent_volumes_host_path(work_dir, &res->v[i]);
		int rc;

		if (!dir)
			continue;
		rc = agent_mkdirs(dir);
		if (rc) {
			err_set(e, "cannot create volume directory '%s': %s",
			        dir, strerror(-rc));
			free(dir);
			return rc;
		}
		free(dir);
	}
	return 0;
}

void agent_volumes_destroy(const char *work_dir, const struct resources *res)
{
	for (size_t i = 0; i < res->n; i++) {
		char *dir = agent_volumes_host_path(work_dir, &res->v[i]);
		if (dir)
			agent_remove_tree(dir);
		free(dir);
	}
}

/* ---- mounts -------------------------------------------------------------- */

/* True when path is dir itself or below it. */
static bool path_is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/* Bind-mounts the volume r (of index idx) into sandbox (resolved). */
static int volume_mount_one(const char *work_dir, const char *sandbox,
                            const struct resource *r, struct err *e)
{
	char *host = agent_volumes_host_path(work_dir, r);
	char *target = xasprintf("%s/%s", sandbox, r->container_path);
	char real[PATH_MAX];
	struct stat st;
	int rc = 0;

	if (stat(host, &st) || !S_ISDIR(st.st_mode)) {
		rc = -ENOENT;
		err_set(e, "volume '%s' of role '%s': no directory '%s'",
		        r->persistence_id, r->role, host);
		goto out;
	}
	if ((rc = agent_mkdirs(target))) {
		err_set(e, "volume '%s': cannot create mount point '%s': %s",
		        r->persistence_id, target, strerror(-rc));
		goto out;
	}
	if (!realpath(target, real) || !path_is_under(real, sandbox) ||
	    !strcmp(real, sandbox)) {
		rc = -EPERM;
		err_set(e,
		        "volume '%s': mount point '%s' leaves the sandbox",
		        r->persistence_id, r->container_path);
		goto out;
	}
	if (mount(host, real, NULL, MS_BIND, NULL)) {
		rc = -errno;
		err_set(e, "volume '%s': cannot bind-mount '%s' on '%s': %s",
		        r->persistence_id, host, real, strerror(errno));
		goto out;
	}
	if (r->volume_ro &&
	    mount(NULL, real, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL)) {
		rc = -errno;
		err_set(e, "volume '%s': cannot make '%s' read-only: %s",
		        r->persistence_id, real, strerror(errno));
		umount2(real, MNT_DETACH);
		goto out;
	}
out:
	free(host);
	free(target);
	return rc;
}

static void volume_unmount_one(const char *sandbox, const struct resource *r)
{
	char *target = xasprintf("%s/%s", sandbox, r->container_path);

	if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) && errno != EINVAL &&
	    errno != ENOENT)
		log_warn(VOLUMES_LOG, "volume=%s cannot unmount '%s': %s",
		         r->persistence_id, target, strerror(errno));
	free(target);
}

int agent_volumes_mount(const char *work_dir, const char *sandbox,
                        const struct resources *res, struct err *e)
{
	char real[PATH_MAX];
	size_t i;
	int rc = 0;

	if (!realpath(sandbox, real))
		return err_set(e, "cannot resolve sandbox '%s': %s", sandbox,
		               strerror(errno));
	for (i = 0; i < res->n; i++) {
		if (!resource_is_persistent_volume(&res->v[i]))
			continue;
		if ((rc = volume_mount_one(work_dir, real, &res->v[i], e)))
			break;
	}
	if (!rc)
		return 0;
	while (i-- > 0)
		if (resource_is_persistent_volume(&res->v[i]))
			volume_unmount_one(real, &res->v[i]);
	return rc;
}

void agent_volumes_unmount(const char *sandbox, const struct resources *res)
{
	char real[PATH_MAX];

	if (!realpath(sandbox, real))
		return; /* no sandbox, nothing mounted in it */
	for (size_t i = res->n; i-- > 0;)
		if (resource_is_persistent_volume(&res->v[i]))
			volume_unmount_one(real, &res->v[i]);
}

/* ---- checkpoint ---------------------------------------------------------- */

int agent_volumes_save(const char *meta_dir, const struct resources *total,
                       struct err *e)
{
	char *path = xasprintf("%s/%s", meta_dir, AGENT_VOLUMES_CKPT);
	char *dir = xasprintf("%s/resources", meta_dir);
	struct resources ckpt;
	struct buf b = BUF_INIT;
	struct jsonw w;
	int rc;

	resources_init(&ckpt);
	resources_checkpointed(&ckpt, total);
	jsonw_init(&w, &b);
	resources_write_json(&w, &ckpt);
	buf_addc(&b, '\n');
	if ((rc = agent_mkdirs(dir))) {
		err_set(e, "cannot create '%s': %s", dir, strerror(-rc));
		goto out;
	}
	rc = agent_write_file_atomic(path, b.data, b.len, e);
out:
	resources_release(&ckpt);
	buf_release(&b);
	free(path);
	free(dir);
	return rc;
}

int agent_volumes_load(const char *meta_dir, struct resources *ckpt,
                       struct err *e)
{
	char *path = xasprintf("%s/%s", meta_dir, AGENT_VOLUMES_CKPT);
	struct buf b = BUF_INIT;
	json_error_t jerr;
	json_t *arr = NULL;
	int rc;

	if ((rc = agent_read_file(path, &b))) {
		if (rc != -ENOENT)
			err_set(e, "cannot read '%s': %s", path,
			        strerror(-rc));
		goto out;
	}
	arr = json_loadb(b.data ? b.data : "", b.len, 0, &jerr);
	if (!arr) {
		rc = err_set(e, "'%s' is damaged: line %d: %s", path,
		             jerr.line, jerr.text);
		goto out;
	}
	if ((rc = resources_from_json(ckpt, arr, e)))
		err_prefix(e, "'%s' is damaged", path);
out:
	json_decref(arr);
	buf_release(&b);
	free(path);
	return rc;
}

int agent_volumes_recover(struct agent *a, struct err *e)
{
	struct resources ckpt;
	int rc;

	resources_init(&ckpt);
	rc = agent_volumes_load(a->meta_dir, &ckpt, e);
	if (rc == -ENOENT) {
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	if ((rc = resources_apply_checkpointed(&a->info.resources, &ckpt,
	                                       e))) {
		err_prefix(e, "'%s/%s' no longer fits --resources",
		           a->meta_dir, AGENT_VOLUMES_CKPT);
		goto out;
	}
	for (size_t i = 0; i < ckpt.n; i++) {
		char *dir = agent_volumes_host_path(a->cfg.work_dir, &ckpt.v[i]);
		struct stat st;
		if (dir && (stat(dir, &st) || !S_ISDIR(st.st_mode)))
			log_warn(VOLUMES_LOG,
			         "volume=%s role=%s directory '%s' is missing",
			         ckpt.v[i].persistence_id, ckpt.v[i].role, dir);
		free(dir);
	}
	log_info(VOLUMES_LOG, "resources=%zu checkpointed resources recovered",
	         ckpt.n);
out:
	resources_release(&ckpt);
	return rc;
}

/* ---- CHECKPOINT_RESOURCES ----------------------------------------------- */

/* Appends to out the volumes of a that b does not hold (by role and id). */
static void volumes_missing(struct resources *out, const struct resources *a,
                            const struct resources *b)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct resource *x = &a->v[i];
		bool found = false;

		if (!resource_is_persistent_volume(x))
			continue;
		for (size_t k = 0; k < b->n && !found; k++)
			found = streq(b->v[k].persistence_id,
			              x->persistence_id) &&
			        streq(b->v[k].role, x->role);
		if (!found) {
			struct resources one = {(struct resource *)x, 1, 1};
			resources_add(out, &one);
		}
	}
}

/* The id of a live task of a that uses the volume v, or NULL. */
static const char *volume_user(struct agent *a, const struct resource *v)
{
	struct hmap_node *fn, *ftmp, *tn, *ttmp;
	size_t i, k;

	HMAP_FOR_EACH_SAFE(&a->frameworks, i, fn, ftmp)
	{
		struct agent_framework *fw =
		    container_of(fn, struct agent_framework, node);
		HMAP_FOR_EACH_SAFE(&fw->tasks, k, tn, ttmp)
		{
			struct agent_task *t =
			    container_of(tn, struct agent_task, node);
			if (task_state_is_terminal(agent_task_state(t)))
				continue;
			for (size_t j = 0; j < t->resources.n; j++)
				if (streq(t->resources.v[j].persistence_id,
				          v->persistence_id) &&
				    streq(t->resources.v[j].role, v->role))
					return t->id;
		}
	}
	return NULL;
}

void agent_volumes_on_checkpoint(struct agent *a, const json_t *payload)
{
	const json_t *arr = json_object_get(payload, "resources");
	struct resources ckpt, total, added, dropped;
	struct err e = {{0}};

	resources_init(&ckpt);
	resources_init(&added);
	resources_init(&dropped);
	resources_copy(&total, &a->info.resources);
	if (!arr || resources_from_json(&ckpt, arr, &e)) {
		log_error(VOLUMES_LOG,
		          "bad CHECKPOINT_RESOURCES from the master ignored: "
		          "checkpoint_resources.%s",
		          arr ? e.msg : "resources: required field missing");
		goto out;
	}
	if (resources_apply_checkpointed(&total, &ckpt, &e)) {
		log_error(VOLUMES_LOG,
		          "CHECKPOINT_RESOURCES from the master ignored: %s",
		          e.msg);
		goto out;
	}
	volumes_missing(&added, &total, &a->info.resources);
	volumes_missing(&dropped, &a->info.resources, &total);
	if (agent_volumes_create(a->cfg.work_dir, &total, &e) ||
	    agent_volumes_save(a->meta_dir, &total, &e)) {
		log_error(VOLUMES_LOG,
		          "CHECKPOINT_RESOURCES not applied: %s", e.msg);
		goto out;
	}
	resources_release(&a->info.resources);
	a->info.resources = total;
	resources_init(&total);
	for (size_t i = 0; i < added.n; i++)
		log_info(VOLUMES_LOG, "volume=%s role=%s created",
		         added.v[i].persistence_id, added.v[i].role);
	for (size_t i = 0; i < dropped.n; i++) {
		const struct resource *v = &dropped.v[i];
		const char *user = volume_user(a, v);
		struct resources one = {(struct resource *)v, 1, 1};

		if (user) {
			log_error(VOLUMES_LOG,
			          "volume=%s role=%s destroyed while task '%s' "
			          "uses it: its directory is kept",
			          v->persistence_id, v->role, user);
			continue;
		}
		agent_volumes_destroy(a->cfg.work_dir, &one);
		log_info(VOLUMES_LOG, "volume=%s role=%s destroyed",
		         v->persistence_id, v->role);
	}
out:
	resources_release(&ckpt);
	resources_release(&total);
	resources_release(&added);
	resources_release(&dropped);
}
