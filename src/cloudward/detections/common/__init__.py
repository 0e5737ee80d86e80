"""Matching logic shared by cards of several areas (not cards themselves)."""
