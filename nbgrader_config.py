# nbgrader's own settings. Everything else (limits, seed, due dates, weights,
# thresholds) lives in course.toml. nbgrader's tools read these two from here.
c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)
c.CourseDirectory.course_id = "pytorch-mlp"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
