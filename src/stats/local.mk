## stats module (see DESIGN.md): correctly rounded sums, Student-t
## quantiles, accounted bits, aggregation across passages, report files.
libkvcert_la_SOURCES += \
	%reldir%/exactsum.c \
	%reldir%/ci.c \
	%reldir%/bits.c \
	%reldir%/aggregate.c \
	%reldir%/published.c \
	%reldir%/report.c \
	%reldir%/jsonpath.h

kvcstatsdir = $(pkgincludedir)/stats
kvcstats_HEADERS = \
	%reldir%/exactsum.h \
	%reldir%/ci.h \
	%reldir%/bits.h \
	%reldir%/aggregate.h \
	%reldir%/published.h

check_PROGRAMS += tests/check_stats tests/check_aggregate
TESTS += tests/check_stats tests/check_aggregate tests/aggregate_cli.sh \
	tests/aggregate_shared.sh
tests_check_stats_SOURCES = tests/check_stats.c tests/testutil.h
tests_check_stats_CFLAGS = $(TEST_CFLAGS)
tests_check_stats_LDADD = $(TEST_LDADD)
tests_check_aggregate_SOURCES = tests/check_aggregate.c tests/testutil.h
tests_check_aggregate_CFLAGS = $(TEST_CFLAGS) $(CJSON_CFLAGS)
tests_check_aggregate_LDADD = $(TEST_LDADD) $(CJSON_LIBS)
EXTRA_DIST += tests/aggregate_cli.sh tests/aggregate_shared.sh

## metrics and audit (codec branch)
libkvcert_la_SOURCES += \
	%reldir%/metrics.c \
	%reldir%/audit.c %reldir%/gaussian.c

kvcstats_HEADERS += \
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

## end-to-end audit and Q-sweep drivers (audit branch)
libkvcert_la_SOURCES += %reldir%/audit_run.c
kvcstats_HEADERS += %reldir%/audit_run.h
check_PROGRAMS += tests/check_audit_run
TESTS += tests/check_audit_run tests/audit_cli.sh
tests_check_audit_run_SOURCES = tests/check_audit_run.c tests/testutil.h
tests_check_audit_run_CFLAGS = $(TEST_CFLAGS) $(CJSON_CFLAGS)
tests_check_audit_run_LDADD = $(TEST_LDADD) $(CJSON_LIBS)
EXTRA_DIST += tests/audit_cli.sh

## the same on CUDA against the CPU table (exit 77 without a device)
check_PROGRAMS += tests/check_cuda_audit
TESTS += tests/check_cuda_audit
tests_check_cuda_audit_SOURCES = tests/check_cuda_audit.c tests/testutil.h
tests_check_cuda_audit_CFLAGS = $(TEST_CFLAGS)
tests_check_cuda_audit_LDADD = $(TEST_LDADD)
