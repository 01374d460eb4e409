"""The check names GitHub shows for a repository's workflow jobs, worked out
independently of the xtask (PyYAML, a separate reading of GitHub's documented
rules), for scripts/bench/workflow-names.sh.

Usage: python3 workflow_names.py WORKFLOW_DIR BRANCH
Prints JSON: {"shown": [...], "not_shown": [...], "unknown": [...]}
  shown      names GitHub shows on every pull request to BRANCH
  not_shown  names a policy might plausibly list that GitHub never shows on
             pull requests to BRANCH (push-only workflows, path-filtered
             ones, a job id where a name is set, an unexpanded matrix job)
  only_when_run  the expanded names (matrix, reusable call, expression) of a
             job that may be skipped (an `if:`, or a needed job with one): a
             skipped job reports one check, its name unexpanded
  unknown    jobs whose names depend on run-time values or on a workflow in
             another repository, with the reason (nobody can know them
             before the run)
"""

import itertools
import json
import os
import re
import sys

import yaml


class Unknown(Exception):
    pass


class OnlyWhenRun(Exception):
    """Names that appear only when a job that may be skipped runs."""


class CoreLoader(yaml.SafeLoader):
    """PyYAML reads YAML 1.1 (`on` and `yes` are booleans, `2_17` is 217);
    GitHub types plain scalars by the YAML 1.2 core schema."""


CoreLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag.rsplit(":", 1)[-1] not in ("bool", "int", "float")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for tag, rx, first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+.0123456789"),
):
    CoreLoader.add_implicit_resolver(f"tag:yaml.org,2002:{tag}", re.compile(rx), list(first))
CoreLoader.add_constructor("tag:yaml.org,2002:int", lambda loader, node: int(loader.construct_scalar(node), 0) if loader.construct_scalar(node).startswith(("0o", "0x")) else int(loader.construct_scalar(node)))
CoreLoader.add_constructor("tag:yaml.org,2002:bool", lambda loader, node: loader.construct_scalar(node).lower() == "true")


def load(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.load(f, Loader=CoreLoader)  # noqa: S506 - a safe loader
    if not isinstance(doc, dict):
        raise Unknown("not a mapping")
    if True in doc and "on" not in doc:  # YAML 1.1 reads `on` as true
        doc["on"] = doc.pop(True)
    return doc


def glob_re(pattern):
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c in "?+":
            out += c
        elif c == "[":
            j = pattern.index("]", i)
            out += pattern[i : j + 1]
            i = j
        elif c == "\\":
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


def branch_ok(filters, branch):
    """'always', 'some' (paths/types filters) or 'never'."""
    if filters is None:
        return "always"
    if not isinstance(filters, dict):
        raise Unknown("odd event filters")
    if "branches" in filters:
        pats = filters["branches"]
        pats = [pats] if isinstance(pats, str) else pats
        inc = False
        for p in pats:
            neg = p.startswith("!")
            if glob_re(p[1:] if neg else p).match(branch):
                inc = not neg
        if not inc:
            return "never"
    if "branches-ignore" in filters:
        pats = filters["branches-ignore"]
        pats = [pats] if isinstance(pats, str) else pats
        if any(glob_re(p).match(branch) for p in pats):
            return "never"
    if "paths" in filters or "paths-ignore" in filters:
        return "some"
    types = filters.get("types")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not {"opened", "synchronize", "reopened"} <= set(types):
            return "some"
    return "always"


def on_prs(doc, branch):
    on = doc.get("on")
    events = {}
    if isinstance(on, str):
        events = {on: None}
    elif isinstance(on, list):
        events = {e: None for e in on}
    elif isinstance(on, dict):
        events = on
    best = "never"
    for e in ("pull_request", "pull_request_target"):
        if e in events:
            r = branch_ok(events[e], branch)
            if r == "always" or (r == "some" and best == "never"):
                best = r
    return best


def text(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, (dict, list)):
        raise Unknown("collection in a name")
    return str(v)


TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(\d+(?:\.\d+)?)|([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)|(\|\||&&|==|!=|!|\(|\)|,))")


class RunTime:
    """An input whose value exists only at run time."""


def evaluate(expr, cx):
    toks, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise Unknown(f"expression {expr!r}")
        toks.append(m.groups())
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    i = 0

    def peek():
        return toks[i][3] if i < len(toks) else None

    def truthy(v):
        return v not in (None, "", False, 0)

    def num(v):
        if v is None:
            return 0.0
        if isinstance(v, bool):
            return float(v)
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, str):
            try:
                return float(v.strip() or 0)
            except ValueError:
                return float("nan")
        return float("nan")

    def eq(a, b):
        if isinstance(a, str) and isinstance(b, str):
            return a.lower() == b.lower()
        if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
            return False
        return num(a) == num(b)

    def primary():
        nonlocal i
        lit, number, path, op = toks[i]
        i += 1
        if lit is not None:
            return lit[1:-1].replace("''", "'")
        if number is not None:
            return float(number)
        if op == "(":
            v = or_()
            i += 1
            return v
        if op == "!":
            return not truthy(primary())
        if path == "format" and peek() == "(":
            i += 1
            args = [or_()]
            while peek() == ",":
                i += 1
                args.append(or_())
            i += 1
            return re.sub(r"\{(\d+)\}", lambda g: text(args[int(g.group(1)) + 1]), args[0])
        if path in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[path]
        parts = path.split(".")
        if parts[0] not in ("matrix", "inputs"):
            raise Unknown(f"expression {expr!r}")
        v = cx.get(parts[0]) or {}
        for part in parts[1:]:
            v = {k.lower(): x for k, x in v.items()}.get(part.lower()) if isinstance(v, dict) else None
            if isinstance(v, RunTime):
                raise Unknown(f"run-time input in {expr!r}")
        return v

    def cmp_():
        nonlocal i
        v = primary()
        while peek() in ("==", "!="):
            op = peek()
            i += 1
            v = eq(v, primary()) == (op == "==")
        return v

    def and_():
        nonlocal i
        v = cmp_()
        while peek() == "&&":
            i += 1
            r = cmp_()
            v = r if truthy(v) else v
        return v

    def or_():
        nonlocal i
        v = and_()
        while peek() == "||":
            i += 1
            r = and_()
            v = v if truthy(v) else r
        return v

    v = or_()
    if i != len(toks):
        raise Unknown(f"expression {expr!r}")
    return v


def render(template, cx):
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: text(evaluate(m.group(1), cx)), template)


def combos(job):
    strategy = job.get("strategy") or {}
    matrix = strategy.get("matrix")
    if matrix is None:
        return None
    if not isinstance(matrix, dict):
        raise Unknown("matrix from an expression")
    keys = [k for k in matrix if k not in ("include", "exclude")]
    for k in keys:
        if not isinstance(matrix[k], list):
            raise Unknown("matrix values from an expression")
        if any("${{" in str(v) for v in matrix[k]):
            raise Unknown("matrix value with an expression")
    out = [dict(zip(keys, vals)) for vals in itertools.product(*(matrix[k] for k in keys))] if keys else []
    excl = matrix.get("exclude") or []
    incl = matrix.get("include") or []
    if not isinstance(excl, list) or not isinstance(incl, list):
        raise Unknown("include/exclude from an expression")
    out = [c for c in out if not any(all(c.get(k) == v for k, v in e.items()) for e in excl)]
    n = len(out)
    for e in incl:
        if any("${{" in str(v) for v in e.values()):
            raise Unknown("include value with an expression")
        fitted = False
        for c in out[:n]:
            if all(c.get(k) == v for k, v in e.items() if k in keys):
                c.update(e)
                fitted = True
        if not fitted:
            out.append(dict(e))
    return out


def flat(v):
    if isinstance(v, dict):
        return [x for f in v.values() for x in flat(f)]
    return [text(v)]


def may_skip(jobs):
    """Jobs that may be skipped: an `if:` other than always() or
    !cancelled(), or a needed job that may be skipped (no `if:` of its own)."""
    def visit(key, depth):
        job = jobs.get(key) or {}
        if "if" in job:
            cond = str(job["if"]).strip()
            if cond.startswith("${{") and cond.endswith("}}"):
                cond = cond[3:-2].strip()
            return cond not in ("always()", "!cancelled()", "true", "True")
        if depth > len(jobs):
            return True
        needs = job.get("needs") or []
        needs = [needs] if isinstance(needs, str) else needs
        return any(visit(n, depth + 1) for n in needs)
    return {k for k in jobs if visit(k, 0)}


def job_names(key, job, files, inputs, depth=0, skips=frozenset()):
    """A skipped job reports one check, its name unexpanded: the expanded
    names of a job that may be skipped are not sure to appear."""
    name = job.get("name")
    if key in skips and (combos(job) is not None or "uses" in job or "${{" in str(name or "")):
        raise OnlyWhenRun()
    template = key if name is None else text(name) if not isinstance(name, str) else name
    cs = combos(job)
    names = []
    for c in cs if cs is not None else [{}]:
        cx = {"matrix": c, "inputs": inputs}
        n = render(template, cx) if name is not None else key
        if cs is not None and not re.search(r"\$\{\{[^}]*\bmatrix\b", template):
            n += " (" + ", ".join(x for v in c.values() for x in flat(v)) + ")"
        if len(n) > 100:
            raise Unknown("name over 100 characters")
        uses = job.get("uses")
        if uses is None:
            names.append(n)
            continue
        if not uses.startswith("./"):
            raise Unknown(f"calls {uses}")
        called = files.get(os.path.basename(uses))
        if called is None:
            raise Unknown(f"calls missing {uses}")
        decl = ((called.get("on") or {}).get("workflow_call") or {}) if isinstance(called.get("on"), dict) else {}
        ins = {k: (v or {}).get("default") for k, v in ((decl.get("inputs") or {}).items())}
        for k, v in list(ins.items()):
            if isinstance(v, str) and "${{" in v:
                ins[k] = RunTime()
        for k, v in (job.get("with") or {}).items():
            try:
                ins[k] = render(v, cx) if isinstance(v, str) else v
            except Unknown:
                ins[k] = RunTime()
        called_jobs = called.get("jobs") or {}
        for ck, cj in called_jobs.items():
            for cn in job_names(ck, cj, files, ins, depth + 1, may_skip(called_jobs)):
                names.append(f"{n} / {cn}")
    if any(len(n) > 100 for n in names):
        raise Unknown("name over 100 characters")
    return names


def oracle(wdir, branch):
    files, broken = {}, []
    for f in sorted(os.listdir(wdir)):
        if f.endswith((".yml", ".yaml")):
            try:
                files[f] = load(os.path.join(wdir, f))
            except Exception as e:  # noqa: BLE001 - counted, shown
                broken.append(f"{f}: {e}")
    shown, not_shown, unknown, only_when_run = [], [], [], []
    for f, doc in files.items():
        runs = on_prs(doc, branch)
        jobs = doc.get("jobs") or {}
        skips = may_skip(jobs)
        for key, job in jobs.items():
            try:
                names = job_names(key, job, files, {}, 0, skips)
            except OnlyWhenRun:
                # Required, they would hold pull requests whenever the job
                # skips: counted as names not shown, which must be refused.
                try:
                    names = job_names(key, job, files, {}, 0, frozenset())
                except Exception:  # noqa: BLE001 - nothing to list
                    names = []
                only_when_run += names
                continue
            except Unknown as e:
                if runs == "always":
                    unknown.append(f"{f}: {key}: {e}")
                continue
            padded = [n for n in names if n != n.strip()]
            if padded:
                # A policy cannot list such a name (surrounding spaces).
                unknown += [f"{f}: {key}: name with surrounding spaces {n!r}" for n in padded]
                names = [n for n in names if n == n.strip()]
            if runs == "always":
                shown += names
                if job.get("name") is not None or job.get("strategy", {}).get("matrix") is not None or "uses" in job:
                    if key not in names:
                        not_shown.append(key)
            else:
                not_shown += names
    only_when_run = [n for n in dict.fromkeys(only_when_run) if n not in shown]
    not_shown = [n for n in dict.fromkeys(not_shown) if n not in shown and n not in only_when_run]
    return {"shown": list(dict.fromkeys(shown)), "not_shown": not_shown, "unknown": unknown, "broken": broken,
            "only_when_run": only_when_run}


def toml_list(names):
    return "[" + ", ".join(json.dumps(n, ensure_ascii=False) for n in names) + "]"


def xtask_step1(xtask, wdir, branch, required):
    """protect-main --check's step 1 in a scratch repository holding the
    workflows: which required checks it accepts."""
    import shutil
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        wf = os.path.join(tmp, ".github", "workflows")
        os.makedirs(wf)
        for f in os.listdir(wdir):
            if f.endswith((".yml", ".yaml")):
                shutil.copy(os.path.join(wdir, f), wf)
        with open(os.path.join(tmp, "xtask.toml"), "w") as f:
            f.write(f'[git]\nmain-branch = "{branch}"\n\n[github]\nrepository = "acme/bench"\nrequired-checks = {toml_list(required)}\n')
        env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
                   GITHUB_API_URL="http://127.0.0.1:9", GH_TOKEN="ghp_benchtoken0000000000")
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
        subprocess.run(["git", "init", "-q", "-b", branch], cwd=tmp, env=env, check=True)
        subprocess.run(git + ["add", "-A"], cwd=tmp, env=env, check=True)
        subprocess.run(git + ["commit", "-qm", "bench"], cwd=tmp, env=env, check=True)
        done = subprocess.run([xtask, "protect-main", "--check", "--format", "json"], cwd=tmp, env=env,
                              capture_output=True, text=True)
        try:
            report = json.loads(done.stdout)
        except json.JSONDecodeError:
            sys.exit(f"{wdir}: no JSON report from the xtask:\n{done.stderr}")
        checks = report.get("checks")
        if checks is None:
            sys.exit(f"{wdir}: the xtask stopped before step 1: {report.get('error')}")
        return {p["check"] for p in checks["produced"]}, checks["unreadable"]


def measure(root, xtask):
    total = {"shown": 0, "accepted": 0, "not_shown": 0, "only_when_run": 0, "falsely_accepted": 0, "unknown": 0}
    rows = []
    for repo in sorted(os.listdir(root)):
        base = os.path.join(root, repo)
        wdir = os.path.join(base, ".github", "workflows")
        if not os.path.isdir(wdir):
            wdir = base
        branch_file = os.path.join(base, "BRANCH")
        branch = open(branch_file).read().strip() if os.path.exists(branch_file) else "main"
        o = oracle(wdir, branch)
        # Names of jobs that may be skipped, expanded: GitHub shows them only
        # when the job runs, so they must be refused like the names not shown.
        not_shown = o["not_shown"] + o["only_when_run"]
        required = o["shown"] + not_shown
        accepted, unreadable = xtask_step1(xtask, wdir, branch, required) if required else (set(), [])
        refused = [n for n in o["shown"] if n not in accepted]
        false = [n for n in not_shown if n in accepted]
        files = len([f for f in os.listdir(wdir) if f.endswith((".yml", ".yaml"))])
        rows.append((repo, files, len(o["shown"]), len(o["shown"]) - len(refused), len(o["not_shown"]),
                     len(o["only_when_run"]), len(false), len(o["unknown"])))
        for k, v in (("shown", len(o["shown"])), ("accepted", len(o["shown"]) - len(refused)),
                     ("not_shown", len(o["not_shown"])), ("only_when_run", len(o["only_when_run"])), ("falsely_accepted", len(false)), ("unknown", len(o["unknown"]))):
            total[k] += v
        for n in refused:
            print(f"  {repo}: shown but refused: {n}", file=sys.stderr)
        for n in false:
            print(f"  {repo}: FALSELY ACCEPTED: {n}", file=sys.stderr)
        for u in o["unknown"] + o["broken"] + unreadable:
            print(f"  {repo}: not knowable before the run / unreadable: {u}", file=sys.stderr)
    print("| repository | workflow files | names shown on every PR | accepted | names never shown on PRs | names shown only when a job that may skip runs | accepted of these two | jobs named at run time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    t = total
    pct = 100.0 * t["accepted"] / t["shown"] if t["shown"] else 100.0
    print(f"| **total** | {sum(r[1] for r in rows)} | {t['shown']} | {t['accepted']} (**{pct:.1f}%**) | {t['not_shown']} | {t['only_when_run']} | **{t['falsely_accepted']}** | {t['unknown']} |")


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        measure(sys.argv[2], sys.argv[3])
    else:
        print(json.dumps(oracle(sys.argv[1], sys.argv[2])))
