/* kvcert: the codec roundtrip at one warp per vector (included by
 * kernels/cuda_codec.cu inside its anonymous namespace; not a public
 * header). */

/* One WARP per vector (32 <= D <= 1024, the bandwidth path): the same
 * arithmetic as kvc_kakeya_roundtrip_vec, distributed. Lane l owns the
 * elements i = l + 32k, exactly kvc_kakeya_norm's lanes, so its binary64
 * partial is the CPU's lane[l] and the shuffle tree is the CPU's tree
 * (kvc_kakeya_norm_finish closes both). The Hadamard butterflies run on
 * the vector in shared memory: every butterfly is the CPU's a + b, a - b
 * on the same operands (kvc_fwht_butterflies' stage order h = 1, 2, ...;
 * within a stage the butterflies are independent), then one multiply by
 * c. The maximum is exact (order-free). Each block of 4/8 goes through
 * kvc_kakeya_block_search. */
__device__ void warp_fwht(float *v, int d, int lane)
{
    for (int h = 1; h < d; h <<= 1) {
        for (int t = lane; t < d / 2; t += 32) {
            int i = (t / h) * 2 * h + (t % h);
            float a = v[i], b = v[i + h];
            v[i] = a + b;
            v[i + h] = a - b;
        }
        __syncwarp();
    }
}

__device__ float warp_max(float m)
{
    for (int off = 16; off >= 1; off >>= 1) {
        float o = __shfl_down_sync(0xFFFFFFFFu, m, off);
        m = (o > m) ? o : m;
    }
    return __shfl_sync(0xFFFFFFFFu, m, 0);
}

__global__ void k_roundtrip_warp(const kvc_kakeya_params p, const float *x, int64_t n, float *out)
{
    extern __shared__ float sh_all[];
    const int d = p.dim, lane = threadIdx.x & 31, wib = threadIdx.x >> 5;
    float *v = sh_all + (size_t)wib * d;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    for (int64_t vec = (int64_t)blockIdx.x * (blockDim.x >> 5) + wib; vec < n; vec += warps) {
        const float *xv = x + vec * d;
        /* 1. the norm: lane partials, tree, finish */
        double part = 0.0;
        for (int i = lane; i < d; i += 32) {
            double t = (double)xv[i];
            part = part + t * t;
        }
        for (int off = 16; off >= 1; off >>= 1)
            part = part + __shfl_down_sync(0xFFFFFFFFu, part, off);
        part = __shfl_sync(0xFFFFFFFFu, part, 0);
        float nrm = kvc_kakeya_norm_finish(part);
        uint16_t nb = kvc_f32_to_fp16(nrm);
        for (int i = lane; i < d; i += 32)
            v[i] = xv[i] / nrm;
        __syncwarp();
        /* 2. y = H u */
        warp_fwht(v, d, lane);
        float m = 0.0f;
        for (int i = lane; i < d; i += 32) {
            float y = v[i] * p.hscale;
            v[i] = y;
            float a = kvc__absf(y);
            m = (a > m) ? a : m; /* NaN never wins */
        }
        /* 3. scale */
        m = warp_max(m);
        if (m < kvc_kakeya_floor())
            m = kvc_kakeya_floor();
        uint16_t mb = kvc_f32_to_fp16(m);
        float s = kvc_fp16_to_f32(mb) * p.inv_q;
        for (int i = lane; i < d; i += 32)
            v[i] = kvc_kakeya_sanitize(v[i] / s);
        __syncwarp();
        /* 4-5. per block: closest point, clamp; then w = (z * 0.5) * s in place */
        for (int b = lane * p.block; b < d; b += 32 * p.block) {
            int32_t z2[8];
            kvc_kakeya_block_search(&p, v + b, z2);
            for (int e = 0; e < p.block; e++)
                v[b + e] = ((float)z2[e] * 0.5f) * s;
        }
        __syncwarp();
        /* 6. x^ = n^ * H(w) */
        warp_fwht(v, d, lane);
        float nhat = kvc_fp16_to_f32(nb);
        for (int i = lane; i < d; i += 32) {
            float t = v[i] * p.hscale;
            out[vec * d + i] = nhat * t;
        }
        __syncwarp(); /* v is reused by the next vector */
    }
}


constexpr unsigned WARP_THREADS = 128; /* 4 warps per block */

/* Whether the warp kernel handles this dimension. */
bool warp_path(const kvc_kakeya_params *p)
{
    return p->dim >= 32 && p->dim <= 1024;
}

/* Queues the roundtrip of n vectors on stream st (warp_path(p) holds). */
void launch_roundtrip_warp(const kvc_kakeya_params *p, const float *x, int64_t n, float *out,
                           cudaStream_t st)
{
    unsigned blocks = kvc__grid_for((size_t)n, WARP_THREADS / 32);
    k_roundtrip_warp<<<blocks, WARP_THREADS, (WARP_THREADS / 32) * p->dim * sizeof(float), st>>>(
        *p, x, n, out);
}
