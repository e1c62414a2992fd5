## core: error records, number formats, deterministic math.
libkvcert_la_SOURCES += \
	%reldir%/error.c \
	%reldir%/intlog.c

kvccoredir = $(pkgincludedir)/core
kvccore_HEADERS = \
	%reldir%/hd.h \
	%reldir%/error.h \
	%reldir%/formats.h \
	%reldir%/intlog.h \
	%reldir%/detmath.h \
	%reldir%/backend.h

check_PROGRAMS += tests/check_error
TESTS += tests/check_error
tests_check_error_SOURCES = tests/check_error.c tests/testutil.h
tests_check_error_CFLAGS = $(TEST_CFLAGS)
tests_check_error_LDADD = $(TEST_LDADD)

check_PROGRAMS += tests/check_formats
TESTS += tests/check_formats
tests_check_formats_SOURCES = tests/check_formats.c tests/formats_oracle.h tests/testutil.h
tests_check_formats_CFLAGS = $(TEST_CFLAGS)
tests_check_formats_LDADD = $(TEST_LDADD)

## The full 2^32 sweep of every encoder: `make check-exhaustive` (minutes).
EXTRA_PROGRAMS += tests/exhaustive_formats
CLEANFILES += tests/exhaustive_formats$(EXEEXT)
tests_exhaustive_formats_SOURCES = tests/exhaustive_formats.c tests/formats_oracle.h
tests_exhaustive_formats_CFLAGS = $(AM_CFLAGS) -O2
tests_exhaustive_formats_LDADD = -lm
## detmath: deterministic binary32 exp, log, sin, cos, pow (header only).
check_PROGRAMS += tests/check_detmath
TESTS += tests/check_detmath
tests_check_detmath_SOURCES = tests/check_detmath.c tests/testutil.h
tests_check_detmath_CFLAGS = $(TEST_CFLAGS)
tests_check_detmath_LDADD = $(TEST_LDADD)

## All 2^32 inputs of exp, log, sin, cos against the binary64 libm oracle,
## on 2 threads (about 15 CPU-minutes): make check-exhaustive-math.
EXTRA_PROGRAMS += tests/exhaustive_detmath
tests_exhaustive_detmath_SOURCES = tests/exhaustive_detmath.c
tests_exhaustive_detmath_CFLAGS = $(AM_CFLAGS) -pthread
tests_exhaustive_detmath_LDFLAGS = $(AM_LDFLAGS) -pthread
tests_exhaustive_detmath_LDADD = -lm
CLEANFILES += tests/exhaustive_detmath$(EXEEXT)

check-exhaustive-math: tests/exhaustive_detmath$(EXEEXT)
	$(AM_V_at)./tests/exhaustive_detmath$(EXEEXT)

.PHONY: check-exhaustive-math
