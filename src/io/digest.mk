## io: SHA-256 digests, manifests and the verifier (DESIGN.md "Errors and
## inputs"). A fragment of its own so that it merges cleanly beside the
## rest of src/io/local.mk.
libkvcert_la_SOURCES += \
	%reldir%/digest.c \
	%reldir%/manifest.c \
	%reldir%/verify.c \
	%reldir%/hash_jobs.h

kvciodigestdir = $(pkgincludedir)/io
kvciodigest_HEADERS = \
	%reldir%/digest.h \
	%reldir%/manifest.h

check_PROGRAMS += tests/check_digest tests/check_manifest tests/check_progress
TESTS += tests/check_digest tests/check_manifest tests/check_progress
tests_check_digest_SOURCES = tests/check_digest.c tests/testutil.h
tests_check_digest_CFLAGS = $(TEST_CFLAGS)
tests_check_digest_LDADD = $(TEST_LDADD) $(CRYPTO_LIBS)
tests_check_manifest_SOURCES = tests/check_manifest.c tests/testutil.h
tests_check_manifest_CFLAGS = $(TEST_CFLAGS)
tests_check_manifest_LDADD = $(TEST_LDADD) $(CRYPTO_LIBS)
## the CLI's progress bar is not in the library: the test compiles it in
tests_check_progress_SOURCES = tests/check_progress.c tests/testutil.h \
	src/cli/progress.c src/cli/progress.h
tests_check_progress_CFLAGS = $(TEST_CFLAGS)
tests_check_progress_LDADD = $(TEST_LDADD)

## The CLI test is a POSIX sh script run through its #! line (it is kept
## executable), so it needs no TEST_EXTENSIONS / SH_LOG_COMPILER here; if
## another fragment registers .sh with SH_LOG_COMPILER = $(SHELL), it runs
## the same way.
TESTS += tests/cli_verify.sh
EXTRA_DIST += tests/cli_verify.sh
