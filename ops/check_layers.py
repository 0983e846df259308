#!/usr/bin/env python3
"""Layering, enforced (issue 9 item 6): a module includes only what its CMake target links.

Each folder is one module with one CMake target (CMakeLists.txt). LAYERS below lists, per module, the modules and
the libraries its target links; every `#include` in the module's *.cc and *.h files must name a header of one of
them, or of the C++ standard library. The ledger, the pure fold, links nothing but the standard library, the event
types, its YAML loader and a hash. Prints every violation as file:line and exits 1 when there is any.

Usage: check_layers.py SOURCE_DIR
"""
import pathlib
import re
import sys

# The libraries, by the first component of the header names they provide.
LIBRARIES = {
    "nlohmann": "json", "xxhash.h": "xxhash", "flatbuffers": "flatbuffers", "rocksdb": "rocksdb",
    "librdkafka": "rdkafka", "yaml-cpp": "yaml", "httplib.h": "httplib", "openssl": "openssl", "CLI": "cli11",
    "gtest": "gtest", "gmock": "gtest", "benchmark": "benchmark", "spdlog": "spdlog",
    # POSIX: files, directories, processes, sockets.
    "fcntl.h": "posix", "unistd.h": "posix", "sys": "posix", "dirent.h": "posix", "signal.h": "posix",
    "poll.h": "posix", "pwd.h": "posix", "netinet": "posix", "arpa": "posix",
}

# module -> (modules it may include, libraries it may include). Generated FlatBuffers headers live under events/.
LAYERS = {
    "events": ({"events"}, {"json", "xxhash", "flatbuffers"}),
    # Operational log lines (issue 11 item 5); spdlog stays behind its .cc. Not for events/ or ledger/, which say
    # nothing on stderr.
    "oplog": ({"oplog"}, {"json", "spdlog", "posix"}),
    "log": ({"events", "log", "oplog"}, {"json", "xxhash", "flatbuffers", "rocksdb", "rdkafka", "posix"}),
    # Event lines from outside into the log, and the dead-letter form (issue 9 item 6).
    "ingest": ({"events", "log", "ingest"}, {"json", "posix"}),
    # The pure fold: no JSON of its own (it writes output lines without a DOM, ledger/line_writer.h).
    "ledger": ({"events", "ledger"}, {"xxhash", "yaml"}),
    # Output lines read back into records: old stores, lines changed by hand, the wire's line.
    "readback": ({"events", "ledger", "readback"}, {"json"}),
    "projections": ({"events", "log", "oplog", "ledger", "readback", "projections"}, {"json", "xxhash", "rocksdb", "posix"}),
    # The settlements topic's record (events/outputs.fbs), from the ledger's output records.
    "wire": ({"events", "ledger", "readback", "wire"}, {"json", "flatbuffers"}),
    "replay": ({"events", "log", "oplog", "ledger", "readback", "projections", "replay"}, {"json", "xxhash", "rocksdb", "posix"}),
    "service": ({"events", "log", "oplog", "ingest", "ledger", "readback", "projections", "replay", "service"},
                {"json", "xxhash", "rocksdb", "httplib", "openssl", "posix"}),
}


def library_of(header):
    first = header.split("/")[0]
    return LIBRARIES.get(first) or LIBRARIES.get(header)


INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
GENERATED = "_generated.h"  # flatc's headers (events/*.fbs), in the build tree: they reach FlatBuffers
EMBEDDED = {"service/desk_html.h"}  # generated from service/desk/desk.html at build time: no library


def resolve(root, including, kind, header):
    """What an #include names: ("project", path relative to root), ("generated", header), ("library", name),
    ("missing", header) for a quoted one found nowhere, or ("system", header). A quoted header is looked for beside
    the including file, then at the root; one in angle brackets whose first folder is the tree's is the tree's too."""
    if header.endswith(GENERATED):
        return "generated", header
    if header in EMBEDDED:
        return "system", header
    if kind == '"':
        for candidate in (including.parent / header, root / header):
            if candidate.is_file():
                return "project", candidate.resolve().relative_to(root.resolve()).as_posix()
        return "missing", header
    if (root / header).is_file() and "/" in header:
        return "project", header
    lib = library_of(header)
    return ("library", lib) if lib else ("system", header)


def includes(root):
    """Every #include of every module's *.cc and *.h file: (module, path, "file:line", what resolve() says)."""
    for module in sorted(LAYERS):
        for path in sorted((root / module).rglob("*")):
            if path.suffix not in (".cc", ".h") or not path.is_file():
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                m = INCLUDE.match(line)
                if m:
                    yield module, path, f"{path.relative_to(root)}:{n}", resolve(root, path, *m.groups())


def check(root):
    """Each include names a module or a library the including module's target links."""
    problems = []
    for module, _, where, (what, name) in includes(root):
        modules, libraries = LAYERS[module]
        if what == "missing":
            problems.append(f"{where}: {name} is not in the tree (write project headers from the root: folder/x.h)")
        elif what == "project" and name.split("/")[0] not in modules:
            problems.append(f"{where}: {module}/ includes {name}, of module {name.split('/')[0]}/, "
                            f"which its target does not link")
        elif what in ("library", "generated"):
            lib = name if what == "library" else "flatbuffers"
            if lib not in libraries:
                problems.append(f"{where}: {module}/ includes {name} ({lib}), which its target does not link")
    return problems


def libraries_reached(root, header, seen):
    """The libraries a project header reaches through its includes, its own and those of the project headers it
    includes, transitively: {library: chain of headers that reaches it}."""
    reached = {}
    path = root / header
    if header in seen or not path.is_file():
        return reached
    seen.add(header)
    for line in path.read_text(encoding="utf-8").splitlines():
        m = INCLUDE.match(line)
        if not m:
            continue
        what, name = resolve(root, path, *m.groups())
        if what == "project":
            for lib, chain in libraries_reached(root, name, seen).items():
                reached.setdefault(lib, [header] + chain)
        elif what == "generated":
            reached.setdefault("flatbuffers", [header, name])
        elif what == "library":
            reached.setdefault(name, [header, "<" + m.group(2) + ">"])
    return reached


def check_transitive(root):
    """A module's files may not reach, through the project headers they include, a library its target does not
    link: a header of another module that includes one would bring it in unseen."""
    problems = []
    for module, _, where, (what, name) in includes(root):
        if what != "project":
            continue
        for lib, chain in libraries_reached(root, name, set()).items():
            if lib not in LAYERS[module][1]:
                problems.append(f"{where}: {module}/ reaches {lib}, which its target does not link, through " +
                                " -> ".join(chain))
    return problems


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    problems = check(root) + check_transitive(root)
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} problem(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
