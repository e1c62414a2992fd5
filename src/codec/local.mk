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
