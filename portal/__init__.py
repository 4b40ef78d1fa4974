"""The course portal: students hand in and see results; a live leaderboard; instructors watch.

``app`` (the web process: FastAPI, never imports torch), ``worker`` (grades the queue with the
engine), ``store`` (its own tables, migrated by Alembic), ``auth`` (tokens, session, CSRF),
``service`` (what an upload does to the course, as the CLI would do it).
"""
