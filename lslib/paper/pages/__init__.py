"""Presentation only: tables, figures, the forest plot, page elements and the readings
page, all reading saved results and verdicts; nothing here computes a result."""
