"""IOHandlers: one module per kind of destination, holding only what differs."""
