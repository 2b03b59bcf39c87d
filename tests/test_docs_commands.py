"""The docs cannot drift from the code: every `onionref ...` command line in README.md and docs/*.md names an existing
subcommand and only flags that subcommand has, and every relative link and image resolves.

The commands are parsed against the click group (`onionref.cli:cli`), never run; what counts as a command line, and
what is checked, is in `docshelpers.py`'s docstring. The files are README.md and every Markdown file at the top of
docs/, the generated `docs/report.md` included (it holds no commands today; should `onionref report` ever write some,
they are checked too); `docs/paper-60k/report.md` is below the top level and left out.

`python -m pytest tests/test_docs_commands.py -s` prints how many command lines, commands and flags were checked.
"""
from docshelpers import check_command, check_docs, check_links, doc_files, extract_commands

# what the docs held when the test was written: 74 command lines, 83 commands, 147 flags
MIN_COMMAND_LINES, MIN_FLAGS = 60, 120


def test_every_documented_command_and_flag_exists():
    result = check_docs()
    print(f"\nchecked {result['command_lines']} command lines ({result['commands']} commands once alternatives "
          f"are expanded) and {result['flags']} flags in {len(doc_files())} files")
    assert result["problems"] == [], "\n".join(result["problems"])
    assert result["command_lines"] >= MIN_COMMAND_LINES, "the extractor found too few commands: is it broken?"
    assert result["flags"] >= MIN_FLAGS, "the extractor found too few flags: is it broken?"


def test_every_relative_link_and_image_resolves():
    problems, n = [], 0
    for path in doc_files():
        p, k = check_links(path)
        problems += p
        n += k
    print(f"\nchecked {n} relative links and images")
    assert problems == [], "\n".join(problems)
    assert n >= 20


def test_a_broken_link_is_caught(tmp_path):
    (tmp_path / "there.png").write_bytes(b"")
    (tmp_path / "page.md").write_text("# A page\n\n## Some section (`x`)\n\n![ok](there.png) ![gone](gone.png) "
                                      "[ok](#some-section-x) [bad](#no-such) [web](https://example.org/x.md)\n")
    problems, n = check_links(tmp_path / "page.md")
    assert n == 4
    assert problems == ["page.md: gone.png does not exist", "page.md: #no-such: no heading with anchor #no-such"]


def test_a_made_up_flag_is_caught():
    problems, _, n_flags = check_command("onionref train --hiden 48")
    assert n_flags == 1
    assert problems == ["`onionref train` has no option --hiden"]
    problems, _, _ = check_command("onionref superposition train --model ssm --kk 3")
    assert problems == ["`onionref superposition train` has no option --kk"]


def test_a_made_up_subcommand_is_caught():
    problems, _, _ = check_command("onionref trian --hidden 48")
    assert len(problems) == 1 and "has no subcommand 'trian'" in problems[0]
    problems, _, _ = check_command("onionref alrnn regoins RUN")
    assert len(problems) == 1 and "`onionref alrnn` has no subcommand 'regoins'" in problems[0]


def test_the_forms_the_docs_use_are_accepted():
    for line in ["onionref sweep --out X [--workers N] [--json]",     # optional parts
                 "onionref intervene RUN --mode=onion -h",             # --flag=value, the short help option
                 "onionref superposition train --no-bias --lr -1e-3",  # secondary option, negative value
                 "onionref --version",
                 "onionref alrnn sweep ... --collect"]:                # omitted arguments
        problems, _, _ = check_command(line)
        assert problems == [], (line, problems)
    problems, n_commands, n_flags = check_command("onionref train / eval / probe --kind onion")
    assert n_commands == 3 and n_flags == 3
    assert problems == ["`onionref train` has no option --kind", "`onionref eval` has no option --kind"]


def test_extraction_finds_every_form():
    text = "\n".join([
        "Prose with `onionref eval RUN --json` and a span that wraps: `onionref train --hidden",
        "48 --hiden 1`; `onionref` alone and `--steps` alone are not commands.",
        "",
        "    pip install -e . && onionref train --hidden 48      # a comment --nope",
        "    onionref sweep --hidden 48 \\",
        "                   --out DIR [--workers N]",
        "    onionref bench --threads 1        onionref bench --hidden 48",
        "    from onionref import api",
        "",
        "```python",
        ">>> onionref train --not-a-shell-line",
        "```",
        "",
        "```sh",
        "onionref probe RUN --kind onion; onionref eval RUN | tail -1",
        "```",
        "",
        "| a | `onionref superposition train / sweep / plot` |",
    ])
    found = [f.text for f in extract_commands(text)]
    assert found == ["onionref eval RUN --json", "onionref train --hidden 48 --hiden 1",
                     "onionref train --hidden 48", "onionref sweep --hidden 48 --out DIR [--workers N]",
                     "onionref bench --threads 1", "onionref bench --hidden 48",
                     "onionref probe RUN --kind onion", "onionref eval RUN",
                     "onionref superposition train / sweep / plot"]
    problems = [p for line in found for p in check_command(line)[0]]
    assert problems == ["`onionref train` has no option --hiden"]
