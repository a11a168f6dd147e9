"""Worked examples of the recitation, generated for any layer."""
