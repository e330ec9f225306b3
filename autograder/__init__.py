"""The grading engine of the 1D-CNN course kit (instructor-only, never released)."""
