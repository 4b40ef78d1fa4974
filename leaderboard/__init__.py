"""Kaggle-style competition: validate, score, rank and grade prediction CSVs."""
