"""The course's base: what every part of the product agrees on, below all of them.

Where things live in a course folder (:mod:`.layout`), the course policy
(:mod:`.policy`, ``course.toml``), submission times (:mod:`.timestamp`), a
submission on disk (:mod:`.submission`), the closed vocabularies of statuses and
flags (:mod:`.vocabulary`), pricing late work (:mod:`.late`), the one rule for
CSV cells a spreadsheet opens (:mod:`.spreadsheet`), drawing a report's histogram
(:mod:`.histogram`), notebook text conventions (:mod:`.notebook`), the one atomic write
(:mod:`.files`), and a notebook's reference answers and a student's copy of it (:mod:`.answers`).

Imports nothing of the project: ``autograder``, ``leaderboard``, ``finalgrades``,
``portal`` and ``classroom`` all stand on it, and it on none of them.
"""
