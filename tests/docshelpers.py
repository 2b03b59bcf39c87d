"""Find the `onionref ...` command lines and the relative links in Markdown, and check them against the code.

What counts as a command line:
- in a code block (lines indented by 4 spaces after a blank line, or a fenced block whose language is not python,
  json or text): a command starts with `onionref ` at the start of a line, after `&&` or `;`, or after two or more
  spaces (two commands side by side on one line); a line ending in `\\` goes on with the next line;
- in prose and tables: an inline code span that starts with `onionref ` or holds `&& onionref ` (a span may wrap
  over lines);
- a command ends at `&&`, `;`, ` | ` or a `#` comment (a `#` at the start of a word).
- `a / b / c` (words separated by a lone `/`) lists alternatives at one position: `onionref train / eval` is the two
  commands `onionref train` and `onionref eval`.
Square brackets mark optional parts (`[--workers N]`): the brackets are dropped and what is inside is checked.
`...` stands for omitted arguments and is skipped.

What is checked (the commands are parsed against the click group `onionref.cli:cli`, never run): every word up to
the first leaf command must be a subcommand of the group before it; every `-x` / `--flag` / `--flag=value` word
(`--a|--b`: each of a and b) must be an option of the command it follows (its `opts` and `secondary_opts`, with
`--help` / `-h`). Arguments and option values (placeholders such as RUN, DIR, N) are not checked; a word that starts
with `-` and a digit is a value (`--lr -1e-3`).
"""
from __future__ import annotations

import importlib
import pkgutil
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*(\S*)")
_SKIPPED_FENCES = {"python", "py", "pycon", "json", "text", "txt"}
_START = re.compile(r"(?:^\s*|&&\s*|;\s*|\s{2,})(?=onionref\s)")
_END = re.compile(r"&&|;| \| ")
_COMMENT = re.compile(r"(?:^|\s)#.*$")
_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_NUMBER = re.compile(r"^-\.?\d")


@dataclass(frozen=True)
class Found:
    """One command line found in a Markdown file: where, and its text (continuations joined, comments dropped)."""
    file: str
    line: int
    text: str


def doc_files() -> list[Path]:
    """The Markdown files whose commands and links are checked: README.md and the top level of docs/."""
    return [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))


def split_markdown(text: str) -> tuple[list[tuple[int, str]], str]:
    """The code lines (line number, text; continuations not yet joined) and the prose (code lines blanked).

    An indented block starts at a line indented by 4 spaces (or a tab) after a blank line and runs until a
    non-blank line indented less; a fenced block runs to the closing fence (python, json and text fences are
    dropped: they hold no shell commands)."""
    code, prose = [], []
    fence, skip_fence, prev_blank, indented = None, False, True, False
    for n, line in enumerate(text.splitlines(), 1):
        blank = not line.strip()
        m = _FENCE.match(line)
        if fence is None and m:
            fence, skip_fence, indented = m.group(1)[0], m.group(2).lower() in _SKIPPED_FENCES, False
            prose.append("")
        elif fence is not None:
            if m and m.group(1)[0] == fence:
                fence = None
            elif not skip_fence:
                code.append((n, line))
            prose.append("")
        elif line.startswith(("    ", "\t")) and (prev_blank or indented):
            indented = True
            code.append((n, line))
            prose.append("")
        else:
            indented = indented and blank
            prose.append(line)
        prev_blank = blank
    return code, "\n".join(prose)


def join_continuations(code: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Code lines with each line that ends in a backslash joined to the next one (numbered by the first)."""
    out, pending = [], None
    for n, line in code:
        if pending is not None:
            line = pending[1] + " " + line.strip()
            n = pending[0]
        if line.rstrip().endswith("\\"):
            pending = (n, line.rstrip()[:-1].rstrip())
        else:
            pending = None
            out.append((n, line))
    if pending is not None:
        out.append(pending)
    return out


def commands_in(line: str) -> list[str]:
    """Every `onionref ...` command in one line of code or one inline span, comments and chained commands cut off."""
    line = _COMMENT.sub("", line)
    starts = [m.end() for m in _START.finditer(line)]
    found = []
    for i, s in enumerate(starts):
        segment = line[s:starts[i + 1]] if i + 1 < len(starts) else line[s:]
        found.append(_END.split(segment)[0].strip())
    return found


def extract_commands(text: str, file: str = "<text>") -> list[Found]:
    """Every command line of a Markdown text: from code blocks and from inline code spans in prose."""
    code, prose = split_markdown(text)
    found = [Found(file, n, c) for n, line in join_continuations(code) for c in commands_in(line)]
    for m in _SPAN.finditer(prose):
        span = " ".join(m.group(2).split())
        if span.startswith("onionref ") or "&& onionref " in span:
            n = prose.count("\n", 0, m.start()) + 1
            found += [Found(file, n, c) for c in commands_in(span)]
    return sorted(found, key=lambda f: f.line)


def expand_alternatives(words: list[str]) -> list[list[str]]:
    """`onionref a / b / c rest` as three word lists; a list without a lone `/` as itself."""
    if "/" not in words:
        return [words]
    first = words.index("/")
    alts, i = [words[first - 1]], first
    while i < len(words) and words[i] == "/" and i + 1 < len(words):
        alts.append(words[i + 1])
        i += 2
    return [words[:first - 1] + [a] + words[i:] for a in alts]


def words_of(command: str) -> list[str]:
    """The words of a command as a shell splits them, optional-part brackets and `...` dropped."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    words = [w.strip("[]") for w in words]
    return [w for w in words if w and w.strip(".") != ""]


def load_cli() -> click.Group:
    """The `onionref` click group with every command registered (importing a cli module registers its commands)."""
    import onionref.cli as package
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"onionref.cli.{info.name}")
    return package.cli


def _context(command: click.Command, parent: click.Context | None, name: str) -> click.Context:
    """A click context for a command, as click makes one (context settings, help option names from the parent)."""
    return click.Context(command, parent=parent, info_name=name, **command.context_settings)


def _options(command: click.Command, ctx: click.Context) -> dict[str, click.Parameter]:
    """Every option name the command accepts (both halves of `--x/--no-x`, and its help option) to its parameter."""
    names = {}
    for p in command.get_params(ctx):
        if isinstance(p, click.Option):
            for name in p.opts + p.secondary_opts:
                names[name] = p
    return names


def check_words(words: list[str], group: click.Group) -> tuple[list[str], int]:
    """Problems of one command's words (empty when every subcommand and flag exists) and how many flags it checked."""
    if not words or words[0] != "onionref":
        return [f"not an onionref command: {' '.join(words)!r}"], 0
    command, ctx, path = group, _context(group, None, "onionref"), "onionref"
    problems, n_flags, takes_value = [], 0, False
    for word in words[1:]:
        if takes_value:
            takes_value = False
        elif word.startswith("-") and not _NUMBER.match(word):
            options = _options(command, ctx)
            for flag in word.split("=", 1)[0].split("|"):
                n_flags += 1
                param = options.get(flag)
                if param is None:
                    problems.append(f"`{path}` has no option {flag}")
                elif "=" not in word and not param.is_flag and not param.count:
                    takes_value = isinstance(command, click.Group)   # a group's option value is not a subcommand
        elif isinstance(command, click.Group):
            sub = command.get_command(ctx, word)
            if sub is None:
                problems.append(f"`{path}` has no subcommand {word!r} (it has: {', '.join(sorted(command.commands))})")
                break
            command, ctx, path = sub, _context(sub, ctx, word), f"{path} {word}"
    return problems, n_flags


def check_command(command: str, group: click.Group | None = None) -> tuple[list[str], int, int]:
    """Problems of one command line as written in the docs, the commands it stands for and the flags checked."""
    group = group or load_cli()
    problems, n_commands, n_flags = [], 0, 0
    for words in expand_alternatives(words_of(command)):
        p, f = check_words(words, group)
        problems += p
        n_commands += 1
        n_flags += f
    return problems, n_commands, n_flags


def check_docs(files: list[Path] | None = None) -> dict:
    """Check every command line of the docs: problems (file:line: message) and how many lines, commands, flags."""
    group = load_cli()
    problems, lines, commands, flags = [], 0, 0, 0
    for path in files or doc_files():
        rel = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        for found in extract_commands(path.read_text(encoding="utf-8"), str(rel)):
            p, c, f = check_command(found.text, group)
            problems += [f"{found.file}:{found.line}: {msg} in `{found.text}`" for msg in p]
            lines, commands, flags = lines + 1, commands + c, flags + f
    return {"problems": problems, "command_lines": lines, "commands": commands, "flags": flags}


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings (lower case, punctuation dropped, spaces to hyphens)."""
    _, prose = split_markdown(text)
    anchors = set()
    for line in prose.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def check_links(path: Path) -> tuple[list[str], int]:
    """Relative links and images of one Markdown file that do not resolve (file, or heading anchor), and how many."""
    text = path.read_text(encoding="utf-8")
    _, prose = split_markdown(text)
    prose = _SPAN.sub("", prose)
    problems, n = [], 0
    for m in _LINK.finditer(prose):
        target = m.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue                                           # http:, https:, mailto:
        n += 1
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{path.name}: {target} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in heading_anchors(dest.read_text(encoding="utf-8")):
            problems.append(f"{path.name}: {target}: no heading with anchor #{anchor}")
    return problems, n
