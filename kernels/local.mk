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
