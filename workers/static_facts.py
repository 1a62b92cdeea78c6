"""Facts read straight from a span's code, and the static tier's enrichment built from them alone.

Side effects: a call counts as one when
  * its first segment is a module or object whose calls act on the world (`os`, `shutil`,
    `subprocess`, `socket`, `requests`, `httpx`, `logging`, `logger`, `sys`), unless it is one of
    the few read-only helpers there (`os.path.*`, `os.getenv`, `logging.getLogger` ...), or
  * any earlier segment is a logger (`self.logger.info`, `self._log.debug`), or
  * its last segment is a name in SIDE_EFFECT_NAMES (`open`, `print`, `write_text`, `commit`,
    `send`, `delay` ...). `replace` and `copy` are left out of that list on purpose: on strings
    and dicts they are pure, and `os.replace` / `shutil.copy` are caught by the first rule.
"""

from __future__ import annotations

import ast
import re

from shared.messages import Enrichment, StaticFacts
from workers.chunking.base import Span
from workers.chunking.python_ast import (
    FunctionNode,
    init_of,
    own_def,
    parameters_of,
    parse_fragment,
)

SUMMARY_MAX_WORDS = 120
# How many calls the generated summary names before it says "and N more".
_SUMMARY_CALLS = 8

SIDE_EFFECT_NAMES = frozenset(
    {
        "open", "print", "write", "writelines", "remove", "unlink", "rmdir", "mkdir", "makedirs",
        "rename", "system", "popen", "run", "call", "check_call", "check_output", "Popen", "send",
        "sendall", "post", "put", "patch", "delete", "request", "execute", "executemany", "commit",
        "rollback", "publish", "send_task", "apply_async", "delay", "emit", "setattr", "delattr",
        "exit", "kill", "terminate", "sleep", "write_text", "write_bytes", "touch", "rmtree",
        "copyfile", "move", "chmod", "chown",
    }
)  # fmt: skip
SIDE_EFFECT_ROOTS = frozenset({"os", "shutil", "subprocess", "socket", "requests", "httpx", "logging", "logger", "sys"})
_LOGGERS = frozenset({"logger", "_logger", "log", "_log", "logging"})
_READ_ONLY_PREFIXES = ("os.path.",)
_READ_ONLY_CALLS = frozenset(
    {
        "os.fspath", "os.fsencode", "os.fsdecode", "os.getenv", "os.environ.get", "os.getcwd",
        "os.getpid", "os.cpu_count", "os.stat", "os.lstat", "os.listdir", "os.scandir", "os.walk",
        "os.access", "sys.getsizeof", "sys.getrecursionlimit", "sys.intern", "logging.getLogger",
        "shutil.which", "socket.gethostname",
    }
)  # fmt: skip

_LANGUAGE_NAMES = {
    "python": "Python", "markdown": "Markdown", "javascript": "JavaScript", "typescript": "TypeScript",
    "go": "Go", "rust": "Rust", "java": "Java", "c": "C", "cpp": "C++", "csharp": "C#", "ruby": "Ruby",
    "php": "PHP", "shell": "Shell", "yaml": "YAML", "toml": "TOML", "json": "JSON", "rst": "reStructuredText",
    "html": "HTML", "css": "CSS", "sql": "SQL", "text": "Text",
}  # fmt: skip
_KIND_PHRASES = {
    "section": "section",
    "window": "window",
    "code": "module code",
    "module_doc": "module docstring",
}


def extract_facts(span: Span, language: str) -> StaticFacts:
    """What the code of a Python span states outright; empty facts for anything else."""
    if language != "python":
        return StaticFacts()
    module = parse_fragment(span.content)
    if module is None:
        return StaticFacts()
    try:
        return _python_facts(module, span.kind)
    except RecursionError:  # an absurdly deep expression: report nothing rather than guess
        return StaticFacts()


def _python_facts(module: ast.Module, kind: str) -> StaticFacts:
    if kind == "module_doc":
        return StaticFacts(docstring=ast.get_docstring(module))
    node = own_def(module, kind)
    if node is None:
        if kind != "code":
            return StaticFacts()
        # Module code has no signature, but what it calls and raises at import time is still fact.
        calls = _calls(module)
        return StaticFacts(raises=_raises(module), calls=calls, side_effect_calls=side_effects(calls))
    calls = _calls(node)
    common = StaticFacts(
        raises=_raises(node),
        calls=calls,
        side_effect_calls=side_effects(calls),
        docstring=ast.get_docstring(node),
        decorators=[ast.unparse(decorator) for decorator in node.decorator_list],
    )
    if isinstance(node, ast.ClassDef):
        init = init_of(node)
        params = parameters_of(init, is_method=True) if init is not None else []
        return common.model_copy(update={"signature": class_signature(node), "parameters": [p.arg for p in params]})
    return common.model_copy(
        update={
            "signature": function_signature(node),
            "parameters": [p.arg for p in parameters_of(node, is_method=kind == "method")],
            "returns": ast.unparse(node.returns) if node.returns is not None else None,
            "is_async": isinstance(node, ast.AsyncFunctionDef),
        }
    )


def function_signature(node: FunctionNode) -> str:
    """`def name(params) -> returns` as written (PEP 8 spacing), with `async` for coroutines."""
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    # Defaults belong to the last positional parameters; kw_defaults line up with kwonlyargs.
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    parts = [_param(arg, default) for arg, default in zip(positional, defaults, strict=True)]
    if args.posonlyargs:
        parts.insert(len(args.posonlyargs), "/")
    if args.vararg is not None:
        parts.append("*" + _param(args.vararg, None))
    elif args.kwonlyargs:
        parts.append("*")
    parts.extend(_param(arg, default) for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True))
    if args.kwarg is not None:
        parts.append("**" + _param(args.kwarg, None))
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"{prefix} {node.name}({', '.join(parts)}){returns}"


def _param(arg: ast.arg, default: ast.expr | None) -> str:
    text = arg.arg
    if arg.annotation is not None:
        text += f": {ast.unparse(arg.annotation)}"
        return text if default is None else f"{text} = {ast.unparse(default)}"
    return text if default is None else f"{text}={ast.unparse(default)}"


def class_signature(node: ast.ClassDef) -> str:
    """`class Name(Base1, Base2, metaclass=M)`, or `class Name` without bases."""
    parts = [ast.unparse(base) for base in node.bases]
    parts.extend(ast.unparse(keyword) for keyword in node.keywords)
    return f"class {node.name}({', '.join(parts)})" if parts else f"class {node.name}"


def dotted_name(expr: ast.expr) -> str | None:
    """`a.b.c` for a chain of names; a call inside the chain shows as `Path().write_text`; else None."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        base = dotted_name(expr.value)
        return f"{base}.{expr.attr}" if base is not None else None
    if isinstance(expr, ast.Call):
        base = dotted_name(expr.func)
        return f"{base}()" if base is not None else None
    return None


def _calls(tree: ast.AST) -> list[str]:
    names = {dotted_name(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return sorted(name for name in names if name is not None)


def _raises(tree: ast.AST) -> list[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            # Only plain (dotted) names: `raise errors[0]` names no exception type worth reporting.
            if isinstance(exc, ast.Name | ast.Attribute) and (name := dotted_name(exc)) and "()" not in name:
                names.add(name)
    return sorted(names)


def side_effects(calls: list[str]) -> list[str]:
    """The calls that act on the world, by the rule in this module's docstring."""
    return [call for call in calls if _is_side_effect(call)]


def _is_side_effect(call: str) -> bool:
    segments = call.replace("()", "").split(".")
    if call in _READ_ONLY_CALLS or call.startswith(_READ_ONLY_PREFIXES):
        return False
    if segments[0] in SIDE_EFFECT_ROOTS:
        return True
    return any(segment in _LOGGERS for segment in segments[:-1]) or segments[-1] in SIDE_EFFECT_NAMES


def static_enrichment(span: Span, language: str, facts: StaticFacts) -> Enrichment:
    """The enrichment the static tier can vouch for: the docstring's words or a sentence of facts."""
    node = _parsed_def(span, language)
    callable_span = span.kind in ("function", "method", "class") and facts.signature is not None
    try:
        params = _annotated_params(span, node, facts)
        usage = _usage(span, node, facts) if callable_span else ""
    except RecursionError:  # an absurdly deep annotation: the facts alone still say enough
        params = list(facts.parameters)
        usage = _usage(span, None, facts) if callable_span else ""
    tags = [language, span.kind]
    if facts.is_async:
        tags.append("async")
    if facts.decorators:
        tags.append("decorated")
    return Enrichment(
        summary=_summary(span, language, facts),
        inputs=params,
        outputs=[facts.returns] if facts.returns else [],
        side_effects=list(facts.side_effect_calls),
        pitfalls=[f"raises {name}" for name in facts.raises],
        usage_snippet=usage,
        tags=tags,
    )


def _parsed_def(span: Span, language: str) -> FunctionNode | ast.ClassDef | None:
    if language != "python":
        return None
    module = parse_fragment(span.content)
    return own_def(module, span.kind) if module is not None else None


def _annotated_params(span: Span, node: FunctionNode | ast.ClassDef | None, facts: StaticFacts) -> list[str]:
    """facts.parameters, each with its annotation when the code has one (`a: int`)."""
    annotations: dict[str, str] = {}
    function = init_of(node) if isinstance(node, ast.ClassDef) else node
    if function is not None:
        for arg in parameters_of(function, is_method=span.kind != "function"):
            if arg.annotation is not None:
                annotations[arg.arg] = ast.unparse(arg.annotation)
    return [f"{name}: {annotations[name]}" if name in annotations else name for name in facts.parameters]


def _summary(span: Span, language: str, facts: StaticFacts) -> str:
    paragraph = summary_paragraph(facts.docstring or "", span.name.rsplit(".", 1)[-1])
    text = paragraph or _fact_sentence(span, language, facts)
    return truncate_words(text, SUMMARY_MAX_WORDS)


def summary_paragraph(docstring: str, name: str) -> str:
    """The docstring's first paragraph, whitespace collapsed.

    Old-style docstrings open with a restated signature (`_split(text : string) -> [string]`);
    that paragraph says nothing the signature does not, so the next one is taken instead.
    """
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", docstring.strip())]
    paragraphs = [p for p in paragraphs if p]
    if len(paragraphs) > 1 and paragraphs[0].startswith(f"{name}("):
        return paragraphs[1]
    return paragraphs[0] if paragraphs else ""


def truncate_words(text: str, limit: int) -> str:
    """At most `limit` words of `text`."""
    words = text.split()
    return " ".join(words[:limit])


def _fact_sentence(span: Span, language: str, facts: StaticFacts) -> str:
    language_name = _LANGUAGE_NAMES.get(language, language.capitalize() or "Text")
    where = f"(lines {span.start_line}-{span.end_line})"
    if facts.signature is None:
        if span.kind == "section":
            head = f"{language_name} section `{span.name}` {where}"
        else:
            head = f"{language_name} {_KIND_PHRASES.get(span.kind, span.kind)} {where}"
        clauses = [head, *_call_clauses(facts)]
        return "; ".join(clauses) + "."
    async_word = "async " if facts.is_async else ""
    head = f"{language_name} {async_word}{span.kind} `{span.name}({', '.join(facts.parameters)})`"
    if facts.returns:
        head += f" returning `{facts.returns}`"
    clauses = [head]
    if facts.decorators:
        clauses.append("decorated with " + ", ".join(f"@{d}" for d in facts.decorators))
    clauses.extend(_call_clauses(facts))
    return "; ".join(clauses) + "."


def _call_clauses(facts: StaticFacts) -> list[str]:
    clauses = []
    if facts.raises:
        clauses.append("raises " + ", ".join(facts.raises))
    if facts.calls:
        named = ", ".join(facts.calls[:_SUMMARY_CALLS])
        more = len(facts.calls) - _SUMMARY_CALLS
        clauses.append(f"calls {named}" + (f" and {more} more" if more > 0 else ""))
    return clauses


def _usage(span: Span, node: FunctionNode | ast.ClassDef | None, facts: StaticFacts) -> str:
    """A call that uses the span: `f(a, b)`, `obj.m(a)`, `Cls.m(a)`, `await f(a)`, `Cls(a)`."""
    function = init_of(node) if isinstance(node, ast.ClassDef) else node
    if function is not None:
        args = _call_args(function, is_method=span.kind != "function")
    else:
        args = ", ".join(facts.parameters)
    short = span.name.rsplit(".", 1)[-1]
    if span.kind == "class":
        return f"{span.name}({args})"
    if span.kind == "method":
        if "property" in facts.decorators or any(d.endswith(".setter") for d in facts.decorators):
            return f"obj.{short}"
        owner = span.name.rsplit(".", 1)[0] if "." in span.name else "obj"
        if short == "__init__":
            return f"{owner}({args})"
        receiver = owner if {"staticmethod", "classmethod"} & set(facts.decorators) else "obj"
        call = f"{receiver}.{short}({args})"
    else:
        call = f"{short}({args})"
    return f"await {call}" if facts.is_async else call


def _call_args(node: FunctionNode, *, is_method: bool) -> str:
    """Arguments named after the parameters: positional by name, keyword-only as `k=k`, `*a`, `**kw`."""
    args = node.args
    kwonly = {id(arg) for arg in args.kwonlyargs}
    parts = []
    for arg in parameters_of(node, is_method=is_method):
        if arg is args.vararg:
            parts.append(f"*{arg.arg}")
        elif arg is args.kwarg:
            parts.append(f"**{arg.arg}")
        elif id(arg) in kwonly:
            parts.append(f"{arg.arg}={arg.arg}")
        else:
            parts.append(arg.arg)
    return ", ".join(parts)
