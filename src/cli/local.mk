## cli: the kvcert program. One file per command; main.c dispatches.
kvcert_SOURCES += \
	%reldir%/main.c \
	%reldir%/cmd_devices.c \
	%reldir%/cmd_verify.c \
	%reldir%/progress.c \
	%reldir%/progress.h \
	%reldir%/cli.c \
	%reldir%/cli.h \
	%reldir%/commands.h
## cmd_verify.c builds its --json output with cJSON itself
kvcert_LDADD += $(CJSON_LIBS)
