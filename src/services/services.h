/*
 * services.h: the services framework role, `atoll services` (Marathon v2
 * REST API on port 8080, state in <work-dir>/services.db). See
 * services.c for its design and docs/services.md for its API.
 */
#ifndef ATOLL_SERVICES_H
#define ATOLL_SERVICES_H

/* `atoll services [flags]`: parses flags, runs until SIGINT/SIGTERM. */
int services_main(int argc, char **argv);

#endif
