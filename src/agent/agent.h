/*
 * agent.h: the agent role. Advertises a machine's resources to the master,
 * runs executors in sandboxes, relays status updates reliably.
 */
#ifndef ATOLL_AGENT_H
#define ATOLL_AGENT_H

/* `atoll agent [flags]`: parses flags, runs until SIGINT/SIGTERM. */
int agent_main(int argc, char **argv);

#endif
