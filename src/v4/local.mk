## v4 module (see DESIGN.md).
