#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes a daemon's man page from its template and its own --help.

The three daemons read their options with one table-driven parser
(include/cmp/opts.h), and --help prints that table. The OPTIONS section of
their man pages is made from it at build time, so a page cannot miss or
misstate an option: the template (NAME.N.in) holds the rest of the page and
the line @OPTIONS@ where the options go; @VERSION@ becomes the version.

  gen-man.py TEMPLATE OUTPUT VERSION PROGRAM [ARGS...]

runs PROGRAM ARGS (normally: the daemon and --help) and converts from the
first line that starts "Options" to the end, except the "Exit status"
paragraph (the template has its own section): an unindented paragraph
becomes a paragraph, an indented "SPEC  DESCRIPTION" line and the lines
indented under it one tagged paragraph (.TP).
"""
import re
import subprocess
import sys

# "  -k, --key FILE   description", libfuse's "    -d   -o debug   desc";
# the description starts after the last run of two or more spaces.
OPTION = re.compile(r"^ {2,6}(-\S(?:.*\S)?)(?: {2,}(\S.*?))?$")
OPTION_DESC = re.compile(r"^ {2,6}(-\S(?:.*\S)?) {2,}(\S(?:(?! {2}).)*)$")
# An option-like word in running text: -o, --key, -h (rendered as minus).
DASHES = re.compile(r"(?<![\w-])(--?)(?=[A-Za-z])")


def roff_text(s):
    """Plain text as roff: backslashes escaped, option dashes as \\-."""
    s = s.replace("\\", "\\e")
    s = DASHES.sub(lambda m: "\\-" * len(m.group(1)), s)
    if s.startswith((".", "'")):
        s = "\\&" + s
    return s


def roff_spec(spec):
    """'-o local=SIZE' -> bold option names, italic metavariables."""
    out = []
    for word in re.split(r"(\s+|,\s*)", spec):
        if not word or word.isspace() or word.startswith(","):
            out.append(word)
            continue
        name, eq, var = word.partition("=")
        if name.startswith("-") or not name.isupper():
            text = "\\fB" + name.replace("-", "\\-") + "\\fR"
            if eq:
                text += "=\\fI" + var + "\\fR"
        else:
            text = "\\fI" + word + "\\fR"
        out.append(text)
    return "".join(out)


def convert(help_text):
    lines = help_text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("Options")),
                 None)
    if start is None:
        raise SystemExit("gen-man: no line starting 'Options' in the help")
    out, para, item = [], [], None

    def flush():
        nonlocal para, item
        if para:
            text = " ".join(para)
            if not text.startswith("Exit status"):
                out.append(".PP")
                out.append(roff_text(text))
        if item:
            out.append(".TP")
            out.append(roff_spec(item[0]))
            out.append(roff_text(" ".join(item[1])) if item[1] else "")
        para, item = [], None

    for line in lines[start:]:
        m = OPTION_DESC.match(line) or OPTION.match(line)
        if not line.strip():
            flush()
        elif m:
            flush()
            spec = re.sub(r" {2,}", ", ", m.group(1).strip())
            item = (spec, [m.group(2)] if m.group(2) else [])
        elif item and line.startswith(" "):
            item[1].append(line.strip())
        elif line.startswith(" "):
            para.append(line.strip())
        else:
            if item:
                flush()
            para.append(line.strip())
    flush()
    return "\n".join(l for l in out if l != "") + "\n"


def main(argv):
    if len(argv) < 5:
        raise SystemExit(__doc__)
    template, output, version, cmd = argv[1], argv[2], argv[3], argv[4:]
    run = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if run.returncode != 0 or not run.stdout:
        raise SystemExit(f"gen-man: {' '.join(cmd)} exited "
                         f"{run.returncode}")
    with open(template, encoding="utf-8") as f:
        page = f.read()
    if "@OPTIONS@" not in page:
        raise SystemExit(f"gen-man: {template} has no @OPTIONS@ line")
    page = page.replace("@VERSION@", version)
    page = page.replace("@OPTIONS@\n", convert(run.stdout))
    with open(output, "w", encoding="utf-8") as f:
        f.write(page)


if __name__ == "__main__":
    main(sys.argv)
