/* kvcert CLI: the code `kvcert audit` and `kvcert sweep` share
 * (cmd_audit.c). */
#ifndef KVC_CLI_AUDIT_CLI_H
#define KVC_CLI_AUDIT_CLI_H

/* Parses the options of `kvcert audit` (sweep = 0) or `kvcert sweep`
 * (sweep = 1), runs it and returns the exit status. */
int kvc__cli_audit_main(int sweep, int argc, char **argv);

#endif
