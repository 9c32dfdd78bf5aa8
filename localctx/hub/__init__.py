"""The Hugging Face Hub room: the only package that imports ``huggingface_hub``.

``select`` parses references and picks quants (no network, no huggingface_hub import), ``refs``
resolves ``owner/repo[:QUANT]`` against the local cache for the model catalog, and ``client`` pulls
files and reads remote headers.  Import the submodule you need; this package imports nothing, so a
reference check never loads huggingface_hub.
"""
