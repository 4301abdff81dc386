"""Instacart's order callbacks: the OAuth token server Instacart authenticates with, the
receiver, and the inbox that applies events in order."""
