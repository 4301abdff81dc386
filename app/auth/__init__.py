"""End-user authentication: the storefront's JWTs verified into a Principal, with a shared secret
or the identity provider's JWKS."""
