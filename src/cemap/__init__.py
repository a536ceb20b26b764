"""CEMap: one latent space for images, sentences and speech of coloured double digits."""

__version__ = "0.1.0"
