"""The platform layer's tests (app/platform; named so as not to shadow the standard library's
platform module): the shared cache, the request middleware, bounded metric labels."""
