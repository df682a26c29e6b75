"""lhc-vae: fast generation of LHC collision events with Variational Autoencoders."""

__version__ = "0.1.0"
