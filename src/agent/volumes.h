/*
 * volumes.h: persistent volumes and checkpointed resources on the agent.
 *
 * A persistent volume is a disk resource with a persistence id (see
 * model/resources.h). Its data lives outside every sandbox, in
 *   <work_dir>/volumes/roles/<role>/<persistence id>
 * where <role> is the role with '%' written "%25" and '/' written "%2F"
 * (so hierarchical roles do not nest into each other's volumes). The
 * directory is created when the master sends a CHECKPOINT_RESOURCES that
 * adds the volume (CREATE), is bind-mounted into the sandbox of each task
 * that uses the volume, outlives the tasks, and is deleted only when a
 * CHECKPOINT_RESOURCES drops it (DESTROY). Directories are owned by root
 * with mode 0755: a task running as another user can read but not write
 * its volume unless the launcher hands the directory over (left to the
 * launch path, which knows the user).
 *
 * The agent's checkpointed resources (dynamic reservations and volumes)
 * are written to <work_dir>/meta/resources/resources.info (a JSON array
 * of v1 Resource objects; temp file, fsync, rename, fsync of the
 * directory) before any directory is deleted, and are applied to the
 * --resources at start-up by agent_volumes_recover(), so that an agent
 * restart keeps them and reports them in agent_info.resources.
 */
#ifndef ATOLL_AGENT_VOLUMES_H
#define ATOLL_AGENT_VOLUMES_H

#include <jansson.h>

#include "model/resources.h"

struct agent;
struct err;

/* The checkpoint file under the agent's meta directory. */
#define AGENT_VOLUMES_CKPT "resources/resources.info"

/*
 * The host directory of the volume persistence_id of role (heap string):
 * <work_dir>/volumes/roles/<escaped role>/<persistence_id>.
 */
char *agent_volumes_path(const char *work_dir, const char *role,
                         const char *persistence_id);
/* The host directory of r when r is a persistent volume, else NULL. */
char *agent_volumes_host_path(const char *work_dir, const struct resource *r);

/*
 * Creates the directory of every persistent volume in res (and its
 * parents; mode 0755; an existing one is kept with its data). Returns 0
 * or a negative errno with e naming the directory.
 */
int agent_volumes_create(const char *work_dir, const struct resources *res,
                         struct err *e) MUST_CHECK;
/* Deletes the directory (and data) of every persistent volume in res. */
void agent_volumes_destroy(const char *work_dir, const struct resources *res);

/*
 * Bind-mounts each persistent volume of res (a task's resources) at
 * <sandbox>/<container_path>, creating the mount point, read-only for
 * mode RO. Call it after the sandbox exists and before the executor
 * starts. The mount point must stay inside the sandbox (a symlink out of
 * it is refused). All or nothing: on error the volumes mounted so far are
 * unmounted. Returns 0 or a negative errno with e naming the volume
 * (-ENOENT when its directory is missing, -EPERM without privilege).
 */
int agent_volumes_mount(const char *work_dir, const char *sandbox,
                        const struct resources *res,
                        struct err *e) MUST_CHECK;
/*
 * Unmounts the volumes of res from the sandbox (lazily, so a process
 * still holding a file cannot block it); mount points that are not
 * mounted are ignored. Call it once the executor has exited.
 */
void agent_volumes_unmount(const char *sandbox, const struct resources *res);

/*
 * Writes the checkpointed part (resources_checkpointed) of total to
 * <meta_dir>/AGENT_VOLUMES_CKPT atomically. Returns 0 or a negative errno
 * with e set.
 */
int agent_volumes_save(const char *meta_dir, const struct resources *total,
                       struct err *e) MUST_CHECK;
/*
 * Reads the checkpointed resources into ckpt (appended). Returns 0,
 * -ENOENT when there is no checkpoint, or -EINVAL with e naming the file
 * when it is damaged.
 */
int agent_volumes_load(const char *meta_dir, struct resources *ckpt,
                       struct err *e) MUST_CHECK;

/*
 * Start-up: applies the checkpointed resources to a->info.resources (the
 * --resources just built), so that the agent reports them when it
 * registers. Call after the resources are built and before subscribing.
 * Returns 0 (also without a checkpoint), or a negative errno with e
 * naming the file when it is damaged or no longer fits the --resources.
 */
int agent_volumes_recover(struct agent *a, struct err *e) MUST_CHECK;

/*
 * The master's CHECKPOINT_RESOURCES event ({"resources": [the agent's
 * whole checkpointed set]}): the new total is computed from the current
 * one, new volumes get their directories, the checkpoint is written, and
 * only then are the directories of dropped volumes deleted (one still
 * used by a live task is kept and logged). A payload that is invalid or
 * does not fit is logged and ignored.
 */
void agent_volumes_on_checkpoint(struct agent *a, const json_t *payload);

#endif
