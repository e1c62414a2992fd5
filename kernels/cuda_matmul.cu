/* kvcert: the CUDA matrix product y = x W^T (SPEC 5.1) on the FP32 cores.
 *
 * The specified order, for every output y[t, o]:
 *   acc = +0; for k = 0, 1, ..., K-1: acc = fmaf(x[t, k], W[o, k], acc)
 * (one rounding per step; the same chain as the CPU's, so the same bits).
 *
 * How a tiled SGEMM keeps it:
 *  - each output has ONE accumulator, held by one thread in a register for
 *    the whole product: nothing is ever split over k, reassociated, or
 *    combined across threads (no split-k, no atomics, no warp reductions);
 *  - the block walks k in tiles of BK in ascending order, and inside a tile
 *    the thread steps kk = 0 .. BK-1 in order: k ascending overall;
 *  - the last tile, when K is not a multiple of BK, runs only its real k
 *    values. Tile slots past K hold zeros that are never used: an extra
 *    fmaf(0, 0, acc) would turn an accumulator of -0 into +0;
 *  - explicit fmaf() compiles to FFMA (fma.rn.f32) whatever --fmad says;
 *    --fmad=false only stops the compiler from fusing a*b+c written out;
 *  - rows past M and columns past N are loaded as zeros, computed, and
 *    never stored.
 * Speed: BM x BN outputs per block, TM x 8 per thread (TM = 8: four 4 x 4
 * quadrants BM/2 and BN/2 apart, TM = 4: two, so shared-memory reads are
 * conflict-free float4s), k tiles of BK = 8 or 16, 16-byte global loads
 * when K % 4 == 0, tiles stored transposed (k-major) in shared memory,
 * double-buffered: the global loads of tile t+1 are in flight while tile
 * t is computed, one barrier per tile. The tiling is picked by shape
 * (pick_tile); the bench measures every one (bench/NOTES.md).
 */
#include <cuda_runtime.h>

#include "kernels/cuda_backend.h"
#include "kernels/cuda_common.h"

#include <string.h>

namespace {

/* Shared memory per block: two buffers of the x tile [BK][BM+4] and the
 * W tile [BK][BN+4] (the +4 keeps the transposed stores conflict-free and
 * every row 16-byte aligned). A thread computes TM x 8 outputs: rows
 * ty*4 .. ty*4+3 (and, for TM = 8, BM/2 + the same), columns tx*4 ..
 * tx*4+3 and BN/2 + the same. */
template <int BM, int BN, int BK, int TM> struct mm_shape {
    static constexpr int TX = BN / 8;
    static constexpr int TY = BM / TM;
    static constexpr int THREADS = TX * TY;
    static constexpr int LDA = BM + 4;
    static constexpr int LDB = BN + 4;
    static constexpr int KQ = BK / 4; /* float4s per tile row */
    static constexpr int A_LOADS = BM * KQ / THREADS;
    static constexpr int B_LOADS = BN * KQ / THREADS;
    static constexpr size_t SMEM = sizeof(float) * 2 * BK * (LDA + LDB);
    static_assert(TM == 4 || TM == 8, "TM");
    static_assert((BM * KQ) % THREADS == 0 && (BN * KQ) % THREADS == 0, "load split");
};

/* Four consecutive k values of row `row` of src [rows, K] starting at k
 * (zeros past the matrix). VEC: K % 4 == 0 and src 16-byte aligned, so the
 * four lie in the row together or not at all. */
template <bool VEC>
__device__ __forceinline__ float4 load4(const float *__restrict__ src, int rows, int K, int row,
                                        int k)
{
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (row >= rows)
        return v;
    const float *p = src + (size_t)row * (size_t)K + k;
    if (VEC) {
        if (k < K)
            v = *reinterpret_cast<const float4 *>(p);
    } else {
        if (k < K)
            v.x = p[0];
        if (k + 1 < K)
            v.y = p[1];
        if (k + 2 < K)
            v.z = p[2];
        if (k + 3 < K)
            v.w = p[3];
    }
    return v;
}

/* One k step for the thread's TM x 8 outputs: a[i] x b[j] into acc[i][j]. */
template <int TM>
__device__ __forceinline__ void mm_step(float (&acc)[TM][8], const float *__restrict__ as,
                                        const float *__restrict__ bs, int half_m, int half_n)
{
    float a[TM];
    const float4 a0 = *reinterpret_cast<const float4 *>(as);
    a[0] = a0.x, a[1] = a0.y, a[2] = a0.z, a[3] = a0.w;
    if (TM == 8) {
        const float4 a1 = *reinterpret_cast<const float4 *>(as + half_m);
        a[TM - 4] = a1.x, a[TM - 3] = a1.y, a[TM - 2] = a1.z, a[TM - 1] = a1.w;
    }
    const float4 b0 = *reinterpret_cast<const float4 *>(bs);
    const float4 b1 = *reinterpret_cast<const float4 *>(bs + half_n);
    const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < 8; j++)
            acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
}

/* The block's BM x BN tile of y at rows m0.., columns n0.. */
template <int BM, int BN, int BK, int TM, bool VEC>
__device__ __forceinline__ void sgemm_tile(const float *__restrict__ x,
                                           const float *__restrict__ w, float *__restrict__ y,
                                           int M, int N, int K, int m0, int n0)
{
    typedef mm_shape<BM, BN, BK, TM> S;
    extern __shared__ float4 smem4[];
    float *const As = reinterpret_cast<float *>(smem4);
    float *const Bs = As + 2 * BK * S::LDA;

    const int tid = (int)threadIdx.x;
    const int tx = tid % S::TX, ty = tid / S::TX;

    float acc[TM][8];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < 8; j++)
            acc[i][j] = 0.0f; /* +0: the start of every chain */

    float4 ra[S::A_LOADS], rb[S::B_LOADS];
    const int ntiles = (K + BK - 1) / BK;

    auto load_tile = [&](int t) {
#pragma unroll
        for (int i = 0; i < S::A_LOADS; i++) {
            const int f = tid + i * S::THREADS;
            ra[i] = load4<VEC>(x, M, K, m0 + f / S::KQ, t * BK + (f % S::KQ) * 4);
        }
#pragma unroll
        for (int i = 0; i < S::B_LOADS; i++) {
            const int f = tid + i * S::THREADS;
            rb[i] = load4<VEC>(w, N, K, n0 + f / S::KQ, t * BK + (f % S::KQ) * 4);
        }
    };
    auto store_tile = [&](int buf) {
        float *as = As + buf * BK * S::LDA;
        float *bs = Bs + buf * BK * S::LDB;
#pragma unroll
        for (int i = 0; i < S::A_LOADS; i++) {
            const int f = tid + i * S::THREADS;
            const int r = f / S::KQ, kq = (f % S::KQ) * 4;
            as[(kq + 0) * S::LDA + r] = ra[i].x;
            as[(kq + 1) * S::LDA + r] = ra[i].y;
            as[(kq + 2) * S::LDA + r] = ra[i].z;
            as[(kq + 3) * S::LDA + r] = ra[i].w;
        }
#pragma unroll
        for (int i = 0; i < S::B_LOADS; i++) {
            const int f = tid + i * S::THREADS;
            const int r = f / S::KQ, kq = (f % S::KQ) * 4;
            bs[(kq + 0) * S::LDB + r] = rb[i].x;
            bs[(kq + 1) * S::LDB + r] = rb[i].y;
            bs[(kq + 2) * S::LDB + r] = rb[i].z;
            bs[(kq + 3) * S::LDB + r] = rb[i].w;
        }
    };

    load_tile(0);
    store_tile(0);
    __syncthreads();
    for (int t = 0; t < ntiles; t++) {
        const int buf = t & 1;
        if (t + 1 < ntiles)
            load_tile(t + 1); /* in flight during the compute below */
        const float *as = As + buf * BK * S::LDA + ty * 4;
        const float *bs = Bs + buf * BK * S::LDB + tx * 4;
        const int kcount = K - t * BK;
        if (kcount >= BK) {
#pragma unroll
            for (int kk = 0; kk < BK; kk++)
                mm_step<TM>(acc, as + kk * S::LDA, bs + kk * S::LDB, BM / 2, BN / 2);
        } else {
            /* the ragged last tile: only the real k, still ascending */
            for (int kk = 0; kk < kcount; kk++)
                mm_step<TM>(acc, as + kk * S::LDA, bs + kk * S::LDB, BM / 2, BN / 2);
        }
        if (t + 1 < ntiles)
            store_tile(buf ^ 1);
        __syncthreads();
    }

    /* rows m0 + ty*4 + i and m0 + BM/2 + ty*4 + i; columns likewise */
    const bool vec_out = (N & 3) == 0 && (reinterpret_cast<uintptr_t>(y) & 15) == 0;
#pragma unroll
    for (int i = 0; i < TM; i++) {
        const int row = m0 + (i < 4 ? ty * 4 + i : BM / 2 + ty * 4 + (i - 4));
        if (row >= M)
            continue;
        float *yr = y + (size_t)row * (size_t)N;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int col = n0 + (h == 0 ? tx * 4 : BN / 2 + tx * 4);
            if (vec_out && col < N) {
                *reinterpret_cast<float4 *>(yr + col) = make_float4(
                    acc[i][4 * h + 0], acc[i][4 * h + 1], acc[i][4 * h + 2], acc[i][4 * h + 3]);
            } else {
#pragma unroll
                for (int j = 0; j < 4; j++)
                    if (col + j < N)
                        yr[col + j] = acc[i][4 * h + j];
            }
        }
    }
}

template <int BM, int BN, int BK, int TM, bool VEC>
__global__ void __launch_bounds__(mm_shape<BM, BN, BK, TM>::THREADS)
    sgemm_nt(const float *__restrict__ x, const float *__restrict__ w, float *__restrict__ y,
             int M, int N, int K)
{
    sgemm_tile<BM, BN, BK, TM, VEC>(x, w, y, M, N, K, (int)blockIdx.y * BM,
                                    (int)blockIdx.x * BN);
}

/* Several products of the same x in one launch (kvc_cuda_matmul_group):
 * the column tiles of problem p are blockIdx.x in [first[p], first[p+1]).
 * Each block computes one tile of one problem exactly as sgemm_nt would. */
struct mm_group {
    int count;
    const float *w[KVC_CUDA_MATMUL_GROUP_MAX];
    float *y[KVC_CUDA_MATMUL_GROUP_MAX];
    int n[KVC_CUDA_MATMUL_GROUP_MAX];
    int first[KVC_CUDA_MATMUL_GROUP_MAX + 1];
};

template <int BM, int BN, int BK, int TM, bool VEC>
__global__ void __launch_bounds__(mm_shape<BM, BN, BK, TM>::THREADS)
    sgemm_nt_group(const float *__restrict__ x, const mm_group g, int M, int K)
{
    const int b = (int)blockIdx.x;
    int p = 0;
    while (p + 1 < g.count && b >= g.first[p + 1])
        p++;
    sgemm_tile<BM, BN, BK, TM, VEC>(x, g.w[p], g.y[p], M, g.n[p], K, (int)blockIdx.y * BM,
                                    (b - g.first[p]) * BN);
}

typedef void (*mm_launch_fn)(const float *, const float *, float *, int, int, int, cudaStream_t,
                             cudaError_t *);
typedef void (*mm_group_fn)(const float *, mm_group *, int, int, cudaStream_t, cudaError_t *);

template <int BM, int BN, int BK, int TM>
void mm_launch(const float *x, const float *w, float *y, int M, int N, int K, cudaStream_t s,
               cudaError_t *rc)
{
    typedef mm_shape<BM, BN, BK, TM> S;
    dim3 grid((unsigned)((N + BN - 1) / BN), (unsigned)((M + BM - 1) / BM));
    const bool vec = (K & 3) == 0 && (reinterpret_cast<uintptr_t>(x) & 15) == 0 &&
                     (reinterpret_cast<uintptr_t>(w) & 15) == 0;
    if (vec)
        sgemm_nt<BM, BN, BK, TM, true><<<grid, S::THREADS, S::SMEM, s>>>(x, w, y, M, N, K);
    else
        sgemm_nt<BM, BN, BK, TM, false><<<grid, S::THREADS, S::SMEM, s>>>(x, w, y, M, N, K);
    *rc = cudaGetLastError();
}

bool aligned16(const void *p)
{
    return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

template <int BM, int BN, int BK, int TM>
void mm_launch_group(const float *x, mm_group *g, int M, int K, cudaStream_t s, cudaError_t *rc)
{
    typedef mm_shape<BM, BN, BK, TM> S;
    bool vec = (K & 3) == 0 && aligned16(x);
    g->first[0] = 0;
    for (int p = 0; p < g->count; p++) {
        g->first[p + 1] = g->first[p] + (g->n[p] + BN - 1) / BN;
        vec = vec && aligned16(g->w[p]);
    }
    dim3 grid((unsigned)g->first[g->count], (unsigned)((M + BM - 1) / BM));
    if (vec)
        sgemm_nt_group<BM, BN, BK, TM, true><<<grid, S::THREADS, S::SMEM, s>>>(x, *g, M, K);
    else
        sgemm_nt_group<BM, BN, BK, TM, false><<<grid, S::THREADS, S::SMEM, s>>>(x, *g, M, K);
    *rc = cudaGetLastError();
}

struct tile_entry {
    const char *name;
    int bm, bn;
    mm_launch_fn launch;
    mm_group_fn group;
};

/* Indexed by kvc_cuda_tile (entry 0, AUTO, is never launched). */
const tile_entry tiles[KVC_CUDA_TILE_COUNT] = {
    {"auto", 0, 0, nullptr, nullptr},
    {"128x128x8/8x8", 128, 128, mm_launch<128, 128, 8, 8>,
     mm_launch_group<128, 128, 8, 8>},
    {"128x128x16/8x8", 128, 128, mm_launch<128, 128, 16, 8>,
     mm_launch_group<128, 128, 16, 8>},
    {"128x64x8/8x8", 128, 64, mm_launch<128, 64, 8, 8>,
     mm_launch_group<128, 64, 8, 8>},
    {"128x64x16/8x8", 128, 64, mm_launch<128, 64, 16, 8>,
     mm_launch_group<128, 64, 16, 8>},
    {"128x64x16/4x8", 128, 64, mm_launch<128, 64, 16, 4>,
     mm_launch_group<128, 64, 16, 4>},
    {"64x128x16/8x8", 64, 128, mm_launch<64, 128, 16, 8>,
     mm_launch_group<64, 128, 16, 8>},
    {"64x128x16/4x8", 64, 128, mm_launch<64, 128, 16, 4>,
     mm_launch_group<64, 128, 16, 4>},
    {"64x64x16/4x8", 64, 64, mm_launch<64, 64, 16, 4>,
     mm_launch_group<64, 64, 16, 4>},
};

/* The largest tile that still gives (nearly) every SM a block, with the
 * k tile and thread shape that ran fastest there on an H100 (bench/NOTES.md:
 * 2048 x 4096 by 4096 x 1024 -> 128x128x16, by 4096 x 512 -> 128x64x16
 * with 4 x 8 outputs per thread); speed only: every tiling gives the same
 * bits. */
kvc_cuda_tile pick_tile(int64_t M, int64_t N, int sms)
{
    static const kvc_cuda_tile order[] = {KVC_CUDA_TILE_128x128x16, KVC_CUDA_TILE_128x64x16_4};
    for (kvc_cuda_tile t : order) {
        int64_t blocks = ((M + tiles[t].bm - 1) / tiles[t].bm) * ((N + tiles[t].bn - 1) / tiles[t].bn);
        if (10 * blocks >= 9 * (int64_t)sms)
            return t;
    }
    return KVC_CUDA_TILE_64x64x16;
}

} // namespace

extern "C" const char *kvc_cuda_tile_name(kvc_cuda_tile t)
{
    return (int)t >= 0 && (int)t < KVC_CUDA_TILE_COUNT ? tiles[t].name : "unknown";
}

extern "C" kvc_status kvc_cuda_matmul_device(const float *x, int64_t rows, const float *w,
                                             int64_t n, int64_t k, float *y, kvc_cuda_tile tile,
                                             void *stream, kvc_error *err)
{
    if (rows < 0 || n < 1 || k < 1 || (int)tile < 0 || (int)tile >= KVC_CUDA_TILE_COUNT)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "matmul [%lld, %lld] x [%lld, %lld]^T",
                             (long long)rows, (long long)k, (long long)n, (long long)k);
    /* int indices inside the kernel; gridDim.y at most 65535 */
    if (rows > 65535LL * 64 || n > INT32_MAX / 2 || k > INT32_MAX / 2)
        return kvc_error_set(err, KVC_LIMIT, "matmul [%lld, %lld] x [%lld, %lld]^T too large",
                             (long long)rows, (long long)k, (long long)n, (long long)k);
    if (rows == 0)
        return KVC_OK;
    if (tile == KVC_CUDA_TILE_AUTO) {
        int dev = 0, sms = 0;
        KVC_CUDA_TRY(cudaGetDevice(&dev), err);
        KVC_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), err);
        tile = pick_tile(rows, n, sms);
    }
    if (rows > 65535LL * tiles[tile].bm)
        tile = KVC_CUDA_TILE_128x128x16;
    cudaError_t rc = cudaSuccess;
    tiles[tile].launch(x, w, y, (int)rows, (int)n, (int)k, (cudaStream_t)stream, &rc);
    KVC_CUDA_TRY(rc, err);
    return KVC_OK;
}

extern "C" kvc_status kvc_cuda_matmul_group_device(const float *x, int64_t rows, int count,
                                                   const float *const *w, const int64_t *n,
                                                   int64_t k, float *const *y,
                                                   kvc_cuda_tile tile, void *stream,
                                                   kvc_error *err)
{
    if (rows < 0 || k < 1 || count < 1 || count > KVC_CUDA_MATMUL_GROUP_MAX ||
        (int)tile < 0 || (int)tile >= KVC_CUDA_TILE_COUNT)
        return kvc_error_set(err, KVC_INVALID_ARGUMENT, "matmul group of %d, [%lld, %lld]",
                             count, (long long)rows, (long long)k);
    int64_t ntotal = 0;
    for (int p = 0; p < count; p++) {
        if (n[p] < 1 || n[p] > INT32_MAX / 2)
            return kvc_error_set(err, KVC_INVALID_ARGUMENT, "matmul group: N = %lld",
                                 (long long)n[p]);
        ntotal += n[p];
    }
    if (rows > 65535LL * 64 || k > INT32_MAX / 2 || ntotal > INT32_MAX / 2)
        return kvc_error_set(err, KVC_LIMIT, "matmul group [%lld, %lld] too large",
                             (long long)rows, (long long)k);
    if (rows == 0)
        return KVC_OK;
    if (tile == KVC_CUDA_TILE_AUTO) {
        int dev = 0, sms = 0;
        KVC_CUDA_TRY(cudaGetDevice(&dev), err);
        KVC_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), err);
        tile = pick_tile(rows, ntotal, sms);
    }
    if (rows > 65535LL * tiles[tile].bm)
        tile = KVC_CUDA_TILE_128x128x16;
    mm_group g;
    memset(&g, 0, sizeof g);
    g.count = count;
    for (int p = 0; p < count; p++) {
        g.w[p] = w[p];
        g.y[p] = y[p];
        g.n[p] = (int)n[p];
    }
    cudaError_t rc = cudaSuccess;
    tiles[tile].group(x, &g, (int)rows, (int)k, (cudaStream_t)stream, &rc);
    KVC_CUDA_TRY(rc, err);
    return KVC_OK;
}
