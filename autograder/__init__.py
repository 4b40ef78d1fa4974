"""Sandboxed, parallel autograder for nbgrader assignments."""
