/* kvcert dequant: one tensor of a safetensors file as binary32, written to
 * a new safetensors file (SPEC.md section 3). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "io/safetensors.h"
#include "v4/dequant.h"

static void dequant_help(FILE *out)
{
    fprintf(out,
            "usage: kvcert dequant FILE TENSOR --out OUT.safetensors\n"
            "\n"
            "Reads tensor TENSOR of the safetensors file FILE as binary32 and writes it\n"
            "to OUT as one F32 tensor of the same name and shape:\n"
            "  F8_E4M3       dequantized with its F8_E8M0 scale tensor (X.weight ->\n"
            "                X.scale, one power of two per 128x128 tile), exactly:\n"
            "                W = e4m3(w) * 2^(s - 127)\n"
            "  BF16, F16     widened exactly\n"
            "  F32           copied\n"
            "Other dtypes are refused. OUT's __metadata__ records the source file (as\n"
            "given) and tensor. OUT is written to a temporary name and renamed, so a\n"
            "failed run leaves nothing; an existing OUT is replaced.\n"
            "\n"
            "Options:\n"
            "  -o, --out OUT   output file (required)\n"
            "  -h, --help      show this help\n"
            "\n"
            "Exit status: 0 written, 2 usage error, 3 bad input (malformed file, missing\n"
            "tensor or scale, wrong dtype or shape) or an I/O error.\n");
}

static kvc_status write_f32(const char *out, const char *file, const kvc_tensor_view *v,
                            const float *data, kvc_error *err)
{
    kvc_st_writer *w = kvc_st_writer_create();
    if (w == NULL)
        return kvc_error_set(err, KVC_NOMEM, "writer");
    kvc_status st;
    if ((st = kvc_st_writer_add(w, v->name, KVC_DT_F32, v->ndim, v->shape, data, err)) ==
            KVC_OK &&
        (st = kvc_st_writer_set_metadata(w, "generator", "kvcert dequant", err)) == KVC_OK &&
        (st = kvc_st_writer_set_metadata(w, "source_file", file, err)) == KVC_OK &&
        (st = kvc_st_writer_set_metadata(w, "source_tensor", v->name, err)) == KVC_OK)
        st = kvc_st_writer_write(w, out, err);
    kvc_st_writer_destroy(w);
    return st;
}

int kvc_cmd_dequant(int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'h':
            dequant_help(stdout);
            return KVC_EXIT_OK;
        case ':':
            return kvc_cli_usage_error("dequant", "option '%s' needs a value",
                                       argv[optind - 1]);
        default:
            return kvc_cli_usage_error("dequant", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return kvc_cli_usage_error("dequant", "expected FILE and TENSOR, got %d argument%s",
                                   argc - optind, argc - optind == 1 ? "" : "s");
    if (out == NULL || *out == '\0')
        return kvc_cli_usage_error("dequant", "--out OUT.safetensors is required");
    const char *file = argv[optind], *name = argv[optind + 1];

    kvc_error err;
    kvc_error_clear(&err);
    kvc_st_file *f = NULL;
    float *data = NULL;
    int64_t shape[2];
    kvc_status st = kvc_st_open(file, &f, &err);
    if (st == KVC_OK)
        st = kvc_dequant_tensor(f, name, &data, shape, &err);
    if (st == KVC_OK)
        st = write_f32(out, file, kvc_st_find(f, name), data, &err);
    free(data);
    if (f != NULL)
        kvc_st_close(f);
    return st == KVC_OK ? KVC_EXIT_OK : kvc_cli_fail("dequant", &err);
}
