"""localctx: run quantized long-context GGUF models locally, and know before loading whether they fit."""

__version__ = "0.1.0"
__all__ = ["__version__"]
