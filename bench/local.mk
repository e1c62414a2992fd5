## bench: performance programs, built on demand (EXTRA_PROGRAMS) by
## `make bench`, which also runs them. Results go in bench/NOTES.md.
## Benchmarks write their scratch files under $KVC_BENCH_TMPDIR (or /tmp).
KVC_BENCHES = bench/bench_sha256
EXTRA_PROGRAMS += $(KVC_BENCHES)
CLEANFILES += $(KVC_BENCHES:=$(EXEEXT))

bench_bench_sha256_SOURCES = bench/bench_sha256.c
bench_bench_sha256_LDADD = libkvcert.la $(CRYPTO_LIBS)

## FP8 dequantization throughput as a ratio of memcpy (bench/NOTES.md).
KVC_BENCHES += bench/bench_dequant
bench_bench_dequant_SOURCES = bench/bench_dequant.c
bench_bench_dequant_LDADD = libkvcert.la

## KakeyaLattice codec throughput on 2 threads (bench/NOTES.md, "Codecs").
KVC_BENCHES += bench/bench_codec
bench_bench_codec_SOURCES = bench/bench_codec.c
bench_bench_codec_LDADD = libkvcert.la -lm

bench: $(KVC_BENCHES:=$(EXEEXT))
	$(AM_V_at)for b in $(KVC_BENCHES:=$(EXEEXT)); do \
	  echo "== $$b"; ./$$b || exit 1; \
	done

.PHONY: bench

## --- V4 write path (bench/bench_v4.c): needs OpenBLAS (libopenblas-dev),
## a bench-only dependency found by configure; without it the target says
## so and builds nothing. It times the pipeline on `kvcert synth` shards.
if HAVE_OPENBLAS
EXTRA_PROGRAMS += bench/bench_v4
bench_bench_v4_SOURCES = bench/bench_v4.c
bench_bench_v4_CFLAGS = $(AM_CFLAGS) $(OPENBLAS_CFLAGS)
bench_bench_v4_LDADD = libkvcert.la $(OPENBLAS_LIBS) -lm
CLEANFILES += bench/bench_v4$(EXEEXT)

bench-v4: bench/bench_v4$(EXEEXT) kvcert$(EXEEXT)
	$(AM_V_at)rm -rf bench/v4-synth
	$(AM_V_at)./kvcert synth --out bench/v4-synth --seed 1 >/dev/null
	$(AM_V_at)./bench/bench_v4$(EXEEXT) bench/v4-synth bench/v4-synth/hidden.safetensors
	$(AM_V_at)rm -rf bench/v4-synth
else
bench-v4:
	@echo "bench-v4: OpenBLAS (libopenblas-dev) was not found by configure; not built"
endif

bench: bench-v4

.PHONY: bench bench-v4

## --- CUDA backend (bench/bench_cuda.c): matmul against cuBLAS FP32 (TF32
## off), dequantization against a device-to-device copy, one passage on
## the GPU against the CPU. cuBLAS (the toolkit's shared libcublas) is a
## bench-only dependency. `make bench-cuda` builds and runs it; the GPU
## bundle builds it through `gpu-programs`.
if HAVE_CUDA
EXTRA_PROGRAMS += bench/bench_cuda
bench_bench_cuda_SOURCES = bench/bench_cuda.c
bench_bench_cuda_CFLAGS = $(AM_CFLAGS) -isystem $(CUDA_HOME)/include
bench_bench_cuda_LDADD = libkvcert.la $(CUDA_LIBS) -lcublas -lm
CLEANFILES += bench/bench_cuda$(EXEEXT)

bench-cuda: bench/bench_cuda$(EXEEXT)
	$(AM_V_at)./bench/bench_cuda$(EXEEXT)
gpu-programs: bench/bench_cuda$(EXEEXT)
else
bench-cuda:
	@echo "bench-cuda: kvcert was configured without CUDA (nvcc not found or --without-cuda)" >&2; exit 1
gpu-programs:
endif
.PHONY: bench-cuda gpu-programs
