# nbgrader's own settings. Everything else (limits, seed, due dates, weights,
# thresholds) lives in course.toml. nbgrader's tools, the formgrader and the
# autograder all read the gradebook's location from here.
import os

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)
c.CourseDirectory.course_id = "pytorch-mlp"

# The gradebook: a path relative to this folder (the autograder resolves it the same
# way), so a copied course uses its own gradebook wherever nbgrader is started from.
GRADEBOOK = "gradebook.db"
HERE = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = HERE
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, GRADEBOOK)

# `autograder grade` does the autograding (sandboxed, tests judged outside the
# student's process); nbgrader's own autograde refuses with the reason.
c.Autograde.exporter_class = "autograder.nbgrader_guard.RefuseAutograde"

# nbgrader's generate_feedback shows the test cells of autograded/ notebooks:
# cut their hidden tests as generate_assignment does.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
]
