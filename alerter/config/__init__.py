"""Reading the config: YAML with positions, its bounds, and the validated config objects."""
