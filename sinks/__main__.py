"""``python -m sinks``: same as ``intake sink``."""
from .service import serve

serve()
