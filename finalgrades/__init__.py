"""Final grades: every notebook's score and the leaderboard's points, weighted by the course policy.

Sits above both :mod:`autograder` (the notebooks' scores) and :mod:`leaderboard`
(the competition's points), and below the portal and the ``autograder`` command.

One module per step: :mod:`.combine` (pure: rows, leaderboard results and weights
in, final rows out), :mod:`.report` (the CSV, the HTML course report with its
histograms, the terminal table), :mod:`.command` (``autograder grades``: reads the
course's stores, writes the files).
"""
