"""Atyrau University student-support assistant (Regulation No. 066)."""
