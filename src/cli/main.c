/* kvcert: the command-line entry point. Dispatches to one command. */
#include "cli/cli.h"
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
#define KVC__CMD_ROW(name, summary) {#name, summary, kvc_cmd_##name},
    KVC_COMMANDS(KVC__CMD_ROW)
#undef KVC__CMD_ROW
};

static void print_help(FILE *out)
{
    fprintf(out,
            "usage: kvcert COMMAND [OPTIONS...]\n"
            "       kvcert --help | --version\n"
            "\n"
            "Certifies KV-cache compression measurements for DeepSeek-V4-Flash,\n"
            "deterministically: the same bits on a CPU and on a GPU.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "'kvcert COMMAND --help' describes one command.\n"
            "\n"
            "Exit status:\n"
            "  0  success\n"
            "  1  a check failed (digest mismatch, a result off its golden value)\n"
            "  2  usage error (bad flag or argument)\n"
            "  3  bad input or I/O error (malformed file, unreadable path)\n"
            "Errors are printed as 'kvcert: error: <what>: <why>' on stderr.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return KVC_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_help(stdout);
        return KVC_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("kvcert %s\n", PACKAGE_VERSION);
        return KVC_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kvcert: error: unknown command '%s'\nTry 'kvcert --help'.\n", name);
    return KVC_EXIT_USAGE;
}
