/* kvcert CLI: the command table. Each command lives in src/cli/cmd_<name>.c
 * as `int kvc_cmd_<name>(int argc, char **argv)` and returns an exit status. */
#ifndef KVC_CLI_COMMANDS_H
#define KVC_CLI_COMMANDS_H

/* X(name, one-line summary) */
#define KVC_COMMANDS(X)                                                        \
    X(devices, "list the compute backends this build and machine offer")       \
    X(inspect, "validate a safetensors file and list its tensors")             \
    X(verify, "check files against a SHA-256 manifest")                        \
    X(dequant, "write one tensor of a safetensors file as F32 (FP8 dequantized)")\
    X(synth, "write synthetic V4-shaped shards, host hidden states and manifest")\
    X(streams, "run the V4 KV write path: shards + hidden states -> KV streams")\
    X(codec, "encode KV vectors to a real E8/D4 bitstream (.kvcl) and back")   \
    X(aggregate, "recompute (and --check) a report's aggregates across passages")\
    X(equiv, "compare the CPU and CUDA backends byte for byte (a test: 77 = skip)")\
    X(audit, "streams -> audit, E8/D4 codecs and FP8 baselines -> a checked report")\
    X(sweep, "streams -> the Q-sweep of E8 vs FP8: thresholds and max usable CR")\
    X(certify, "run the conformance cases: golden data, must-fail inputs, real runs") \
    /* one row per command, each line ending in a backslash */

#define KVC__CMD_DECL(name, summary) int kvc_cmd_##name(int argc, char **argv);
KVC_COMMANDS(KVC__CMD_DECL)
#undef KVC__CMD_DECL

#endif
