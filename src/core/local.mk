## core: error records, number formats, deterministic math.
libkvcert_la_SOURCES += \
	%reldir%/error.c

kvccoredir = $(pkgincludedir)/core
kvccore_HEADERS = \
	%reldir%/hd.h \
	%reldir%/error.h \
	%reldir%/formats.h \
	%reldir%/backend.h

check_PROGRAMS += tests/check_error
TESTS += tests/check_error
tests_check_error_SOURCES = tests/check_error.c tests/testutil.h
tests_check_error_CFLAGS = $(TEST_CFLAGS)
tests_check_error_LDADD = $(TEST_LDADD)
