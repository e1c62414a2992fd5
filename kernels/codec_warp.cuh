/* kvcert: the codec roundtrip, encode and decode at one warp per vector
 * (included by kernels/cuda_codec.cu inside its anonymous namespace; not
 * a public header). The roundtrip is described here; k_encode_warp
 * (steps 1-3 as below by the shared quantize_front, then the block
 * search, the indices and the record written byte-parallel) and
 * k_decode_warp (the record read block-parallel, then step 6 as below)
 * are described at their definitions.
 *
 * One WARP per vector (D a power of two, 32 <= D <= 1024, the bandwidth
 * path): the same arithmetic as kvc_kakeya_roundtrip_vec, distributed.
 * The vector lives in REGISTERS: lane l holds the R = D / 32 elements
 * i = l + 32k in r[k] (k = 0 .. R-1), so element index bits 0..4 are the
 * lane and bits 5.. are the register index k. Every floating-point
 * operation below is one the CPU performs, on the same operands in the
 * same order:
 *
 *  1. the norm: lane l's binary64 partial adds x[l + 32k]^2 for k
 *     ascending, exactly kvc_kakeya_norm's lane[l]; the shuffle tree
 *     part = part + shfl_down(part, off), off = 16, 8, 4, 2, 1, is the
 *     CPU's lane[l] = lane[l] + lane[l + off] (own partial first);
 *     kvc_kakeya_norm_finish closes both. u_i = x_i / n (true division).
 *  2. the butterflies of kvc_fwht_butterflies, stage order h = 1, 2, ...,
 *     D/2 (fwht_regs below proves each butterfly's operands), then ONE
 *     multiply by c = p.hscale.
 *  3. m = max |y_i|: each lane's maximum, then the shuffle maximum; max is
 *     exact and NaN never wins, so the order cannot matter. s and
 *     yt_i = sanitize(y_i / s) as the CPU.
 *  4-5. the blocks: every block of B = 4 or 8 consecutive elements goes
 *     through the shared kvc_kakeya_block_search; w_i =
 *     ((float)z2_i * 0.5f) * s. When a lane can hold whole blocks
 *     (R >= B: D >= 256 for E8, D >= 128 for D4) the vector moves through
 *     padded shared memory to the contiguous layout (lane l: i = R l + m)
 *     and back (blocks_contig); otherwise the blocks are read from and
 *     written to shared memory in place (block_phase).
 *  6. the butterflies again (with R >= B the stages h < R run in the
 *     contiguous layout, the rest strided, still in ascending order),
 *     one multiply by c, then x^_i = n^ * v_i.
 *
 * Launch: a persistent grid (as many blocks as fit on the device at
 * once, and no more warps than vectors), each warp walks vectors with a
 * grid stride and loads the NEXT vector's elements into registers while
 * it computes the current one, so every resident warp keeps 4 D bytes of
 * loads in flight. Loads and stores are coalesced (for each k the warp
 * touches 32 consecutive floats). out may equal x: a warp reads all of a
 * vector (the prefetch only reads the warp's own next vector) before it
 * writes it, and no two warps share a vector.
 *
 * The former kernel (the vector in shared memory, butterflies indexed
 * with integer divisions) is kept as k_roundtrip_warp_ref, selected only
 * when the environment variable KVC_BENCH_CODEC_WARP_REF is set to 1, so
 * that bench/bench_cuda can time old and new in the same run. Both give
 * the same bits. */

constexpr unsigned WARP_THREADS = 256; /* 8 warps per block */
constexpr int WARPS_PER_BLOCK = (int)(WARP_THREADS / 32);
constexpr unsigned FULL_MASK = 0xFFFFFFFFu;

/* ------------------------------------------------------------ register path */

/* The butterflies of kvc_fwht_butterflies on a vector held as r[k] =
 * v[l + 32k] in lane l (R = D / 32 registers).
 *
 * Stage h < 32 (h = 1, 2, 4, 8, 16): bit log2(h) of i is bit log2(h) of
 * the lane. The CPU's pair is (j, j + h) with bit h of j clear, so
 * j = l + 32k for a lane l with (l & h) == 0 and j + h = (l ^ h) + 32k:
 * the SAME register k of the partner lane l ^ h, which __shfl_xor_sync(.., h)
 * returns (o). The CPU computes a = v[j], b = v[j + h];
 * v[j] = a + b; v[j + h] = a - b. In the lower lane (bit clear) own = a and
 * o = b, so its new value is own + o = a + b. In the upper lane own = b and
 * o = a, so its new value is o - own = a - b. Same operands, same
 * operation. Both lanes compute it as ONE instruction,
 * fmaf(sg, own, o) with sg = +1.0f in the lower lane and -1.0f in the
 * upper: the product sg * own = +-own is exact (a sign change; fmaf does
 * not round it anyway), so fmaf returns the single rounding of
 * (+-own) + o, which is binary32 addition of those two numbers:
 *   lower lane: RN(own + o) = RN(a + b), the CPU's a + b;
 *   upper lane: RN((-own) + o) = RN(a + (-b)), and IEEE 754 defines
 *   a - b as a + (-b).
 * The operand order of an addition cannot change a non-NaN result
 * (exact sum, one rounding; an exact zero sum is +0 under
 * round-to-nearest unless both addends are -0, in either order: fmaf
 * follows the same rule, e.g. fmaf(-1, +0, +0) = +0 = (+0) - (+0) and
 * fmaf(1, -0, -0) = -0 = (-0) + (-0)); a NaN result's payload is the
 * GPU's canonical 0x7FFFFFFF either way (kernels/cuda_backend.h).
 * Subnormals: -ftz=false, so FFMA and FADD both keep them. This saves
 * a select (or a sign flip) per element and stage.
 * Every lane shuffles r[k] before any lane replaces it
 * (one warp-wide instruction reads all 32 r[k] values first), so a stage
 * sees only the previous stage's values.
 *
 * Stage h = 32 s (s = 1, 2, ..., R/2): bit log2(h) of i is bit log2(s) of
 * k, so j = l + 32k with (k & s) == 0 and j + h = l + 32(k + s): both in
 * this lane, a = r[k], b = r[k + s], r[k] = a + b, r[k + s] = a - b.
 *
 * Stages run h = 1, 2, 4, 8, 16 (shuffles) then 32, 64, ..., D/2
 * (registers): the CPU's ascending order. Within a stage the butterflies
 * are independent (the CPU's comment in hadamard.h). With H0 > 1 only
 * the stages h >= H0 run (H0 <= 32; the caller has run h < H0 before, in
 * order: blocks_contig). */
template <int R, int H0 = 1>
__device__ __forceinline__ void fwht_regs(float (&r)[R], int lane)
{
#pragma unroll
    for (int h = H0; h < 32; h <<= 1) {
        const float sg = (lane & h) != 0 ? -1.0f : 1.0f; /* upper lane: -own */
#pragma unroll
        for (int k = 0; k < R; k++) {
            float o = __shfl_xor_sync(FULL_MASK, r[k], h);
            r[k] = __fmaf_rn(sg, r[k], o); /* lower: own + o; upper: o - own */
        }
    }
#pragma unroll
    for (int s = 1; s < R; s <<= 1) {
#pragma unroll
        for (int k = 0; k < R; k++) {
            if ((k & s) == 0) {
                float a = r[k], b = r[k + s];
                r[k] = a + b;
                r[k + s] = a - b;
            }
        }
    }
}

__device__ __forceinline__ float warp_max(float m)
{
    for (int off = 16; off >= 1; off >>= 1) {
        float o = __shfl_down_sync(FULL_MASK, m, off);
        m = (o > m) ? o : m;
    }
    return __shfl_sync(FULL_MASK, m, 0);
}

/* Padded shared-memory slot of element i: one float of padding after
 * every 32, so that both access patterns below are free of bank
 * conflicts:
 *  - lane l writing/reading i = l + 32k: slot l + 33k, 32 consecutive
 *    words for each k;
 *  - lane l reading element e of block b = l + 32j (B consecutive
 *    elements from i = bB): slot bB + e + (bB + e) / 32; for B = 8 the
 *    bank is (8 (l % 4) + l / 4 + e + 8j) mod 32, for B = 4 it is
 *    (4 (l % 8) + l / 8 + e + 4j) mod 32: 32 different banks either way. */
__device__ __forceinline__ int pad_slot(int i)
{
    return i + (i >> 5);
}

/* Steps 4-5: r holds yt (lane l: i = l + 32k); on return r holds w, in
 * the same layout. v is the warp's D + D/32 floats of shared memory. */
template <int D, int B>
__device__ __forceinline__ void block_phase(const kvc_kakeya_params *p, float (&r)[D / 32],
                                            float *v, int lane, float s)
{
    constexpr int R = D / 32;
    constexpr int NB = D / B; /* blocks */
#pragma unroll
    for (int k = 0; k < R; k++)
        v[lane + 33 * k] = r[k];
    __syncwarp();
#pragma unroll
    for (int j = 0; j < (NB + 31) / 32; j++) {
        const int b = lane + 32 * j;
        if (NB % 32 == 0 || b < NB) {
            float yt[8];
            int32_t z2[8];
#pragma unroll
            for (int e = 0; e < B; e++)
                yt[e] = v[pad_slot(b * B + e)];
            kvc_kakeya_block_search(p, yt, z2);
#pragma unroll
            for (int e = 0; e < B; e++)
                v[pad_slot(b * B + e)] = ((float)z2[e] * 0.5f) * s;
        }
    }
    __syncwarp();
#pragma unroll
    for (int k = 0; k < R; k++)
        r[k] = v[lane + 33 * k];
    __syncwarp(); /* v is written again for the next vector */
}

/* The butterfly stages h = 1, 2, ..., R/2 of step 6 on a vector held in
 * the CONTIGUOUS layout c[m] = v[R l + m] (see blocks_contig for why
 * they are the CPU's butterflies), then the move back to the strided
 * layout r[k] = v[l + 32k] through the padded shared memory v; the
 * caller runs fwht_regs<R, R> next. */
template <int R>
__device__ __forceinline__ void contig_stages_to_strided(float (&c)[R], float (&r)[R], float *v,
                                                         int lane)
{
#pragma unroll
    for (int h = 1; h < R; h <<= 1) {
#pragma unroll
        for (int m = 0; m < R; m++) {
            if ((m & h) == 0) {
                float a = c[m], b = c[m + h];
                c[m] = a + b;
                c[m + h] = a - b;
            }
        }
    }
    __syncwarp(); /* every lane has read its contiguous elements */
#pragma unroll
    for (int m = 0; m < R; m++)
        v[pad_slot(R * lane + m)] = c[m];
    __syncwarp();
#pragma unroll
    for (int k = 0; k < R; k++)
        r[k] = v[lane + 33 * k];
    __syncwarp(); /* v is written again for the next vector */
}

/* Steps 4-5 and the first stages of step 6, for R >= B (every block lies
 * inside one lane): on entry r holds yt in the strided layout (lane l:
 * i = l + 32k); through shared memory the vector moves to the CONTIGUOUS
 * layout c[m] = v[R l + m] (m = 0 .. R-1), where lane l holds the R / B
 * whole blocks i = R l + jB .. R l + jB + B - 1 (j = 0 .. R/B - 1) in
 * registers: each goes through kvc_kakeya_block_search and becomes
 * w = ((float)z2 * 0.5f) * s. Then the butterfly stages h = 1, 2, ...,
 * R/2 of step 6 run in registers: bit log2(h) of i = R l + m is a bit of
 * m, so the CPU's pair (j, j + h) (bit h of j clear) is c[m], c[m + h]
 * of one lane with (m & h) == 0: a = c[m], b = c[m + h], c[m] = a + b,
 * c[m + h] = a - b. Finally the vector moves back to the strided layout,
 * where fwht_regs<R, R> runs the remaining stages h = R, ..., D/2 in
 * order. Shared-memory slots (pad_slot): the strided side is
 * conflict-free as in block_phase; lane l's contiguous element R l + m
 * sits in bank (R l + m + (R l + m) / 32) mod 32 =
 * (R (l mod 32/R) + l / (32/R) + m) mod 32 for R <= 32, 32 different
 * banks for a fixed m (R = 32: (l + m) mod 32). */
template <int D, int B>
__device__ __forceinline__ void blocks_contig(const kvc_kakeya_params *p, float (&r)[D / 32],
                                              float *v, int lane, float s)
{
    constexpr int R = D / 32;
    static_assert(R >= B && R % B == 0, "blocks_contig needs whole blocks in a lane");
#pragma unroll
    for (int k = 0; k < R; k++)
        v[lane + 33 * k] = r[k];
    __syncwarp();
    float c[R];
#pragma unroll
    for (int m = 0; m < R; m++)
        c[m] = v[pad_slot(R * lane + m)];
#pragma unroll
    for (int j = 0; j < R / B; j++) {
        float yt[8]; /* a copy, so that c[] itself stays in registers */
        int32_t z2[8];
#pragma unroll
        for (int e = 0; e < B; e++)
            yt[e] = c[j * B + e];
        kvc_kakeya_block_search(p, yt, z2);
#pragma unroll
        for (int e = 0; e < B; e++)
            c[j * B + e] = ((float)z2[e] * 0.5f) * s;
    }
    contig_stages_to_strided<R>(c, r, v, lane);
}

/* Steps 1-3 for the vector in r (lane l: i = l + 32k): on return r holds
 * yt_i = sanitize(y_i / s) in the same layout, *nb and *mb the fp16 bits
 * of n^ and m^ (kvc_kakeya_quantize's), and the result is s. See the top
 * for why each operation is the CPU's. */
template <int R>
__device__ __forceinline__ float quantize_front(const kvc_kakeya_params *pp, float (&r)[R],
                                                int lane, uint16_t *nbp, uint16_t *mbp)
{
    const kvc_kakeya_params &p = *pp;
    /* 1. the norm: lane partial (k ascending), the CPU's tree, finish */
    double part = 0.0;
#pragma unroll
    for (int k = 0; k < R; k++) {
        double t = (double)r[k];
        part = part + t * t;
    }
    for (int off = 16; off >= 1; off >>= 1)
        part = part + __shfl_down_sync(FULL_MASK, part, off);
    part = __shfl_sync(FULL_MASK, part, 0);
    const float nrm = kvc_kakeya_norm_finish(part);
    const uint16_t nb = kvc_f32_to_fp16(nrm);
    *nbp = nb;
#pragma unroll
    for (int k = 0; k < R; k++)
        r[k] = r[k] / nrm;
    /* 2. y = H u */
    fwht_regs<R>(r, lane);
    float m = 0.0f;
#pragma unroll
    for (int k = 0; k < R; k++) {
        float y = r[k] * p.hscale;
        r[k] = y;
        float a = kvc__absf(y);
        m = (a > m) ? a : m; /* NaN never wins */
    }
    /* 3. scale */
    m = warp_max(m);
    if (m < kvc_kakeya_floor())
        m = kvc_kakeya_floor();
    const uint16_t mb = kvc_f32_to_fp16(m);
    *mbp = mb;
    const float s = kvc_fp16_to_f32(mb) * p.inv_q;
#pragma unroll
    for (int k = 0; k < R; k++)
        r[k] = kvc_kakeya_sanitize(r[k] / s);
    return s;
}

template <int D, int B>
__global__ void __launch_bounds__(WARP_THREADS, (D <= 512 ? 3 : 1))
    k_roundtrip_warp(const __grid_constant__ kvc_kakeya_params p, const float *x, int64_t n,
                     float *out)
{
    constexpr int R = D / 32;
    __shared__ float sh_all[WARPS_PER_BLOCK][D + D / 32];
    const int lane = (int)(threadIdx.x & 31), wib = (int)(threadIdx.x >> 5);
    float *v = sh_all[wib];
    const int64_t stride = (int64_t)gridDim.x * WARPS_PER_BLOCK;
    int64_t vec = (int64_t)blockIdx.x * WARPS_PER_BLOCK + wib;
    float nx[R]; /* the next vector's elements, loaded ahead */
    if (vec < n) {
        const float *xv = x + vec * D + lane;
#pragma unroll
        for (int k = 0; k < R; k++)
            nx[k] = __ldcs(xv + 32 * k);
    }
    for (; vec < n; vec += stride) { /* vec is uniform across the warp */
        float r[R];
#pragma unroll
        for (int k = 0; k < R; k++)
            r[k] = nx[k];
        if (vec + stride < n) {
            const float *xv = x + (vec + stride) * D + lane;
#pragma unroll
            for (int k = 0; k < R; k++)
                nx[k] = __ldcs(xv + 32 * k);
        }
        uint16_t nb, mb;
        const float s = quantize_front<R>(&p, r, lane, &nb, &mb);
        /* 4-5. per block: closest point, clamp, w = (z * 0.5) * s;
         * 6. x^ = n^ * H(w) */
        if constexpr (R >= B) {
            blocks_contig<D, B>(&p, r, v, lane, s); /* also stages h < R */
            fwht_regs<R, R>(r, lane);
        } else {
            block_phase<D, B>(&p, r, v, lane, s);
            fwht_regs<R>(r, lane);
        }
        const float nhat = kvc_fp16_to_f32(nb);
        float *ov = out + vec * D + lane;
#pragma unroll
        for (int k = 0; k < R; k++) {
            float t = r[k] * p.hscale;
            __stcs(ov + 32 * k, nhat * t);
        }
    }
}

/* ------------------------------------------------------------ encode, decode */

/* Floats of one warp's shared row in the encode and decode kernels: the
 * padded vector (D + D/32 floats, pad_slot) rounded up to an even count,
 * so that every row starts 8-byte aligned and can hold the block indices
 * (uint64_t, D / B <= D / 4 of them: 2 D bytes <= 4 D) once the vector
 * has left it. */
template <int D> __host__ __device__ constexpr int coder_row()
{
    return (D + D / 32 + 1) & ~1;
}

/* Loads vector vec's elements (lane l: i = l + 32k) into r. */
template <int R>
__device__ __forceinline__ void load_strided(const float *x, int64_t vec, int lane, float (&r)[R])
{
    const float *xv = x + vec * (32 * R) + lane;
#pragma unroll
    for (int k = 0; k < R; k++)
        r[k] = __ldcs(xv + 32 * k);
}

/* ENCODE: kvc_kakeya_quantize (steps 1-5: quantize_front, then every
 * block through kvc_kakeya_block_search, giving the closest-point
 * integers z2) followed by kvc_kakeya_pack_vector, for the vectors
 * first, first + step, ... (step 2 when records share a byte: see
 * cu_codec_encode), one warp per vector.
 *
 * Blocks: lane l takes the blocks b = l + 32j (as block_phase: yt through
 * the padded shared row, conflict-free), searches them and ranks them
 * with kvc_kakeya_rank_block: the CPU's calls on the CPU's operands. The
 * indices go to the warp's shared row (the vector has left it: a
 * __syncwarp separates the last read of yt from the first index write).
 * Record: bits pos .. pos + vector_bits - 1 with pos = vec * vector_bits,
 * i.e. stream bytes pos/8 .. (pos + vector_bits - 1)/8; lane l forms the
 * bytes a = pos/8 + l + 32j with kvc_kakeya_record_byte (exactly the bits
 * pack_vector ORs into byte a) and writes them: distinct lanes write
 * distinct bytes, so no two threads of the warp touch one byte, and the
 * only bytes a record shares with another are its first and last, which
 * the even/odd launches never give two running warps at once. A byte
 * the record covers completely is stored (the stream is zeroed, so
 * storing equals ORing); the two edge bytes are ORed into. Stores of
 * consecutive lanes go to consecutive bytes (coalesced). */
template <int D, int B>
__global__ void __launch_bounds__(WARP_THREADS)
    k_encode_warp(const __grid_constant__ kvc_kakeya_params p, const float *x, int64_t n,
                  int64_t first, int64_t step, uint8_t *stream)
{
    constexpr int R = D / 32;
    constexpr int NB = D / B;
    constexpr int NBL = (NB + 31) / 32; /* blocks per lane (at most) */
    __shared__ __align__(16) float sh_all[WARPS_PER_BLOCK][coder_row<D>()];
    const int lane = (int)(threadIdx.x & 31), wib = (int)(threadIdx.x >> 5);
    float *v = sh_all[wib];
    uint64_t *ranks = reinterpret_cast<uint64_t *>(v);
    const int64_t stride = (int64_t)gridDim.x * WARPS_PER_BLOCK;
    const int64_t count = (n - first + step - 1) / step; /* vectors of this launch */
    int64_t t = (int64_t)blockIdx.x * WARPS_PER_BLOCK + wib;
    float nx[R]; /* the next vector's elements, loaded ahead */
    if (t < count)
        load_strided<R>(x, first + t * step, lane, nx);
    for (; t < count; t += stride) { /* t is uniform across the warp */
        const int64_t vec = first + t * step;
        float r[R];
#pragma unroll
        for (int k = 0; k < R; k++)
            r[k] = nx[k];
        if (t + stride < count)
            load_strided<R>(x, first + (t + stride) * step, lane, nx);
        uint16_t nb, mb;
        (void)quantize_front<R>(&p, r, lane, &nb, &mb);
        /* 4. closest points and their indices */
#pragma unroll
        for (int k = 0; k < R; k++)
            v[lane + 33 * k] = r[k];
        __syncwarp();
        uint64_t rk[NBL];
#pragma unroll
        for (int j = 0; j < NBL; j++) {
            const int b = lane + 32 * j;
            rk[j] = 0;
            if (NB % 32 == 0 || b < NB) {
                float yt[8];
                int32_t z2[8];
#pragma unroll
                for (int e = 0; e < B; e++)
                    yt[e] = v[pad_slot(b * B + e)];
                kvc_kakeya_block_search(&p, yt, z2);
                rk[j] = kvc_kakeya_rank_block(&p, z2);
            }
        }
        __syncwarp(); /* every lane has read its yt: the row now takes the indices */
#pragma unroll
        for (int j = 0; j < NBL; j++) {
            const int b = lane + 32 * j;
            if (NB % 32 == 0 || b < NB)
                ranks[b] = rk[j];
        }
        __syncwarp();
        /* 5. the record, byte-parallel */
        const uint64_t pos = (uint64_t)vec * (uint64_t)p.vector_bits;
        const uint64_t end = pos + (uint64_t)p.vector_bits;
        const uint64_t a0 = pos >> 3, a1 = (end - 1) >> 3;
        for (uint64_t a = a0 + (uint64_t)lane; a <= a1; a += 32) {
            const uint8_t byte = kvc_kakeya_record_byte(&p, pos, nb, mb, ranks, a);
            if (8 * a >= pos && 8 * a + 8 <= end)
                stream[a] = byte; /* all 8 bits are this record's */
            else
                stream[a] = (uint8_t)(stream[a] | byte);
        }
        __syncwarp(); /* the row is written again for the next vector */
    }
}

/* DECODE: kvc_kakeya_unpack_vector then kvc_kakeya_dequantize, one warp
 * per vector. Every lane reads the two scalars (the same bytes); the
 * blocks are unranked in parallel (kvc_bits_get only reads): with
 * R >= B lane l takes the R / B blocks that the CONTIGUOUS layout puts
 * in it (b = (R / B) l + j, elements R l + jB ..), and their
 * w = ((float)z2 * 0.5f) * s (kvc_kakeya_dequantize's, same s) land
 * directly in its registers c[]; then the butterfly stages h < R run
 * there and the vector moves to the strided layout
 * (contig_stages_to_strided, as the roundtrip), fwht_regs<R, R> does
 * the rest. With R < B lane l takes the blocks b = l + 32j, writes w
 * to the padded shared row, and the whole fwht_regs<R> runs after the
 * move to the strided layout. Then one multiply by c = hscale
 * (kvc_hadamard_f32) and x^_i = n^ * v_i.
 *
 * A record is bad when its scalars are impossible
 * (kvc_kakeya_scalars_valid) or any block index is (unrank_block != 0):
 * exactly when unpack_vector returns -1 (it stops at the first bad field;
 * the verdict is the same). The warp agrees by __all_sync; lane 0 then
 * does the atomicMin of k_decode (the smallest bad index, whatever the
 * schedule) and the vector's output is left alone, as there. */
template <int D, int B>
__global__ void __launch_bounds__(WARP_THREADS)
    k_decode_warp(const __grid_constant__ kvc_kakeya_params p, const uint8_t *stream, int64_t n,
                  float *out, unsigned long long *bad)
{
    constexpr int R = D / 32;
    constexpr int NB = D / B;
    __shared__ __align__(16) float sh_all[WARPS_PER_BLOCK][coder_row<D>()];
    const int lane = (int)(threadIdx.x & 31), wib = (int)(threadIdx.x >> 5);
    float *v = sh_all[wib];
    const int64_t stride = (int64_t)gridDim.x * WARPS_PER_BLOCK;
    for (int64_t vec = (int64_t)blockIdx.x * WARPS_PER_BLOCK + wib; vec < n; vec += stride) {
        const uint64_t pos = (uint64_t)vec * (uint64_t)p.vector_bits;
        const uint16_t nb = (uint16_t)kvc_kakeya_unpack_field(&p, stream, pos, 0);
        const uint16_t mb = (uint16_t)kvc_kakeya_unpack_field(&p, stream, pos, 1);
        int ok = kvc_kakeya_scalars_valid(nb, mb);
        const float s = kvc_fp16_to_f32(mb) * p.inv_q;
        float r[R];
        if constexpr (R >= B) {
            float c[R];
#pragma unroll
            for (int j = 0; j < R / B; j++) {
                const int b = (R / B) * lane + j;
                int32_t z2[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                if (kvc_kakeya_unrank_block(
                        &p, kvc_kakeya_unpack_field(&p, stream, pos, 2 + b), z2) != 0)
                    ok = 0;
#pragma unroll
                for (int e = 0; e < B; e++)
                    c[j * B + e] = ((float)z2[e] * 0.5f) * s;
            }
            if (!__all_sync(FULL_MASK, ok)) {
                if (lane == 0)
                    atomicMin(bad, (unsigned long long)vec);
                continue; /* uniform: every lane agrees */
            }
            contig_stages_to_strided<R>(c, r, v, lane);
            fwht_regs<R, R>(r, lane);
        } else {
#pragma unroll
            for (int j = 0; j < (NB + 31) / 32; j++) {
                const int b = lane + 32 * j;
                if (NB % 32 == 0 || b < NB) {
                    int32_t z2[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                    if (kvc_kakeya_unrank_block(
                            &p, kvc_kakeya_unpack_field(&p, stream, pos, 2 + b), z2) != 0)
                        ok = 0;
#pragma unroll
                    for (int e = 0; e < B; e++)
                        v[pad_slot(b * B + e)] = ((float)z2[e] * 0.5f) * s;
                }
            }
            __syncwarp();
            if (!__all_sync(FULL_MASK, ok)) {
                if (lane == 0)
                    atomicMin(bad, (unsigned long long)vec);
                continue; /* uniform; the __syncwarp above ordered the row's writes */
            }
#pragma unroll
            for (int k = 0; k < R; k++)
                r[k] = v[lane + 33 * k];
            __syncwarp(); /* the row is written again for the next vector */
            fwht_regs<R>(r, lane);
        }
        const float nhat = kvc_fp16_to_f32(nb);
        float *ov = out + vec * D + lane;
#pragma unroll
        for (int k = 0; k < R; k++) {
            float t = r[k] * p.hscale;
            __stcs(ov + 32 * k, nhat * t);
        }
    }
}

/* ------------------------------------------------------------ former kernel */

/* The former warp kernel, for bench/bench_cuda's same-run comparison
 * only: the vector in shared memory, the same butterflies indexed by
 * (t / h) * 2h + t % h, the same operations in the same order. */
__device__ void warp_fwht_ref(float *v, int d, int lane)
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

__global__ void k_roundtrip_warp_ref(const kvc_kakeya_params p, const float *x, int64_t n,
                                     float *out)
{
    extern __shared__ float sh_ref[];
    const int d = p.dim, lane = threadIdx.x & 31, wib = threadIdx.x >> 5;
    float *v = sh_ref + (size_t)wib * d;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    for (int64_t vec = (int64_t)blockIdx.x * (blockDim.x >> 5) + wib; vec < n; vec += warps) {
        const float *xv = x + vec * d;
        double part = 0.0;
        for (int i = lane; i < d; i += 32) {
            double t = (double)xv[i];
            part = part + t * t;
        }
        for (int off = 16; off >= 1; off >>= 1)
            part = part + __shfl_down_sync(FULL_MASK, part, off);
        part = __shfl_sync(FULL_MASK, part, 0);
        float nrm = kvc_kakeya_norm_finish(part);
        uint16_t nb = kvc_f32_to_fp16(nrm);
        for (int i = lane; i < d; i += 32)
            v[i] = xv[i] / nrm;
        __syncwarp();
        warp_fwht_ref(v, d, lane);
        float m = 0.0f;
        for (int i = lane; i < d; i += 32) {
            float y = v[i] * p.hscale;
            v[i] = y;
            float a = kvc__absf(y);
            m = (a > m) ? a : m;
        }
        m = warp_max(m);
        if (m < kvc_kakeya_floor())
            m = kvc_kakeya_floor();
        uint16_t mb = kvc_f32_to_fp16(m);
        float s = kvc_fp16_to_f32(mb) * p.inv_q;
        for (int i = lane; i < d; i += 32)
            v[i] = kvc_kakeya_sanitize(v[i] / s);
        __syncwarp();
        for (int b = lane * p.block; b < d; b += 32 * p.block) {
            int32_t z2[8];
            kvc_kakeya_block_search(&p, v + b, z2);
            for (int e = 0; e < p.block; e++)
                v[b + e] = ((float)z2[e] * 0.5f) * s;
        }
        __syncwarp();
        warp_fwht_ref(v, d, lane);
        float nhat = kvc_fp16_to_f32(nb);
        for (int i = lane; i < d; i += 32) {
            float t = v[i] * p.hscale;
            out[vec * d + i] = nhat * t;
        }
        __syncwarp();
    }
}

/* ------------------------------------------------------------ launch */

/* Whether the warp kernel handles this codec: D a power of two in
 * 32 .. 1024 and blocks of 4 or 8 (kvc_kakeya_params_init guarantees the
 * last two; anything else takes the one-vector-per-thread kernel). */
bool warp_path(const kvc_kakeya_params *p)
{
    const int d = p->dim;
    return d >= 32 && d <= 1024 && (d & (d - 1)) == 0 && (p->block == 4 || p->block == 8);
}

/* Blocks of kernel fn for n vectors: at most one warp per vector, at most
 * as many as are resident on the current device at once (the kernel
 * strides over the rest). If a query fails (it should not), the error is
 * cleared, so that the caller's cudaGetLastError sees only the launch,
 * and the grid is one warp per vector. */
template <typename K> unsigned warp_grid(K fn, int64_t n)
{
    unsigned need = kvc__grid_for((size_t)n, (unsigned)WARPS_PER_BLOCK);
    int dev = 0, sms = 0, per_sm = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fn, (int)WARP_THREADS, 0) !=
            cudaSuccess ||
        sms <= 0 || per_sm <= 0) {
        (void)cudaGetLastError();
        return need;
    }
    unsigned resident = (unsigned)sms * (unsigned)per_sm;
    return need < resident ? need : resident;
}

template <int D, int B>
void launch_warp_dim(const kvc_kakeya_params *p, const float *x, int64_t n, float *out,
                     cudaStream_t st)
{
    unsigned blocks = warp_grid(k_roundtrip_warp<D, B>, n);
    k_roundtrip_warp<D, B><<<blocks, WARP_THREADS, 0, st>>>(*p, x, n, out);
}

template <int B>
void launch_warp_block(const kvc_kakeya_params *p, const float *x, int64_t n, float *out,
                       cudaStream_t st)
{
    switch (p->dim) {
    case 32: launch_warp_dim<32, B>(p, x, n, out, st); break;
    case 64: launch_warp_dim<64, B>(p, x, n, out, st); break;
    case 128: launch_warp_dim<128, B>(p, x, n, out, st); break;
    case 256: launch_warp_dim<256, B>(p, x, n, out, st); break;
    case 512: launch_warp_dim<512, B>(p, x, n, out, st); break;
    default: launch_warp_dim<1024, B>(p, x, n, out, st); break; /* warp_path: 1024 */
    }
}


/* f(integral_constant<int, D>) for the warp path's D = d. */
template <typename F> void by_dim(int d, F f)
{
    switch (d) {
    case 32: f(std::integral_constant<int, 32>()); break;
    case 64: f(std::integral_constant<int, 64>()); break;
    case 128: f(std::integral_constant<int, 128>()); break;
    case 256: f(std::integral_constant<int, 256>()); break;
    case 512: f(std::integral_constant<int, 512>()); break;
    default: f(std::integral_constant<int, 1024>()); break; /* warp_path: 1024 */
    }
}

/* Queues the encode of vectors first, first + step, ... < n (warp_path(p)). */
void launch_encode_warp(const kvc_kakeya_params *p, const float *x, int64_t n, int64_t first,
                        int64_t step, uint8_t *stream, cudaStream_t st)
{
    const int64_t count = (n - first + step - 1) / step;
    if (count <= 0)
        return;
    auto go = [&](auto dc, auto bc) {
        constexpr int D = decltype(dc)::value, B = decltype(bc)::value;
        unsigned blocks = warp_grid(k_encode_warp<D, B>, count);
        k_encode_warp<D, B><<<blocks, WARP_THREADS, 0, st>>>(*p, x, n, first, step, stream);
    };
    if (p->block == 8)
        by_dim(p->dim, [&](auto dc) { go(dc, std::integral_constant<int, 8>()); });
    else
        by_dim(p->dim, [&](auto dc) { go(dc, std::integral_constant<int, 4>()); });
}

/* Queues the decode of n vectors (warp_path(p)); bad as k_decode's. */
void launch_decode_warp(const kvc_kakeya_params *p, const uint8_t *stream, int64_t n, float *out,
                        unsigned long long *bad, cudaStream_t st)
{
    auto go = [&](auto dc, auto bc) {
        constexpr int D = decltype(dc)::value, B = decltype(bc)::value;
        unsigned blocks = warp_grid(k_decode_warp<D, B>, n);
        k_decode_warp<D, B><<<blocks, WARP_THREADS, 0, st>>>(*p, stream, n, out, bad);
    };
    if (p->block == 8)
        by_dim(p->dim, [&](auto dc) { go(dc, std::integral_constant<int, 8>()); });
    else
        by_dim(p->dim, [&](auto dc) { go(dc, std::integral_constant<int, 4>()); });
}

/* 1 when bench/bench_cuda asks for the former kernels (see the top):
 * the roundtrip's k_roundtrip_warp_ref, and for codec_encode and
 * codec_decode the one-vector-per-thread k_encode / k_decode. */
bool warp_ref_requested()
{
    const char *e = getenv("KVC_BENCH_CODEC_WARP_REF");
    return e != nullptr && e[0] == '1' && e[1] == '\0';
}

/* Queues the roundtrip of n vectors on stream st (warp_path(p) holds). */
void launch_roundtrip_warp(const kvc_kakeya_params *p, const float *x, int64_t n, float *out,
                           cudaStream_t st)
{
    if (warp_ref_requested()) {
        constexpr unsigned REF_THREADS = 128;
        unsigned blocks = kvc__grid_for((size_t)n, REF_THREADS / 32);
        k_roundtrip_warp_ref<<<blocks, REF_THREADS, (REF_THREADS / 32) * p->dim * sizeof(float),
                               st>>>(*p, x, n, out);
        return;
    }
    if (p->block == 8)
        launch_warp_block<8>(p, x, n, out, st);
    else
        launch_warp_block<4>(p, x, n, out, st);
}
