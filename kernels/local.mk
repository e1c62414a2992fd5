## kernels: the CUDA backend. Built only when configure found nvcc;
## a build without it gets cuda_stub.c, whose entry points say so.
KVC_CUDA_SOURCES = \
	%reldir%/cuda_device.cu \
	%reldir%/formats.cu
EXTRA_DIST += $(KVC_CUDA_SOURCES)

kvckernelsdir = $(pkgincludedir)/kernels
kvckernels_HEADERS = %reldir%/cuda.h
noinst_HEADERS += %reldir%/cuda_common.h

if HAVE_CUDA
libkvcert_cuda_la_SOURCES += $(KVC_CUDA_SOURCES)
else
libkvcert_la_SOURCES += %reldir%/cuda_stub.c
endif
EXTRA_DIST += %reldir%/cuda_stub.c

## nvcc objects get no automatic dependency tracking: rebuild them when any
## header changes (coarse, but never stale).
$(KVC_CUDA_SOURCES:.cu=.lo): $(HEADERS) $(noinst_HEADERS)

## GPU against CPU, bit for bit; skips (77) without a device or without CUDA.
check_PROGRAMS += tests/check_cuda_formats
TESTS += tests/check_cuda_formats
tests_check_cuda_formats_SOURCES = tests/check_cuda_formats.c tests/formats_oracle.h \
	tests/testutil.h
tests_check_cuda_formats_CFLAGS = $(TEST_CFLAGS)
tests_check_cuda_formats_LDADD = $(TEST_LDADD)

## `make gpu-exhaustive`: the shared encoders against the GPU's own
## conversion instructions for all 2^32 binary32 inputs, on the device
## (seconds). A standalone nvcc program: the KVC_HD code is header-only, so
## it needs the headers and no libkvcert (libtool has no CUDA linker).
EXTRA_DIST += tests/gpu_exhaustive_formats.cu
if HAVE_CUDA
EXTRA_PROGRAMS += tests/gpu_exhaustive_formats
CLEANFILES += tests/gpu_exhaustive_formats$(EXEEXT)
tests_gpu_exhaustive_formats_SOURCES =
tests/gpu_exhaustive_formats$(EXEEXT): tests/gpu_exhaustive_formats.cu $(kvccore_HEADERS)
	@$(MKDIR_P) tests
	$(AM_V_GEN)$(NVCC) $(NVCC_FLAGS) -o $@ $(srcdir)/tests/gpu_exhaustive_formats.cu

gpu-exhaustive: tests/gpu_exhaustive_formats$(EXEEXT)
	$(AM_V_at)./tests/gpu_exhaustive_formats$(EXEEXT)
else
gpu-exhaustive:
	@echo "gpu-exhaustive: kvcert was configured without CUDA (nvcc not found or --without-cuda)" >&2; exit 1
endif
.PHONY: gpu-exhaustive

## `make gpu-programs`: builds (runs nothing) the GPU-only programs that
## ci/gpu-bundle.sh carries to the device machine.
if HAVE_CUDA
gpu-programs: tests/gpu_exhaustive_formats$(EXEEXT)
else
gpu-programs:
endif
.PHONY: gpu-programs

## --- the CUDA backend of the V4 KV write path (kernels/cuda_backend.h);
## one line per source. Without CUDA, cuda_backend_stub.c says so.
KVC_CUDA_SOURCES += %reldir%/cuda_backend.cu
KVC_CUDA_SOURCES += %reldir%/cuda_matmul.cu
KVC_CUDA_SOURCES += %reldir%/cuda_dequant.cu
KVC_CUDA_SOURCES += %reldir%/cuda_codec.cu
noinst_HEADERS += %reldir%/cuda_codec.h %reldir%/cuda_op.h %reldir%/codec_warp.cuh
kvckernels_HEADERS += %reldir%/cuda_backend.h
if !HAVE_CUDA
libkvcert_la_SOURCES += %reldir%/cuda_backend_stub.c
endif
EXTRA_DIST += %reldir%/cuda_backend_stub.c

## GPU against CPU for every backend operation and the pipeline; skips
## (77) without a device or without CUDA. Check runs it without fork().
check_PROGRAMS += tests/check_cuda_backend
TESTS += tests/check_cuda_backend
tests_check_cuda_backend_SOURCES = tests/check_cuda_backend.c tests/testutil.h
tests_check_cuda_backend_CFLAGS = $(TEST_CFLAGS)
tests_check_cuda_backend_LDADD = $(TEST_LDADD)

## The codec and statistics operations, GPU against CPU bit for bit;
## skips (77) without a device or without CUDA; no-fork Check.
check_PROGRAMS += tests/check_cuda_codec
TESTS += tests/check_cuda_codec
tests_check_cuda_codec_SOURCES = tests/check_cuda_codec.c tests/testutil.h
tests_check_cuda_codec_CFLAGS = $(TEST_CFLAGS)
tests_check_cuda_codec_LDADD = $(TEST_LDADD)
