"""One module per owned kind: build the child's manifest from the spec (pure) and apply it."""
