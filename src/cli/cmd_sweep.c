/* kvcert sweep: the Q-sweep of E8 against fp8_per64 per stream (the
 * options, the run and the table live in cmd_audit.c). */
#include "cli/audit_cli.h"
#include "cli/commands.h"

int kvc_cmd_sweep(int argc, char **argv)
{
    return kvc__cli_audit_main(1, argc, argv);
}
