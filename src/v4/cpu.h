/* kvcert: internals of the CPU backend (not installed).
 *
 * The matmul kernels (matmul_cpu.c) and a tiny fork-join helper shared by
 * the CPU operations (cpu_backend.c).
 */
#ifndef KVC_V4_CPU_H
#define KVC_V4_CPU_H

#include <stdint.h>

#include "core/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Resolves KVC_CPU_ISA_AUTO (and the KVC_CPU_ISA environment variable:
 * scalar, avx2, avx512) to the ISA actually used. */
kvc_cpu_isa kvc__cpu_isa_resolve(kvc_cpu_isa isa);
/* KVC_THREADS or the number of online CPUs, clamped to 1..256. */
int kvc__cpu_default_threads(void);

/* Packs W [n, k] for the kernels of isa (must be supported). */
kvc_status kvc__cpu_matrix_create(kvc_cpu_isa isa, const float *w, int64_t n, int64_t k,
                                  kvc_matrix **out, kvc_error *err);
void kvc__cpu_matrix_destroy(kvc_matrix *m);
/* y = x W^T with up to `threads` threads; bits independent of threads. */
kvc_status kvc__cpu_matmul(int threads, const float *x, int64_t rows, const kvc_matrix *m,
                           float *y, kvc_error *err);

/* Runs fn(arg, part, nparts) for part = 0..nparts-1, parts 1.. on their
 * own threads and part 0 on the caller; a thread that cannot be created
 * runs its part on the caller instead. Parts must write disjoint data. */
typedef void (*kvc__part_fn)(void *arg, int part, int nparts);
void kvc__parallel_run(int nparts, kvc__part_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* KVC_V4_CPU_H */
