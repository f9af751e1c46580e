/* duet: the command-line front end (run, score, inspect, mkmodel). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct command {
	const char *name;
	int (*fn)(int, char **);
	const char *what;
} commands[] = {
	{ "run", cmd_run, "generate tokens from a prompt" },
	{ "bench", cmd_bench, "prompt and generation speed, like llama-bench" },
	{ "info", cmd_info, "Vulkan devices, capabilities, quirks, kernels" },
	{ "score", cmd_score, "teacher-forced top-k logits, NLL and perplexity" },
	{ "tokenize", cmd_tokenize, "text to token ids with the model's tokenizer" },
	{ "inspect", cmd_inspect, "show a GGUF file's metadata and tensors" },
	{ "mkmodel", cmd_mkmodel, "write a deterministic synthetic model" },
	{ "kv-sim", cmd_kvsim, "replay a workload through the KV-cache arbiter" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: duet <command> [options]   (duet <command> --help)\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
	fprintf(f, "\nduet %s\n", duet_version());
}

int main(int argc, char **argv)
{
	/* A closed pipe (duet run | head) is an ordinary end, not a crash. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	const char *cmd = argv[1];
	if (cli_is(cmd, "-h", "--help") || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	if (cli_is(cmd, "--version", "version")) {
		printf("duet %s\n", duet_version());
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "duet: error: unknown command '%s'\n", cmd);
	usage(stderr);
	return CLI_USAGE;
}
