## kernels: the CUDA backend. Built only when configure found nvcc;
## a build without it gets cuda_stub.c, whose entry points say so.
KVC_CUDA_SOURCES = \
	%reldir%/cuda_device.cu
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

## --- the CUDA backend of the V4 KV write path (kernels/cuda_backend.h);
## one line per source. Without CUDA, cuda_backend_stub.c says so.
KVC_CUDA_SOURCES += %reldir%/cuda_backend.cu
KVC_CUDA_SOURCES += %reldir%/cuda_matmul.cu
KVC_CUDA_SOURCES += %reldir%/cuda_dequant.cu
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
