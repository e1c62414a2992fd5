## stats module (see DESIGN.md).
