"""Stateful analytics shared by cards: baselines, windows, indexes with serializable state."""
