"""Parameters: the YAML files under ``params/``, merged with explicit precedence and validated."""
