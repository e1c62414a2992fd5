## v4 module (see DESIGN.md): dequantization, the synthetic host, the KV path.
libkvcert_la_SOURCES += \
	%reldir%/dequant.c \
	%reldir%/dequant_tensor.c \
	%reldir%/synth.c \
	%reldir%/synth_write.c

kvcv4dir = $(pkgincludedir)/v4
kvcv4_HEADERS = \
	%reldir%/dequant_scalar.h \
	%reldir%/dequant.h \
	%reldir%/synth.h

check_PROGRAMS += tests/check_dequant tests/check_synth
TESTS += tests/check_dequant tests/check_synth
tests_check_dequant_SOURCES = tests/check_dequant.c tests/testutil.h
tests_check_dequant_CFLAGS = $(TEST_CFLAGS)
tests_check_dequant_LDADD = $(TEST_LDADD)
tests_check_synth_SOURCES = tests/check_synth.c tests/testutil.h
tests_check_synth_CFLAGS = $(TEST_CFLAGS)
tests_check_synth_LDADD = $(TEST_LDADD) $(CJSON_LIBS) $(CRYPTO_LIBS)

## The synth and dequant commands end to end (run through SH_LOG_COMPILER).
TESTS += tests/cli_synth.sh
EXTRA_DIST += tests/cli_synth.sh

## --- the V4 KV write path: CPU backend, shared scalar code, pipeline
libkvcert_la_SOURCES += \
	%reldir%/cpu.h \
	%reldir%/parallel.c \
	%reldir%/matmul_cpu.c \
	%reldir%/cpu_backend.c \
	%reldir%/profile.c \
	%reldir%/pipeline.c

kvcv4pathdir = $(pkgincludedir)/v4
kvcv4path_HEADERS = \
	%reldir%/kvsim.h \
	%reldir%/norm.h \
	%reldir%/pipeline.h \
	%reldir%/profile.h \
	%reldir%/pool.h \
	%reldir%/rope.h

check_PROGRAMS += tests/check_matmul
TESTS += tests/check_matmul
tests_check_matmul_SOURCES = tests/check_matmul.c tests/testutil.h
tests_check_matmul_CFLAGS = $(TEST_CFLAGS)
tests_check_matmul_LDADD = $(TEST_LDADD)

check_PROGRAMS += tests/check_v4ops
TESTS += tests/check_v4ops
tests_check_v4ops_SOURCES = tests/check_v4ops.c tests/testutil.h tests/v4_oracle.h
tests_check_v4ops_CFLAGS = $(TEST_CFLAGS)
tests_check_v4ops_LDADD = $(TEST_LDADD)

check_PROGRAMS += tests/check_pipeline
TESTS += tests/check_pipeline
tests_check_pipeline_SOURCES = tests/check_pipeline.c tests/testutil.h tests/v4_oracle.h
tests_check_pipeline_CFLAGS = $(TEST_CFLAGS)
tests_check_pipeline_LDADD = $(TEST_LDADD) $(CJSON_LIBS) $(CRYPTO_LIBS)
## check_pipeline runs bin/kvcert: build it first (a dependency of the
## test program; a user rule for its .log would override Automake's)
EXTRA_tests_check_pipeline_DEPENDENCIES = kvcert$(EXEEXT)

## --- the equivalence check of two backends (kvcert equiv, v4/equiv.h)
libkvcert_la_SOURCES += %reldir%/equiv.c %reldir%/equiv_mem.c
kvcv4path_HEADERS += %reldir%/equiv.h
check_PROGRAMS += tests/check_equiv
TESTS += tests/check_equiv
tests_check_equiv_SOURCES = tests/check_equiv.c tests/testutil.h
tests_check_equiv_CFLAGS = $(TEST_CFLAGS)
tests_check_equiv_LDADD = $(TEST_LDADD)

## The CPU table's backend memory and chaining helpers against oracles.
check_PROGRAMS += tests/check_backend_mem
TESTS += tests/check_backend_mem
tests_check_backend_mem_SOURCES = tests/check_backend_mem.c tests/testutil.h
tests_check_backend_mem_CFLAGS = $(TEST_CFLAGS)
tests_check_backend_mem_LDADD = $(TEST_LDADD)
