## stats module (see DESIGN.md).

## metrics and audit (codec branch)
libkvcert_la_SOURCES += \
	%reldir%/metrics.c \
	%reldir%/audit.c

## (own install-dir variable so it cannot clash with the stats helper's)
kvcstatscodecdir = $(pkgincludedir)/stats
kvcstatscodec_HEADERS = \
	%reldir%/metrics.h \
	%reldir%/audit.h

check_PROGRAMS += tests/check_metrics tests/check_audit
TESTS += tests/check_metrics tests/check_audit
tests_check_metrics_SOURCES = tests/check_metrics.c tests/testutil.h
tests_check_metrics_CFLAGS = $(TEST_CFLAGS)
tests_check_metrics_LDADD = $(TEST_LDADD)
tests_check_audit_SOURCES = tests/check_audit.c tests/testutil.h
tests_check_audit_CFLAGS = $(TEST_CFLAGS)
tests_check_audit_LDADD = $(TEST_LDADD)
