"""Development mode: the embedded Postgres, Redis and Instacart, and the demo storefront.
Production never imports it."""
