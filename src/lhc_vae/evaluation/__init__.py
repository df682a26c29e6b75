"""Evaluation of generated events: thesis metrics, stronger metrics, report rendering."""
