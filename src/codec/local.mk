## codec module (see DESIGN.md): Walsh-Hadamard transform, D4/E8 lattices,
## the KakeyaLattice codecs with a real bitstream, FP8 block simulations.
libkvcert_la_SOURCES += \
	%reldir%/bits.c \
	%reldir%/fp8block.c \
	%reldir%/kakeya.c \
	%reldir%/kvcl.c

kvccodecdir = $(pkgincludedir)/codec
kvccodec_HEADERS = \
	%reldir%/bits.h \
	%reldir%/bitpack.h \
	%reldir%/fp8block.h \
	%reldir%/hadamard.h \
	%reldir%/lattice.h \
	%reldir%/kakeya.h \
	%reldir%/kvcl.h

check_PROGRAMS += tests/check_hadamard tests/check_lattice
TESTS += tests/check_hadamard tests/check_lattice
tests_check_hadamard_SOURCES = tests/check_hadamard.c tests/testutil.h
tests_check_hadamard_CFLAGS = $(TEST_CFLAGS)
tests_check_hadamard_LDADD = $(TEST_LDADD)
tests_check_lattice_SOURCES = tests/check_lattice.c tests/testutil.h
tests_check_lattice_CFLAGS = $(TEST_CFLAGS)
tests_check_lattice_LDADD = $(TEST_LDADD)
check_PROGRAMS += tests/check_kakeya
TESTS += tests/check_kakeya
tests_check_kakeya_SOURCES = tests/check_kakeya.c tests/testutil.h
tests_check_kakeya_CFLAGS = $(TEST_CFLAGS)
tests_check_kakeya_LDADD = $(TEST_LDADD) $(CJSON_LIBS) $(CRYPTO_LIBS)
## the register-friendly search against the former one, bit for bit
check_PROGRAMS += tests/check_lattice_equiv
TESTS += tests/check_lattice_equiv
tests_check_lattice_equiv_SOURCES = tests/check_lattice_equiv.c tests/testutil.h
tests_check_lattice_equiv_CFLAGS = $(TEST_CFLAGS)
tests_check_lattice_equiv_LDADD = $(TEST_LDADD)
check_PROGRAMS += tests/check_fp8block
TESTS += tests/check_fp8block
tests_check_fp8block_SOURCES = tests/check_fp8block.c tests/testutil.h
tests_check_fp8block_CFLAGS = $(TEST_CFLAGS)
tests_check_fp8block_LDADD = $(TEST_LDADD)
check_PROGRAMS += tests/check_codec_cli
TESTS += tests/check_codec_cli
tests_check_codec_cli_SOURCES = tests/check_codec_cli.c tests/testutil.h
tests_check_codec_cli_CFLAGS = $(TEST_CFLAGS)
tests_check_codec_cli_LDADD = $(TEST_LDADD) $(CJSON_LIBS)

## `make gpu-codec`: the shared codec code on the GPU against the same code
## on the CPU, bit for bit (tests/gpu_codec_equiv.cu; exit 77 without a
## device). A standalone nvcc program like tests/gpu_exhaustive_formats; it
## is also built by `make gpu-programs`, so ci/gpu-bundle.sh carries it and
## ci/gpu-check.sh runs it.
EXTRA_DIST += tests/gpu_codec_equiv.cu
KVC_GPU_CODEC_C = $(srcdir)/src/codec/kakeya.c $(srcdir)/src/codec/bits.c \
	$(srcdir)/src/stats/gaussian.c $(srcdir)/src/stats/metrics.c $(srcdir)/src/core/error.c \
	$(srcdir)/src/core/intlog.c
if HAVE_CUDA
EXTRA_PROGRAMS += tests/gpu_codec_equiv
CLEANFILES += tests/gpu_codec_equiv$(EXEEXT)
tests_gpu_codec_equiv_SOURCES =
tests/gpu_codec_equiv$(EXEEXT): tests/gpu_codec_equiv.cu $(KVC_GPU_CODEC_C) $(kvccodec_HEADERS) \
		$(kvccore_HEADERS) $(kvcstats_HEADERS)
	@$(MKDIR_P) tests
	$(AM_V_GEN)$(NVCC) $(NVCC_FLAGS) -O2 -o $@ $(srcdir)/tests/gpu_codec_equiv.cu \
		$(KVC_GPU_CODEC_C) -lm

gpu-programs: tests/gpu_codec_equiv$(EXEEXT)
gpu-codec: tests/gpu_codec_equiv$(EXEEXT)
	$(AM_V_at)./tests/gpu_codec_equiv$(EXEEXT)
else
gpu-codec:
	@echo "gpu-codec: kvcert was configured without CUDA" >&2; exit 1
endif
.PHONY: gpu-codec
