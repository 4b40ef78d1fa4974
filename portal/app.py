"""The course portal's web app (FastAPI): sign-in, uploads, results, the live leaderboard, instructor pages.

Contract:

* ``create_app(course_dir, url=None)`` builds the app for one course; ``autograder serve`` runs it
  under uvicorn with a grading worker (``portal.worker``) beside it. This process never imports
  torch and never runs student code: it stores uploads and queues them.
* Everyone signs in with a token from ``autograder tokens``; the instructor's token has the owner
  ``__instructor__``. A student sees only their own work: every student route takes the student id
  from the signed session, never from the request.
* Every POST carries a CSRF token tied to the session (the sign-in form: to a pre-session cookie);
  a POST without it is refused with 403 and changes nothing.
* Uploads: at most ``MAX_REQUEST_BYTES`` per request (413 otherwise), a notebook must parse, a CSV
  must be text; at most ``UPLOADS_PER_WINDOW`` uploads per student per ``UPLOAD_WINDOW`` seconds
  (429). Refusals are shown on the page in plain words; nothing is stored.
* Sign-in: after ``FAILED_LOGINS_PER_WINDOW`` wrong tokens from one client address within
  ``LOGIN_WINDOW`` seconds, that address is refused (429) without looking at the token until the
  window has passed; successful sign-ins do not count (a class behind one NAT can sign in).
* Every response carries a Content-Security-Policy that allows no script, no frame and no form
  target off this site, plus ``nosniff``, ``no-referrer`` and ``no-store``. A feedback page (whose
  text comes from a student's notebook, escaped by ``autograder feedback``) is served in a CSP
  sandbox as well: even markup that slipped through could not act as this site.
* The public leaderboard shows pseudonyms and public accuracy only, until the instructor reveals
  the private board (allowed only after the competition's due date).
"""
from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import secrets
import tempfile
import threading
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from coursebase.layout import Course, CourseError
from coursebase.policy import load_policy
from coursebase.vocabulary import Status
from portal import auth, service
from portal.store import ADMIN, JobState, enqueue, get_setting, jobs_of, open_store, queue_position, set_setting

MAX_REQUEST_BYTES = service.MAX_CSV_BYTES + service.MAX_NOTEBOOK_BYTES + 64 * 1024
UPLOADS_PER_WINDOW = 20
UPLOAD_WINDOW = 600.0
FAILED_LOGINS_PER_WINDOW = 10
LOGIN_WINDOW = 300.0
PRE_COOKIE = "portal_pre"
REVEALED = "private_board_revealed"
PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
FEEDBACK_CSP = PAGE_CSP + "; sandbox"


def portal_url(course: Course) -> str:
    """The portal database URL: ``course.toml`` ``[portal] url`` (relative sqlite paths inside the
    course), else ``.autograder/portal.db``."""
    policy = load_policy(course.root)
    url = policy.portal.url
    if not url:
        from portal.store import default_url
        return default_url(course.root)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return f"sqlite:///{(course.root / url[len('sqlite:///'):]).resolve()}"
    return url


class _RateLimit:
    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self._hits: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def _recent(self, who: str, now: float) -> collections.deque:
        hits = self._hits[who]
        while hits and now - hits[0] > self.window:
            hits.popleft()
        if not hits:
            del self._hits[who]             # forgotten addresses take no memory
            hits = self._hits[who]
        return hits

    def allow(self, who: str) -> bool:
        """Count one hit for ``who``; False (and nothing counted) when the window is full."""
        now = time.monotonic()
        with self._lock:
            hits = self._recent(who, now)
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def full(self, who: str) -> bool:
        """Whether ``who`` is at the limit now (counts nothing)."""
        with self._lock:
            full = len(self._recent(who, time.monotonic())) >= self.limit
            if not self._hits[who]:
                del self._hits[who]
            return full

    def record(self, who: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(who, now).append(now)


def _env() -> Environment:
    env = Environment(loader=PackageLoader("portal", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    env.filters["when"] = lambda d: d.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if d else "—"
    env.filters["pct"] = lambda v: "—" if v is None else f"{100 * v:.2f} %"
    return env


def create_app(course_dir: str | Path, url: str | None = None) -> FastAPI:
    course = Course.at(course_dir)
    db = open_store(url or portal_url(course))
    sessions = auth.Sessions(auth.course_secret(course.state))
    pre_key = hashlib.sha256(b"pre:" + auth.course_secret(course.state)).digest()
    env = _env()
    limiter = _RateLimit(UPLOADS_PER_WINDOW, UPLOAD_WINDOW)
    failed_logins = _RateLimit(FAILED_LOGINS_PER_WINDOW, LOGIN_WINDOW)
    write_lock = threading.Lock()
    app = FastAPI(title="Course portal", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def hardening_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    # -- helpers ---------------------------------------------------------------------------
    def page(name: str, status: int = 200, **ctx) -> HTMLResponse:
        policy = load_policy(course.root)
        return HTMLResponse(env.get_template(name).render(course_id=policy.course_id, **ctx),
                            status_code=status)

    def who(request: Request) -> tuple[str | None, dict | None]:
        session = sessions.read(request.cookies.get(auth.SESSION_COOKIE))
        if session is None or not auth.session_valid(db, session):
            return None, None
        return session["who"], session

    async def form_of(request: Request, multi: bool = False):
        """The request's form, bounded (size, fields, files); a plain-words refusal otherwise.
        Every POST reads its body through here. ``multi`` keeps repeated keys (a FormData)."""
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            return PlainTextResponse("a request body needs a Content-Length", status_code=411)
        if int(length) > MAX_REQUEST_BYTES:
            return PlainTextResponse(f"the upload is larger than {MAX_REQUEST_BYTES // 1024 // 1024} MB; "
                                     f"nothing was stored", status_code=413)
        try:
            form = await request.form(max_files=2, max_fields=20)
        except StarletteHTTPException as exc:       # malformed multipart, too many fields, a field over 1 MB
            return PlainTextResponse(f"the form could not be read ({str(exc.detail).rstrip('.')}); nothing was "
                                     f"stored. Reload the page and send the form again.", status_code=400)
        return form if multi else dict(form)

    def csrf_fail() -> Response:
        return PlainTextResponse("this form has expired or did not come from this site (missing or wrong "
                                 "CSRF token); reload the page and try again. Nothing was changed.",
                                 status_code=403)

    async def checked_form(request: Request, session, multi: bool = False):
        """:func:`form_of`, then the session's CSRF token checked: the form, or the refusal to return."""
        form = await form_of(request, multi)
        if isinstance(form, Response):
            return form
        if session is None or not sessions.csrf_ok(session, str(form.get("csrf", ""))):
            return csrf_fail()
        return form

    async def read_upload(value, cap: int) -> bytes | None:
        if value is None or isinstance(value, str) or not getattr(value, "filename", ""):
            return None
        data = await value.read(cap + 1)
        return data

    # -- sign-in -----------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        owner, _ = who(request)
        if owner == ADMIN:
            return RedirectResponse("/admin", status_code=303)
        if owner:
            return RedirectResponse("/me", status_code=303)
        pre = request.cookies.get(PRE_COOKIE) or secrets.token_hex(16)
        token = hmac.new(pre_key, pre.encode(), hashlib.sha256).hexdigest()
        resp = page("login.html.j2", csrf=token, error=request.query_params.get("error", "")[:200])
        resp.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="strict")
        return resp

    @app.post("/login")
    async def login(request: Request):
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        pre = request.cookies.get(PRE_COOKIE, "")
        expected = hmac.new(pre_key, pre.encode(), hashlib.sha256).hexdigest()
        if not pre or not hmac.compare_digest(expected, str(form.get("csrf", ""))):
            return csrf_fail()
        address = request.client.host if request.client else "unknown"
        if failed_logins.full(address):
            return PlainTextResponse(f"too many wrong tokens from your address: at most "
                                     f"{FAILED_LOGINS_PER_WINDOW} in {int(LOGIN_WINDOW // 60)} minutes. "
                                     f"Wait a few minutes, then paste the token exactly as it was mailed.",
                                     status_code=429)
        found = auth.token_of(db, str(form.get("token", "")))
        if found is None:
            failed_logins.record(address)
            return RedirectResponse("/?error=That+token+is+not+valid+(mistyped,+or+revoked).", status_code=303)
        token_id, owner = found
        resp = RedirectResponse("/admin" if owner == ADMIN else "/me", status_code=303)
        resp.set_cookie(auth.SESSION_COOKIE, sessions.make(owner, token_id), httponly=True, samesite="strict",
                        max_age=auth.SESSION_MAX_AGE)
        return resp

    @app.post("/logout")
    async def logout(request: Request):
        owner, session = who(request)
        form = await checked_form(request, session)
        if isinstance(form, Response) or session is None:   # checked_form refuses a missing session
            return form
        auth.end_session(db, session)
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(auth.SESSION_COOKIE)
        return resp

    # -- student pages -----------------------------------------------------------------------
    def student_view(student: str, session: dict, message: str = "", error: str = "") -> dict:
        policy = load_policy(course.root)
        infos = service.assignments(course, policy)
        from autograder.records import load_latest_records
        latest = load_latest_records(course.records)
        jobs = jobs_of(db, student)
        from autograder.export import grade_rows
        try:
            graded = {r.assignment: r for r in grade_rows(course, students=[student])}
        except CourseError:
            graded = {}
        rows = []
        for info in infos:
            record = latest.get((student, info.name))
            job = next((j for j in jobs if j.assignment == info.name), None)
            waiting = job is not None and job.state in (JobState.QUEUED, JobState.RUNNING)
            feedback = course.feedback / student / info.name / f"{Path(info.notebook).stem}.html"
            rows.append({
                "info": info, "record": record, "job": job, "waiting": waiting, "grade": graded.get(info.name),
                "position": queue_position(db, job.id) if job is not None and job.state == JobState.QUEUED else None,
                "feedback": feedback.is_file() and not waiting,
                "due": policy.due_for(student, info.name),
            })
        csv_rows, left = [], None
        lb = policy.leaderboard
        if any(i.competition for i in infos):
            from leaderboard import api
            try:
                csv_rows = sorted(api.student_submissions(course.root, student),
                                  key=lambda r: (r.submitted_at, r.id or 0), reverse=True)
            except Exception:  # no leaderboard yet: nothing scored
                csv_rows = []
            left = service.daily_left(policy, csv_rows, dt.datetime.now(dt.timezone.utc).date())
        public_files = sorted(p.name for p in course.competition_public.glob("*")
                              if p.is_file() and not p.is_symlink()) if course.competition_public.is_dir() else []
        return dict(student=student, rows=rows, csv_rows=csv_rows, daily_left=left, daily_limit=lb.daily_limit,
                    public_files=public_files, csrf=sessions.csrf(session), message=message, error=error,
                    late=policy.late)

    @app.get("/me", response_class=HTMLResponse)
    def me(request: Request):
        owner, session = who(request)
        if owner is None or session is None:
            return RedirectResponse("/", status_code=303)
        if owner == ADMIN:
            return RedirectResponse("/admin", status_code=303)
        return page("student.html.j2", **student_view(owner, session,
                                                      request.query_params.get("msg", "")[:300],
                                                      request.query_params.get("err", "")[:600]))

    @app.get("/download/{assignment}")
    def download(assignment: str, request: Request):
        owner, _ = who(request)
        if owner is None:
            return RedirectResponse("/", status_code=303)
        policy = load_policy(course.root)
        infos = {i.name: i for i in service.assignments(course, policy)}
        if assignment not in infos:
            return PlainTextResponse("no such released assignment", status_code=404)
        path = course.release / assignment / infos[assignment].notebook
        return FileResponse(path, filename=path.name, media_type="application/x-ipynb+json")

    @app.get("/competition/{name}")
    def competition_file(name: str, request: Request):
        owner, _ = who(request)
        if owner is None:
            return RedirectResponse("/", status_code=303)
        allowed = {p.name: p for p in course.competition_public.glob("*")
                   if p.is_file() and not p.is_symlink()} if course.competition_public.is_dir() else {}
        if name not in allowed:
            return PlainTextResponse("no such competition file", status_code=404)
        return FileResponse(allowed[name], filename=name, media_type="text/csv")

    @app.post("/upload/{assignment}")
    async def upload(assignment: str, request: Request):
        owner, session = who(request)
        if owner is None or session is None:
            return RedirectResponse("/", status_code=303)
        form = await checked_form(request, session)
        if isinstance(form, Response):
            return form
        if owner == ADMIN:
            return PlainTextResponse("the instructor account cannot hand in work", status_code=403)
        if not limiter.allow(owner):
            return PlainTextResponse(f"too many uploads: at most {UPLOADS_PER_WINDOW} in "
                                     f"{int(UPLOAD_WINDOW // 60)} minutes. Nothing was stored; try again later.",
                                     status_code=429)
        notebook = await read_upload(form.get("notebook"), service.MAX_NOTEBOOK_BYTES)
        csv = await read_upload(form.get("csv"), service.MAX_CSV_BYTES)
        for name, data in (("notebook", notebook), ("csv", csv)):
            value = form.get(name)
            filename = getattr(value, "filename", "") or ""
            if data is not None and name == "notebook" and not filename.lower().endswith(".ipynb"):
                return page("student.html.j2", status=400, **student_view(
                    owner, session, error=f"{filename!r} is not a .ipynb notebook; upload the notebook file."))
            if data is not None and name == "csv" and not filename.lower().endswith(".csv"):
                return page("student.html.j2", status=400, **student_view(
                    owner, session, error=f"{filename!r} is not a .csv file; upload submission.csv."))
        def store_and_score() -> list[str]:
            # one writer at a time: collect and the leaderboard each write their own files and databases
            with write_lock:
                changed = service.store_upload(course, owner, assignment, notebook=notebook, csv=csv)
                notes = []
                if changed:
                    notes.append(f"stored; queued for grading (job {enqueue(db, owner, assignment)})")
                else:
                    notes.append("identical to your current submission; nothing new to grade")
                if csv is not None and changed:
                    row = service.score_csv(course, owner)
                    if row is not None:
                        notes.append(f"submission.csv: {row.status}" + (f", {row.message}" if row.message else ""))
                return notes

        try:
            notes = await run_in_threadpool(store_and_score)      # the event loop keeps serving pages
        except (service.PortalError, CourseError) as exc:
            return page("student.html.j2", status=400, **student_view(owner, session, error=str(exc)))
        return RedirectResponse("/me?msg=" + _q("; ".join(notes)), status_code=303)

    @app.get("/feedback/{assignment}", response_class=HTMLResponse)
    def feedback(assignment: str, request: Request):
        owner, _ = who(request)
        if owner is None:
            return RedirectResponse("/", status_code=303)
        if owner == ADMIN:
            return PlainTextResponse("open a student's feedback from the instructor page", status_code=404)
        return _feedback_page(owner, assignment)

    def _feedback_page(student: str, assignment: str) -> Response:
        policy = load_policy(course.root)
        infos = {i.name: i for i in service.assignments(course, policy)}
        if assignment not in infos:
            return PlainTextResponse("no such assignment", status_code=404)
        if student in ("", ".", "..") or Path(student).name != student or "\\" in student or "\0" in student:
            return PlainTextResponse("no such student", status_code=404)    # one plain folder name only
        folder = course.feedback / student / assignment
        path = folder / f"{Path(infos[assignment].notebook).stem}.html"
        if any(p.is_symlink() for p in (folder.parent, folder, path)) or not path.is_file():
            return PlainTextResponse("no feedback yet: it appears here once your notebook is graded",
                                     status_code=404)
        return HTMLResponse(path.read_text(encoding="utf-8"), headers={"Content-Security-Policy": FEEDBACK_CSP})

    @app.post("/select")
    async def select_final(request: Request):
        owner, session = who(request)
        if owner is None or session is None:
            return RedirectResponse("/", status_code=303)
        form = await checked_form(request, session, multi=True)
        if isinstance(form, Response):
            return form
        policy = load_policy(course.root)
        due = policy.due_for(owner, policy.leaderboard.assignment)
        if due is not None and dt.datetime.now(dt.timezone.utc) > due:
            return RedirectResponse("/me?err=" + _q("the deadline has passed; final submissions can no "
                                                    "longer be changed"), status_code=303)
        ids = [int(v) for k, v in form.multi_items()           # ASCII digits only: int("²") raises,
               if k == "id" and isinstance(v, str) and v.isascii() and v.isdigit() and len(v) <= 12]  # and so would 5000 digits
        from leaderboard import api
        from leaderboard.records import LeaderboardError
        try:
            api.select(course.root, owner, ids)
        except LeaderboardError as exc:
            return RedirectResponse("/me?err=" + _q(str(exc)), status_code=303)
        return RedirectResponse("/me?msg=" + _q(f"final submissions: {', '.join(map(str, ids)) or 'none'}"),
                                status_code=303)

    # -- the public leaderboard ---------------------------------------------------------------
    @app.get("/leaderboard", response_class=HTMLResponse)
    def leaderboard(request: Request):
        from leaderboard import api
        try:
            standings, _ = api.current_standings(course.root)
        except Exception:
            standings = None
        revealed = get_setting(db, REVEALED) == "yes"
        return page("board.html.j2", rows=standings.public if standings else [],
                    private=standings.instructor if (standings and revealed) else None,
                    revealed=revealed)

    # -- instructor --------------------------------------------------------------------------
    def instructor(request: Request) -> dict | None:
        owner, session = who(request)
        return session if owner == ADMIN else None

    @app.get("/admin", response_class=HTMLResponse)
    def admin(request: Request):
        session = instructor(request)
        if session is None:
            return RedirectResponse("/", status_code=303) if who(request)[0] is None else \
                PlainTextResponse("instructors only", status_code=403)
        from autograder.export import grade_rows
        try:
            rows = grade_rows(course) if course.gradebook_path.exists() else []
        except CourseError:
            rows = []
        review = [r for r in rows if r.status != Status.GRADED or r.flags]
        stats: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
        maxes: dict[tuple[str, str], float] = {}
        for r in rows:
            for c in r.cells:
                if c.score is not None:
                    stats[(r.assignment, c.grade_id)].append(c.score)
                    maxes[(r.assignment, c.grade_id)] = c.max_score
        question_stats = [(a, g, len(v), sum(v) / len(v), maxes[(a, g)], sum(1 for x in v if x >= maxes[(a, g)]))
                          for (a, g), v in sorted(stats.items())]
        final_grades: list = []
        final_names: list[str] = []
        final_error = ""
        if rows:
            from finalgrades.command import collect_grades
            try:
                final_grades, final_names, _ = collect_grades(course)
            except CourseError as exc:       # e.g. course.toml weights that name no assignment: say so
                final_error = str(exc)
        policy = load_policy(course.root)
        due = policy.due.get(policy.leaderboard.assignment)
        return page("admin.html.j2", final_grades=final_grades, final_names=final_names, final_error=final_error,
                    rows=rows, review=review, jobs=jobs_of(db)[:200], stats=question_stats,
                    csrf=sessions.csrf(session), revealed=get_setting(db, REVEALED) == "yes",
                    can_reveal=due is None or dt.datetime.now(dt.timezone.utc) > due,
                    message=request.query_params.get("msg", "")[:300],
                    error=request.query_params.get("err", "")[:600])

    @app.get("/admin/feedback/{student}/{assignment}", response_class=HTMLResponse)
    def admin_feedback(student: str, assignment: str, request: Request):
        if instructor(request) is None:
            return PlainTextResponse("instructors only", status_code=403)
        return _feedback_page(student, assignment)

    @app.post("/admin/{action}")
    async def admin_action(action: str, request: Request):
        session = instructor(request)
        if session is None:
            return PlainTextResponse("instructors only", status_code=403)
        form = await checked_form(request, session)
        if isinstance(form, Response):
            return form
        student, assignment = str(form.get("student", "")), str(form.get("assignment", ""))
        if action == "regrade":
            if (student, assignment) == ("", ""):
                return RedirectResponse("/admin?err=" + _q("name a student and an assignment"), status_code=303)
            job = enqueue(db, student, assignment, force=True)
            return RedirectResponse("/admin?msg=" + _q(f"regrade of {student}/{assignment} queued (job {job})"),
                                    status_code=303)
        if action == "override":
            from autograder.override import OverrideError, override
            try:
                points = float(str(form.get("points", "")))
                override(course, student, assignment, str(form.get("cell", "")), points,
                         str(form.get("reason", "")), show=False)
            except (ValueError, OverrideError, CourseError) as exc:
                return RedirectResponse("/admin?err=" + _q(str(exc)), status_code=303)
            return RedirectResponse("/admin?msg=" + _q(f"override saved for {student}/{assignment}"),
                                    status_code=303)
        if action == "reveal":
            policy = load_policy(course.root)
            due = policy.due.get(policy.leaderboard.assignment)
            if due is not None and dt.datetime.now(dt.timezone.utc) <= due:
                return RedirectResponse("/admin?err=" + _q(f"the private board can be revealed after the "
                                                           f"deadline ({due.isoformat()})"), status_code=303)
            set_setting(db, REVEALED, "yes")
            return RedirectResponse("/admin?msg=" + _q("private leaderboard revealed"), status_code=303)
        return PlainTextResponse("unknown action", status_code=404)

    @app.get("/admin/download/{what}")
    def admin_download(what: str, request: Request):
        if instructor(request) is None:
            return PlainTextResponse("instructors only", status_code=403)
        with tempfile.TemporaryDirectory(prefix="portal-export-") as tmp:
            out = Path(tmp) / f"{what}.csv"
            if what == "grades":
                from autograder.export import export
                export(course, out, show=False)
            elif what == "final_grades":
                from finalgrades.command import final_grades
                final_grades(course, out, show=False)
            elif what == "leaderboard":
                from leaderboard import api
                run = api.score(course.root, out_dir=tmp)
                out = run.reports.csv if run.reports else out
            else:
                return PlainTextResponse("unknown download", status_code=404)
            data = Path(out).read_bytes()
        return Response(data, media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{what}.csv"'})

    return app


def _q(text: str) -> str:
    from urllib.parse import quote_plus
    return quote_plus(text[:600])
