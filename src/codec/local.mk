## codec module (see DESIGN.md).
