/*
 * master.h: the master role. struct master holds the whole cluster state of
 * one master; several can live on one loop (atoll up, benchmarks).
 */
#ifndef ATOLL_MASTER_H
#define ATOLL_MASTER_H

#include <uv.h>

struct master;
struct master_config;
struct err;

/* `atoll master [flags]`: parses flags, runs until SIGINT/SIGTERM. */
int master_main(int argc, char **argv);

#endif
