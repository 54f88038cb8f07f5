/*
 * prometheus.h: the /metrics endpoint of every role, in Prometheus's text
 * exposition format (0.0.4), derived from the Mesos-style flat snapshot
 * ({"master/tasks_running": 3, ...}) so both always agree.
 */
#ifndef ATOLL_PROMETHEUS_H
#define ATOLL_PROMETHEUS_H

#include <stddef.h>

struct buf;

#define PROMETHEUS_CONTENT_TYPE "text/plain; version=0.0.4"

/*
 * Appends one gauge per numeric member of the JSON object snapshot (len
 * bytes): "master/tasks_running" becomes "atoll_master_tasks_running" (any
 * character outside [A-Za-z0-9_] becomes '_'). Non-numeric members and
 * unparsable input add nothing.
 */
void prometheus_from_snapshot(struct buf *out, const char *snapshot,
                              size_t len);

#endif
