## cli: the kvcert program. One file per command; main.c dispatches.
kvcert_SOURCES += \
	%reldir%/main.c \
	%reldir%/cmd_devices.c \
	%reldir%/cmd_inspect.c \
	%reldir%/cmd_dequant.c \
	%reldir%/cli.c \
	%reldir%/cli.h \
	%reldir%/commands.h
## cmd_inspect prints JSON with cJSON itself (Debian's libtool does not
## pass libkvcert's dependencies on to programs).
kvcert_LDADD += $(CJSON_LIBS)
