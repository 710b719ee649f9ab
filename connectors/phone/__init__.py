"""Phone / IVR channel: call events folded into one contact per call."""
from .calls import CallStore, Handled
from .router import router

__all__ = ["CallStore", "Handled", "router"]
