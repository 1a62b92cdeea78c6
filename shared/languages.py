"""Which language a file is in, judged by its name alone."""

from __future__ import annotations

from pathlib import PurePosixPath

_BY_EXTENSION: dict[str, str] = {
    **dict.fromkeys((".py", ".pyi", ".pyw"), "python"),
    **dict.fromkeys((".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdx"), "markdown"),
    **dict.fromkeys((".js", ".mjs", ".cjs", ".jsx"), "javascript"),
    **dict.fromkeys((".ts", ".tsx", ".mts", ".cts"), "typescript"),
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    # .h is claimed by C; C++ headers are more often .hpp/.hh (the chunker tries C++ on a .h C cannot parse).
    **dict.fromkeys((".c", ".h"), "c"),
    **dict.fromkeys((".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp", ".inl"), "cpp"),
    ".cs": "csharp",
    **dict.fromkeys((".rb", ".rake", ".gemspec", ".ru"), "ruby"),
    **dict.fromkeys((".php", ".phtml"), "php"),
    **dict.fromkeys((".kt", ".kts"), "kotlin"),
    ".swift": "swift",
    **dict.fromkeys((".scala", ".sc"), "scala"),
    **dict.fromkeys((".sh", ".bash", ".zsh", ".ksh"), "shell"),
    **dict.fromkeys((".yml", ".yaml"), "yaml"),
    ".toml": "toml",
    **dict.fromkeys((".json", ".jsonc", ".json5", ".geojson"), "json"),
    **dict.fromkeys((".rst", ".rest"), "rst"),
    **dict.fromkeys((".html", ".htm", ".xhtml"), "html"),
    **dict.fromkeys((".css", ".scss", ".less"), "css"),
    ".sql": "sql",
}

# Whole names for files whose language their name tells but no extension does.
_BY_NAME: dict[str, str] = {
    **dict.fromkeys(("rakefile", "gemfile", "guardfile", "podfile", "vagrantfile"), "ruby"),
    **dict.fromkeys((".bashrc", ".bash_profile", ".zshrc", ".profile", ".envrc"), "shell"),
    **dict.fromkeys(("pipfile", "cargo.lock", "poetry.lock"), "toml"),
    "sconstruct": "python",
    "sconscript": "python",
}


def detect_language(path: str) -> str:
    """The language of the file at `path` ("python", "markdown", ... ), or "text" when unknown."""
    pure = PurePosixPath(path.replace("\\", "/"))
    name = pure.name.lower()
    if name in _BY_NAME:
        return _BY_NAME[name]
    return _BY_EXTENSION.get(PurePosixPath(name).suffix, "text")
