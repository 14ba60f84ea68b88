"""Scripts on the toy world: reference points (ceilings) and diagnostics."""
