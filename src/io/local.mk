## io module (see DESIGN.md): safetensors files, atomic output files.
libkvcert_la_SOURCES += \
	%reldir%/atomic.c \
	%reldir%/readfile.c \
	%reldir%/safetensors.c \
	%reldir%/utf8.h

kvciodir = $(pkgincludedir)/io
kvcio_HEADERS = \
	%reldir%/atomic.h \
	%reldir%/readfile.h \
	%reldir%/safetensors.h

check_PROGRAMS += tests/check_safetensors tests/check_atomic
TESTS += tests/check_safetensors tests/check_atomic
tests_check_safetensors_SOURCES = tests/check_safetensors.c tests/testutil.h
tests_check_safetensors_CFLAGS = $(TEST_CFLAGS)
tests_check_safetensors_LDADD = $(TEST_LDADD) $(CJSON_LIBS) $(CRYPTO_LIBS)
tests_check_atomic_SOURCES = tests/check_atomic.c tests/testutil.h
tests_check_atomic_CFLAGS = $(TEST_CFLAGS)
tests_check_atomic_LDADD = $(TEST_LDADD)

TESTS += tests/cli_inspect.sh
EXTRA_DIST += tests/cli_inspect.sh

include %reldir%/digest.mk
