"""svi package."""
