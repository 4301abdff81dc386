"""An Instacart Connect Fulfillment API (v2) simulator with real state and fault injection."""

from sandbox.app import create_sandbox_app
from sandbox.config import SandboxConfig

__all__ = ["SandboxConfig", "create_sandbox_app"]
