/* version.h: Atoll's version, reported by /version and GET_VERSION. */
#ifndef ATOLL_VERSION_H
#define ATOLL_VERSION_H

#define ATOLL_VERSION "0.1.0"
/* The Mesos release whose v1 API Atoll speaks. */
#define ATOLL_MESOS_API_VERSION "1.11.0"

#endif
