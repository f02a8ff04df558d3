"""Fréchet Video Distance (Unterthiner et al. 2018) exactly as TensorFlow computes it."""
