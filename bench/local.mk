## bench: performance programs, built on demand (EXTRA_PROGRAMS) by
## `make bench`, which also runs them. Results go in bench/NOTES.md.
## Benchmarks write their scratch files under $KVC_BENCH_TMPDIR (or /tmp).
KVC_BENCHES = bench/bench_sha256
EXTRA_PROGRAMS += $(KVC_BENCHES)
CLEANFILES += $(KVC_BENCHES:=$(EXEEXT))

bench_bench_sha256_SOURCES = bench/bench_sha256.c
bench_bench_sha256_LDADD = libkvcert.la $(CRYPTO_LIBS)

## FP8 dequantization throughput as a ratio of memcpy (bench/NOTES.md).
KVC_BENCHES += bench/bench_dequant
bench_bench_dequant_SOURCES = bench/bench_dequant.c
bench_bench_dequant_LDADD = libkvcert.la

bench: $(KVC_BENCHES:=$(EXEEXT))
	$(AM_V_at)for b in $(KVC_BENCHES:=$(EXEEXT)); do \
	  echo "== $$b"; ./$$b || exit 1; \
	done

.PHONY: bench
