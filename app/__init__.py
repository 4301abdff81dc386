"""Checkout backend-for-frontend in front of Instacart Connect."""
