"""VAE building blocks (thesis ch. 4, §7.3-7.6): variators, architectures, latent priors, generation.

Nothing here knows about Kedro.
"""
