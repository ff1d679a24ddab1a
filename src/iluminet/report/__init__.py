"""Presentation: the tables, figures and files a clinician or reviewer reads.

Nothing here computes a clinical number; it formats and draws what the analysis modules return.
"""
