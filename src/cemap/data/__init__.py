"""Synthetic data: MNIST digit sources, double-digit images, sentences and splits."""
