"""Detection cards: node."""
