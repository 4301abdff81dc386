"""The sandbox's routers: one module per concern, each with its own `router`."""
