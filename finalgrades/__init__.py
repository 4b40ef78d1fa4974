"""Final grades: every notebook's score and the leaderboard's points, weighted by the course policy.

Sits above both :mod:`autograder` (the notebooks' scores) and :mod:`leaderboard`
(the competition's points), and below the portal and the ``autograder`` command.
"""
