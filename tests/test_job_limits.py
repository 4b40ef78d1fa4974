"""course.toml [limits] travel whole: policy.Limits -> executor.Job (JSON, Dask) -> sandbox.SandboxSpec.

Fast tier: pure, no kernel. A limit added to ``Limits`` needs no other edit to reach the
sandbox; these tests fail if any field is dropped, renamed or reset to its default on the way.
"""
from __future__ import annotations

import dataclasses
import json

from autograder.engine import sandbox
from autograder.engine.executor import Job
from coursebase.policy import Limits


def _every_field_changed() -> Limits:
    """A Limits whose every field differs from its default (so a field reset on the way shows)."""
    values = {}
    for f in dataclasses.fields(Limits):
        default = f.default
        assert isinstance(default, (int, float)) and not isinstance(default, bool), \
            f"Limits.{f.name}: extend this test for a {type(default).__name__} limit"
        values[f.name] = type(default)(default * 3 + 7)
    limits = Limits(**values)
    assert all(getattr(limits, f.name) != f.default for f in dataclasses.fields(Limits))
    return limits


def _job(limits: Limits) -> Job:
    return Job(job_id="a1/s1", student_id="s1", assignment="a1", submission_dir="/sub", notebook="a1.ipynb",
               kit_path="/kit.json", result_path="/spool/s1.json", seed=42, limits=limits, hide=["/course"])


def test_every_limit_survives_the_job_json_field_by_field():
    limits = _every_field_changed()
    text = _job(limits).to_json()
    on_the_wire = json.loads(text)["limits"]
    back = Job.from_json(text)
    for f in dataclasses.fields(Limits):
        assert on_the_wire[f.name] == getattr(limits, f.name), f.name
        assert getattr(back.limits, f.name) == getattr(limits, f.name), f.name
        assert type(getattr(back.limits, f.name)) is type(getattr(limits, f.name)), f.name
    assert set(on_the_wire) == {f.name for f in dataclasses.fields(Limits)}
    assert back == _job(limits) and isinstance(back.limits, Limits)


def test_every_limit_survives_the_dask_task_form():
    # cluster.pack sends Job.to_dict(); the worker rebuilds the Job with Job.from_dict
    limits = _every_field_changed()
    data = json.loads(json.dumps(_job(limits).to_dict()))   # what crosses the network is plain data
    assert Job.from_dict(data).limits == limits


def test_the_sandbox_gets_the_limits_whole_in_the_kernels_units():
    limits = Limits(memory_mb=300, cpu_time=12.9, processes=9, file_size_mb=5, disk_mb=70, output_kb=3)
    spec = sandbox.SandboxSpec(uid=1, limits=Job.from_json(_job(limits).to_json()).limits)
    assert spec.limits == limits
    assert spec.limits.memory_bytes == 300 * 1024 * 1024
    assert spec.limits.cpu_seconds == 12                     # setrlimit takes whole seconds
    assert spec.limits.file_size_bytes == 5 * 1024 * 1024
    assert spec.limits.disk_bytes == 70 * 1024 * 1024
    assert spec.limits.output_bytes == 3 * 1024
