"""Kedro pipelines: thin nodes over the physics, model and metric code."""
