/* kvcert: the CUDA backend's context and the staging of one operation's
 * arrays (C++ only, internal to kernels/).
 *
 * core/backend.h lets every operation take host arrays or backend memory
 * (blocks from mem_alloc). An operation declares each array argument to a
 * kvc__cu_op, which hands back the device pointer the kernel uses:
 *   - a range inside one backend-memory block is used in place (a range
 *     that starts in a block and runs past its end is refused before any
 *     kernel runs);
 *   - any other pointer is host memory: inputs are copied into one of the
 *     context's scratch slots (kept and grown between calls), outputs are
 *     copied back by finish(), which then waits for the stream.
 * An operation whose outputs are all backend memory is only queued on the
 * backend's stream: finish() checks the launch and returns. Work runs in
 * call order (one stream), so a chain of operations needs no waits; a
 * failure of queued work surfaces at the next wait (mem_download,
 * mem_sync, or an operation with a host output).
 *
 * Guard zones (kvc_backend_cuda_set_guard): every scratch slot and every
 * backend-memory block has GUARD bytes of GUARD_BYTE before and after it.
 * With the guard on, finish() waits and checks the zones of every slot
 * and block the operation wrote; a kernel that wrote outside them makes
 * the operation fail with KVC_INTERNAL naming the buffer.
 *
 * The backend's lock is held from the op's construction to its end, so a
 * backend may be shared between threads.
 */
#ifndef KVC_KERNELS_CUDA_OP_H
#define KVC_KERNELS_CUDA_OP_H

#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_common.h"

constexpr size_t KVC_CU_GUARD = 256;          /* bytes before and after a guarded buffer */
constexpr unsigned char KVC_CU_GUARD_BYTE = 0xA5;
constexpr int KVC_CU_NSLOTS = 12;             /* scratch slots of one operation */
constexpr int KVC_CU_MAX_ARGS = 12;           /* staged arrays of one operation */

/* A device buffer with guard zones: [GUARD][cap bytes][GUARD]. */
struct kvc__cu_scratch {
    unsigned char *base = nullptr;
    size_t cap = 0;
};

struct kvc__cu_ctx {
    int device = 0;
    cudaStream_t stream = nullptr;
    int guard = 0;
    kvc_cuda_tile tile = KVC_CUDA_TILE_AUTO; /* matmul tiling (speed only) */
    char name[32] = {0};
    std::mutex lock;
    kvc__cu_scratch slot[KVC_CU_NSLOTS];
    /* backend-memory blocks: user pointer (base + GUARD) -> bytes */
    std::map<uintptr_t, size_t> blocks;
};

kvc__cu_ctx *kvc__cu_ctx_of(const kvc_backend *be);

/* One operation's staging; see the file comment. Typical use:
 *
 *   kvc__cu_op op(be, "rmsnorm", err);
 *   const float *dx; uint16_t *dy;
 *   TRY(op.begin());
 *   TRY(op.in(x, xb, &dx));
 *   TRY(op.out(y, yb, &dy));
 *   k_rmsnorm<<<..., op.stream()>>>(dx, ..., dy);
 *   return op.finish();
 */
class kvc__cu_op {
public:
    kvc__cu_op(const kvc_backend *be, const char *name, kvc_error *err);
    kvc__cu_op(const kvc__cu_op &) = delete;
    kvc__cu_op &operator=(const kvc__cu_op &) = delete;

    /* Makes the device current. */
    kvc_status begin();
    /* An input array of `bytes` bytes. */
    template <typename T> kvc_status in(const T *p, size_t bytes, const T **dev)
    {
        const void *d = nullptr;
        kvc_status st = stage(const_cast<T *>(p), bytes, true, false, (void **)&d);
        *dev = static_cast<const T *>(d);
        return st;
    }
    /* An output array (its old contents are not read). */
    template <typename T> kvc_status out(T *p, size_t bytes, T **dev)
    {
        return stage(p, bytes, false, true, (void **)dev);
    }
    /* An array read and written in place. */
    template <typename T> kvc_status inout(T *p, size_t bytes, T **dev)
    {
        return stage(p, bytes, true, true, (void **)dev);
    }
    /* Work space for this operation only (contents undefined). */
    template <typename T> kvc_status temp(size_t bytes, T **dev)
    {
        return take_slot(bytes, (void **)dev);
    }
    cudaStream_t stream() const { return c_->stream; }
    kvc__cu_ctx *ctx() const { return c_; }
    /* Waits for the stream now (an operation that must read a result). */
    kvc_status wait();
    /* Launch check; host outputs copied back (then a wait); guard checks. */
    kvc_status finish();

private:
    kvc_status stage(void *p, size_t bytes, bool read, bool write, void **dev);
    kvc_status take_slot(size_t bytes, void **dev);

    struct host_out {
        void *host;
        const void *dev;
        size_t bytes;
    };
    struct written_block {
        uintptr_t user;
        size_t bytes;
    };
    kvc__cu_ctx *c_;
    std::unique_lock<std::mutex> hold_;
    const char *name_;
    kvc_error *err_;
    int nslots_ = 0;
    size_t slot_used_[KVC_CU_NSLOTS] = {0};
    host_out outs_[KVC_CU_MAX_ARGS];
    int nouts_ = 0;
    written_block written_[KVC_CU_MAX_ARGS];
    int nwritten_ = 0;
};

/* Fills the backend-memory entries of a CUDA table. */
void kvc__cuda_mem_fill(kvc_backend *be);
/* Frees every scratch slot and every block still allocated. */
void kvc__cuda_mem_release(kvc__cu_ctx *c);

#endif
