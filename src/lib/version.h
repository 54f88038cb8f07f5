/* version.h: Atoll's version, reported by /version and GET_VERSION. */
#ifndef ATOLL_VERSION_H
#define ATOLL_VERSION_H

#define ATOLL_VERSION "0.1.0"
/* The Mesos release whose v1 API Atoll speaks. */
#define ATOLL_MESOS_API_VERSION "1.11.0"

struct jsonw;

/* Writes VersionInfo {version, mesos_api_version, build_date, build_time
 * (seconds since the epoch), build_user, git_sha} as Mesos's /version. */
void version_write_info(struct jsonw *w);

#endif
