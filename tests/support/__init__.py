"""What tests share: helpers every package may import (no test module imports another)."""
