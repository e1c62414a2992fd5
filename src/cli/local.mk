## cli: the kvcert program. One file per command; main.c dispatches.
## Each command adds its own line below (one line each keeps merges clean).
kvcert_SOURCES += %reldir%/main.c %reldir%/cli.c %reldir%/cli.h %reldir%/commands.h
kvcert_SOURCES += %reldir%/progress.c %reldir%/progress.h
kvcert_SOURCES += %reldir%/cmd_devices.c
kvcert_SOURCES += %reldir%/cmd_inspect.c
kvcert_SOURCES += %reldir%/cmd_streams.c
kvcert_SOURCES += %reldir%/cmd_verify.c
kvcert_SOURCES += %reldir%/cmd_aggregate.c
kvcert_SOURCES += %reldir%/cmd_dequant.c
kvcert_SOURCES += %reldir%/cmd_synth.c
kvcert_SOURCES += %reldir%/cmd_equiv.c
kvcert_SOURCES += %reldir%/cmd_certify.c
kvcert_SOURCES += %reldir%/cmd_codec.c
kvcert_SOURCES += %reldir%/cmd_audit.c %reldir%/audit_cli.h
kvcert_SOURCES += %reldir%/cmd_sweep.c
## Commands that call cJSON / OpenSSL directly link them themselves
## (Debian's libtool does not pass libkvcert's dependencies on to programs).
kvcert_LDADD += $(CJSON_LIBS)
kvcert_LDADD += $(CRYPTO_LIBS)
