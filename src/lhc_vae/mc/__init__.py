"""The traditional Monte Carlo chain: Pythia8, FastJet anti-kT jets, a parametrised ATLAS response."""
