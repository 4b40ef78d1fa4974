"""``autograder demo``: one whole course cycle on simulated students (see :mod:`.runner`)."""
