/*
 * executor.h: the command executor, `atoll executor`, started by the agent
 * once per command task. It speaks the Mesos v1 executor API to the agent
 * (MESOS_AGENT_ENDPOINT) and supervises one task.
 */
#ifndef ATOLL_EXECUTOR_H
#define ATOLL_EXECUTOR_H

int executor_main(int argc, char **argv);

#endif
