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
