## io module (see DESIGN.md).
include %reldir%/digest.mk
