## bench: performance programs, built and run by `make bench` (never by
## `make check`). Results go to bench/NOTES.md as ratios, machine named.
EXTRA_PROGRAMS += bench/bench_dequant
bench_bench_dequant_SOURCES = bench/bench_dequant.c
bench_bench_dequant_LDADD = libkvcert.la
CLEANFILES += bench/bench_dequant$(EXEEXT)

kvc_bench_programs = bench/bench_dequant$(EXEEXT)

bench: $(kvc_bench_programs)
	$(AM_V_at)for b in $(kvc_bench_programs); do echo "== $$b"; ./$$b || exit 1; done

.PHONY: bench
