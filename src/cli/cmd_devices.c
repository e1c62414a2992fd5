/* kvcert devices: which compute backends this build and machine offer. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "kernels/cuda.h"

static void devices_help(FILE *out)
{
    fprintf(out,
            "usage: kvcert devices\n"
            "\n"
            "Lists the backends: the CPU reference (always) and each CUDA device\n"
            "this build can use. Exit 0 when the CUDA backend is usable, 77 when it\n"
            "was built but finds no device, 0 with a note when built without CUDA.\n");
}

int kvc_cmd_devices(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            devices_help(stdout);
            return KVC_EXIT_OK;
        }
        return kvc_cli_usage_error("devices", "unknown option");
    }
    if (optind != argc)
        return kvc_cli_usage_error("devices", "unexpected argument '%s'", argv[optind]);
    printf("cpu: reference backend\n");
    kvc_error err;
    kvc_error_clear(&err);
    int n = 0;
    kvc_status st = kvc_cuda_device_count(&n, &err);
    if (st == KVC_BACKEND_UNAVAILABLE) {
        printf("cuda: not built in\n");
        return KVC_EXIT_OK;
    }
    if (st != KVC_OK) {
        char buf[1024];
        printf("cuda: %s\n", kvc_error_format(&err, buf, sizeof buf));
        return kvc_status_exit_code(st);
    }
    for (int i = 0; i < n; i++) {
        char name[256];
        int major = 0, minor = 0;
        st = kvc_cuda_device_info(i, name, (int)sizeof name, &major, &minor, &err);
        if (st != KVC_OK)
            return kvc_cli_fail("devices", &err);
        printf("cuda:%d: %s (compute capability %d.%d)\n", i, name, major, minor);
    }
    return KVC_EXIT_OK;
}
