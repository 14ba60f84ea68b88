"""Long-video generation: the generator (generator.py), its arithmetic, noise and sampler (sampling.py),
the videos it advances (video.py) and the strategies beside chaining (strategies/)."""
