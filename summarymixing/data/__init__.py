"""Dataset preparation and the bundled mini corpus."""
