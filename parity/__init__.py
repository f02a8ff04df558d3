"""Parity against TensorFlow: DeepMind's graph in raw TF ops, run on the same weights as our model."""
