"""The model-reference room: what a MODEL argument can name and the settings saved per model.

``catalog`` resolves a reference (path, bundled model, registered name, pulled ``repo:quant``,
preset), ``presets`` reads the preset TOML files shipped in ``presets/``, ``settings_file`` keeps the
per-model settings a user saved with ``plan --save``.
"""
