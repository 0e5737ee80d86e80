"""Detection cards: kubernetes."""
