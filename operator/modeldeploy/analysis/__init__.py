"""Live analysis of a version being rolled out: verdict rules (pure) and metric providers."""
