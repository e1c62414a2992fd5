/* kvcert codec: encode KV vectors to a real KakeyaLattice bitstream (.kvcl)
 * and decode it back. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "codec/kvcl.h"
#include "core/formats.h"
#include "io/safetensors.h"

static void codec_help(FILE *out)
{
    fprintf(out,
            "usage: kvcert codec encode --codec e8|d4 --q Q --in FILE.safetensors\n"
            "                           [--tensor NAME] --out FILE.kvcl\n"
            "       kvcert codec decode --in FILE.kvcl --out FILE.safetensors [--name NAME]\n"
            "\n"
            "encode reads a BF16 or F32 tensor of shape [..., D] (D a power of two, 8..4096\n"
            "for e8, 4..4096 for d4; leading dimensions are flattened into N vectors),\n"
            "runs the KakeyaLattice roundtrip of SPEC.md 7.2 and writes the real bitstream\n"
            "in kvcert's .kvcl container (format: src/codec/kvcl.h). Q is 1..%d. Without\n"
            "--tensor the file must hold exactly one tensor. It prints the accounted bits\n"
            "per vector (SPEC 7.2's formula) beside the realized ones (what the stream\n"
            "spends: 32 + (D/block) * ceil(log2(number of possible block outputs))) and\n"
            "the bytes written.\n"
            "\n"
            "decode reads a .kvcl file and writes the reconstruction as an F32 [N, D]\n"
            "tensor (named NAME, default x_hat) in a safetensors file. The result equals\n"
            "the roundtrip of the encoded input bit for bit.\n"
            "\n"
            "Outputs are written to a temporary name and renamed: a failed run leaves none.\n"
            "\n"
            "Exit status: 0 success, 2 usage error (bad flag, codec or Q), 3 unreadable or\n"
            "malformed input (wrong dtype or shape, or a damaged .kvcl file: BITSTREAM).\n",
            KVC_KAKEYA_BITSTREAM_Q_MAX);
}

/* Widened copy of the selected tensor: x[n][d]. */
static kvc_status load_vectors(const char *path, const char *name, float **x, size_t *n, int *d,
                               kvc_error *err)
{
    kvc_st_file *f = NULL;
    kvc_status st = kvc_st_open(path, &f, err);
    if (st != KVC_OK)
        return st;
    const kvc_tensor_view *v = NULL;
    if (name != NULL) {
        v = kvc_st_find(f, name);
        if (v == NULL)
            st = kvc_error_set(err, KVC_TENSOR_MISSING, "no tensor '%s'", name);
    } else if (kvc_st_count(f) == 1) {
        v = kvc_st_tensor(f, 0);
    } else {
        st = kvc_error_set(err, KVC_TENSOR_MISSING, "the file holds %zu tensors; name one with --tensor",
                           kvc_st_count(f));
    }
    if (st == KVC_OK && v->dtype != KVC_DT_BF16 && v->dtype != KVC_DT_F32)
        st = kvc_error_set(err, KVC_TENSOR_DTYPE, "dtype %s, expected BF16 or F32",
                           kvc_dtype_name(v->dtype));
    int64_t last = 0;
    if (st == KVC_OK) {
        last = v->ndim >= 1 ? v->shape[v->ndim - 1] : 0;
        if (v->ndim < 2 || last < 4 || last > KVC_HADAMARD_MAX_DIM ||
            kvc_hadamard_log2((int)last) < 0)
            st = kvc_error_set(err, KVC_TENSOR_SHAPE,
                               "expected [..., D] with D a power of two in 4..4096");
    }
    if (st != KVC_OK) {
        kvc_error_where(err, path, v != NULL ? v->name : NULL, -1);
        kvc_st_close(f);
        return st;
    }
    size_t count = (size_t)(v->numel / (uint64_t)last);
    float *buf = malloc((size_t)v->numel * sizeof *buf + 1);
    if (buf == NULL) {
        kvc_st_close(f);
        return kvc_error_set(err, KVC_NOMEM, "%llu elements", (unsigned long long)v->numel);
    }
    const unsigned char *src = v->data;
    for (uint64_t i = 0; i < v->numel; i++) {
        if (v->dtype == KVC_DT_F32) {
            memcpy(&buf[i], src + 4 * i, 4); /* little-endian host (configure checks) */
        } else {
            uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
            buf[i] = kvc_bf16_to_f32(h);
        }
    }
    kvc_st_close(f);
    *x = buf;
    *n = count;
    *d = (int)last;
    return KVC_OK;
}

static int codec_encode(int argc, char **argv)
{
    static const struct option opts[] = {{"codec", required_argument, NULL, 'c'},
                                         {"q", required_argument, NULL, 'q'},
                                         {"in", required_argument, NULL, 'i'},
                                         {"tensor", required_argument, NULL, 't'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *codec = NULL, *in = NULL, *out = NULL, *tensor = NULL;
    unsigned long long q = 0;
    int have_q = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': codec = optarg; break;
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 't': tensor = optarg; break;
        case 'q':
            if (kvc_cli_parse_u64(optarg, KVC_KAKEYA_BITSTREAM_Q_MAX, &q) != 0 || q == 0)
                return kvc_cli_usage_error("codec encode", "--q must be an integer in 1..%d",
                                           KVC_KAKEYA_BITSTREAM_Q_MAX);
            have_q = 1;
            break;
        case 'h': codec_help(stdout); return KVC_EXIT_OK;
        case ':':
            return kvc_cli_usage_error("codec encode", "option '%s' needs a value",
                                       argv[optind - 1]);
        default:
            return kvc_cli_usage_error("codec encode", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return kvc_cli_usage_error("codec encode", "unexpected argument '%s'", argv[optind]);
    if (codec == NULL || !have_q || in == NULL || out == NULL)
        return kvc_cli_usage_error("codec encode", "--codec, --q, --in and --out are required");
    int kind = kvc_codec_kind_from_name(codec);
    if (kind < 0)
        return kvc_cli_usage_error("codec encode", "unknown codec '%s' (e8 or d4)", codec);

    kvc_error err;
    kvc_error_clear(&err);
    float *x = NULL;
    size_t n = 0;
    int d = 0;
    kvc_status st = load_vectors(in, tensor, &x, &n, &d, &err);
    if (st != KVC_OK)
        return kvc_cli_fail("codec encode", &err);
    kvc_kakeya_params p;
    st = kvc_kakeya_params_init(&p, (kvc_codec_kind)kind, d, (int)q, &err);
    size_t bytes = 0;
    if (st == KVC_OK)
        st = kvc_kvcl_write_file(out, &p, x, n, &bytes, &err);
    free(x);
    if (st != KVC_OK)
        return kvc_cli_fail("codec encode", &err);
    printf("%s Q=%d D=%d: %zu vectors\n", codec, p.q, p.dim, n);
    printf("bits per vector: accounted %lld, realized %lld (%d bits per block of %d)%s\n",
           (long long)p.accounted_bits, (long long)p.vector_bits, p.block_bits, p.block,
           p.vector_bits > p.accounted_bits
               ? "\n  (the accounted size cannot hold every output the roundtrip can produce)"
               : "");
    printf("wrote %zu bytes to %s (%d-byte header, %zu-byte payload)\n", bytes, out,
           KVC_KVCL_HEADER_BYTES, bytes - KVC_KVCL_HEADER_BYTES);
    return KVC_EXIT_OK;
}

static int codec_decode(int argc, char **argv)
{
    static const struct option opts[] = {{"in", required_argument, NULL, 'i'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *in = NULL, *out = NULL, *name = "x_hat";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 'n': name = optarg; break;
        case 'h': codec_help(stdout); return KVC_EXIT_OK;
        case ':':
            return kvc_cli_usage_error("codec decode", "option '%s' needs a value",
                                       argv[optind - 1]);
        default:
            return kvc_cli_usage_error("codec decode", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return kvc_cli_usage_error("codec decode", "unexpected argument '%s'", argv[optind]);
    if (in == NULL || out == NULL)
        return kvc_cli_usage_error("codec decode", "--in and --out are required");
    if (name[0] == '\0' || strcmp(name, "__metadata__") == 0)
        return kvc_cli_usage_error("codec decode", "--name must be a tensor name");

    kvc_error err;
    kvc_error_clear(&err);
    kvc_kakeya_params p;
    uint64_t n = 0;
    float *x = NULL;
    kvc_status st = kvc_kvcl_read_file(in, &p, &n, &x, &err);
    if (st != KVC_OK)
        return kvc_cli_fail("codec decode", &err);
    kvc_st_writer *w = kvc_st_writer_create();
    if (w == NULL) {
        free(x);
        kvc_error_set(&err, KVC_NOMEM, "safetensors writer");
        return kvc_cli_fail("codec decode", &err);
    }
    int64_t shape[2] = {(int64_t)n, (int64_t)p.dim};
    char qs[16], ds[16];
    snprintf(qs, sizeof qs, "%d", p.q);
    snprintf(ds, sizeof ds, "%d", p.dim);
    st = kvc_st_writer_add(w, name, KVC_DT_F32, 2, shape, x, &err);
    if (st == KVC_OK)
        st = kvc_st_writer_set_metadata(w, "codec", kvc_codec_kind_name((kvc_codec_kind)p.kind),
                                        &err);
    if (st == KVC_OK)
        st = kvc_st_writer_set_metadata(w, "q", qs, &err);
    if (st == KVC_OK)
        st = kvc_st_writer_set_metadata(w, "d", ds, &err);
    if (st == KVC_OK)
        st = kvc_st_writer_write(w, out, &err);
    kvc_st_writer_destroy(w);
    free(x);
    if (st != KVC_OK)
        return kvc_cli_fail("codec decode", &err);
    printf("%s Q=%d D=%d: decoded %llu vectors to %s (F32 [%llu, %d] '%s')\n",
           kvc_codec_kind_name((kvc_codec_kind)p.kind), p.q, p.dim, (unsigned long long)n, out,
           (unsigned long long)n, p.dim, name);
    return KVC_EXIT_OK;
}

int kvc_cmd_codec(int argc, char **argv)
{
    if (argc < 2)
        return kvc_cli_usage_error("codec", "expected 'encode' or 'decode'");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        codec_help(stdout);
        return KVC_EXIT_OK;
    }
    if (strcmp(argv[1], "encode") == 0)
        return codec_encode(argc - 1, argv + 1);
    if (strcmp(argv[1], "decode") == 0)
        return codec_decode(argc - 1, argv + 1);
    return kvc_cli_usage_error("codec", "unknown subcommand '%s' (encode or decode)", argv[1]);
}
