## io module (see DESIGN.md).
