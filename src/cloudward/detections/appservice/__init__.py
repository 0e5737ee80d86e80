"""Detection cards: appservice."""
