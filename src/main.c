/*
 * main.c: the one binary. `atoll <role|verb> [flags]` dispatches to the
 * role's or verb's entry point; each reads its own flags.
 *
 * "agent" is both a role (`atoll agent --master ...`) and a noun of the
 * CLI (`atoll agent gone ID`): the second word decides.
 */
#include "lib/compat.h"
#include "lib/version.h"
#include "master/master.h"
#include "agent/agent.h"
#include "executor/executor.h"
#include "cli/cli.h"
#include "services/services.h"
#include "up/up.h"

#include <signal.h>

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
    {"master", master_main, "run a master (cluster state, offers, APIs)"},
    {"agent", agent_main, "run an agent (resources, executors, sandboxes)"},
    {"executor", executor_main, "the command executor (started by the agent)"},
    {"services", services_main,
     "run the services framework (Marathon v2 API on port 8080)"},
    {"up", up_main, "run a local cluster (a master and agents)"},
    {"agents", cli_agents_main, "list the agents"},
    {"frameworks", cli_frameworks_main, "list the frameworks"},
    {"tasks", cli_tasks_main, "list the tasks"},
    {"roles", cli_roles_main, "list the roles"},
    {"task", cli_task_main, "task logs TASK [-f] | task kill TASK"},
    {"framework", cli_framework_main, "framework teardown ID"},
    {"events", cli_events_main, "follow the master's event stream"},
    {"run", cli_run_main, "run a command on the cluster: run -- CMD..."},
    {"app", cli_app_main,
     "services apps: app deploy|ls|show|scale|restart|rm ..."},
    {"deployment", cli_deployment_main,
     "services deployments: deployment ls|rollback ID"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: atoll <command> [flags]   (atoll <command> "
	             "--help for its flags)\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name,
		        commands[i].help);
	fprintf(out, "  %-10s %s\n", "agent gone",
	        "agent gone ID: mark an "
	        "agent gone for good");
	fprintf(out, "  %-10s %s\n", "version", "print the version");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("atoll %s (Mesos v1 API %s)\n", ATOLL_VERSION,
		       ATOLL_MESOS_API_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "agent") && argc > 2 && !strcmp(argv[2], "gone"))
		return cli_agent_main(argc - 2, argv + 2);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 2, argv + 2);
	fprintf(stderr, "atoll: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
