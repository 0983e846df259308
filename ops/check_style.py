#!/usr/bin/env python3
"""Readable at a glance (issue 9, item 10): lists every function longer than MAX_FUNCTION_LINES lines and every
line wider than MAX_COLUMNS columns, and exits 1 when there is any (0 when there is none, 2 on a usage error).

Checked: *.cc and *.h (functions and lines) and CMakeLists.txt (lines) under the source root, except build trees
(any directory named build*), generated code (any directory named generated) and .git.

    ops/check_style.py [SOURCE_ROOT]        (default: the directory above ops/)

A function is a brace block whose header (the text since the previous ';', '{' or '}') has a parameter list and
is not a namespace, class, struct, union, enum or an initializer (`= {`). Its length counts from the first line of
its header to the line of its closing brace, both included; lambdas and local classes count toward the function that
holds them. Comments, string literals (raw ones too) and character literals are skipped when matching braces. A
column is a character; East Asian wide and full-width characters count two, as an editor shows them.
"""
import os
import re
import sys
import unicodedata

MAX_FUNCTION_LINES = 70
MAX_COLUMNS = 120
SKIP_DIRS = re.compile(r"^(build.*|generated|\.git)$")


def columns(line):
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def code_only(text):
    """The text with comments, string and character literals blanked (newlines kept, so line numbers hold)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum())):
            raw = c == '"' and i > 0 and text[i - 1] == "R" and not (i > 1 and (text[i - 2].isalnum() or
                                                                                  text[i - 2] == "_"))
            if raw:
                m = re.match(r'"([^ ()\\\n]{0,16})\(', text[i:])
                end = ")" + (m.group(1) if m else "") + '"'
                j = text.find(end, i + 1)
                j = n if j < 0 else j + len(end)
            else:
                j = i + 1
                while j < n and text[j] != c and text[j] != "\n":
                    j += 2 if text[j] == "\\" else 1
                j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c if j - i >= 2 else text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


CONTAINER = re.compile(r"^(template\s*<.*>\s*)?(namespace|class|struct|union|enum|extern)\b", re.S)


def kind_of(header):
    """'container' (its body may hold functions), 'function', or 'other' (an initializer or a statement block)."""
    h = re.sub(r"^\s*#.*$", "", header, flags=re.M).strip()  # preprocessor lines are not part of a header
    if not h or CONTAINER.match(h):
        return "container"
    if "(" not in h:
        return "other"
    head = h[:h.index("(")]
    if re.search(r"(?<![=!<>+\-*/%&|^])=(?!=)", head.replace("operator", "")) or h.endswith("="):
        return "other"
    return "function"


def long_functions(text):
    code = code_only(text)
    found = []
    stack = []  # per open brace: (kind, start line, name)
    header_start = 0
    for i, c in enumerate(code):
        if c == "{":
            in_function = any(k == "function" for k, _, _ in stack)
            if in_function:
                stack.append(("inner", 0, ""))
            else:
                header = code[header_start:i]
                kind = kind_of(header)
                lines = header.split("\n")
                skip = next((k for k, l in enumerate(lines) if l.strip() and not l.lstrip().startswith("#")), 0)
                line = code.count("\n", 0, header_start) + 1 + skip
                name = re.findall(r"([~\w:]+(?:\s*operator\s*\S+)?)\s*\(", header)
                stack.append((kind, line, name[0] if name else header.strip()[:40]))
            header_start = i + 1
        elif c == "}":
            if stack:
                kind, line, name = stack.pop()
                if kind == "function":
                    end = code.count("\n", 0, i) + 1
                    if end - line + 1 > MAX_FUNCTION_LINES:
                        found.append((line, end - line + 1, name))
            header_start = i + 1
        elif c == ";":
            header_start = i + 1
        elif c == ":" and stack and stack[-1][0] == "container" and re.search(
                r"\b(public|private|protected)\s*$", code[header_start:i]):
            header_start = i + 1
    return found


def main(argv):
    if len(argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    root = os.path.normpath(root)
    if not os.path.isfile(os.path.join(root, "CMakeLists.txt")):
        print(f"check_style: {root} has no CMakeLists.txt; give the source root", file=sys.stderr)
        return 2
    problems = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not SKIP_DIRS.match(d))
        for f in sorted(filenames):
            source = f.endswith((".cc", ".h"))
            if not (source or f == "CMakeLists.txt"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root)
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            for no, line in enumerate(text.split("\n"), 1):
                width = columns(line)
                if width > MAX_COLUMNS:
                    problems.append(f"{rel}:{no}: line of {width} columns (max {MAX_COLUMNS})")
            if source:
                for line, length, name in long_functions(text):
                    problems.append(f"{rel}:{line}: function {name} is {length} lines (max {MAX_FUNCTION_LINES})")
    for p in problems:
        print(p)
    if problems:
        print(f"check_style: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
