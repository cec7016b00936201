"""Qt widgets: the canvas, the side panels and dialogs. They never own document data."""
