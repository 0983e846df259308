#!/usr/bin/env python3
"""The oracle test: gongji's output records against three oracles written from POLICY.md alone (ordinary.py,
chronic.py, accounts.py), the one check of the suite whose expected values no gongji code computes.

    run.py BUILD_DIR [--policy FILE] [--open] [--cases DIR]

For every event file of cases/ (hand-made edge cases named after what they check, and three small frozen fuzz
histories) and for one population made by gongji-generate with a fixed seed, in a temporary directory that it
removes: `gongji ingest` (every line must be accepted), `gongji fold` into a fresh --data-dir (under --policy FILE
when given: a changed policy value must show up as differences), `gongji settlements`; then each oracle folds the
same file and every record it judges is compared. Each difference is printed on one line: file, oracle, person,
record kind, event and claim id, field, oracle value, gongji value.

--open also runs cases/open/: the known disagreements between an oracle and gongji (cases/README.md).

Exit 0 when nothing differs and every oracle compared at least its minimum of records on the population (a run
that compares nothing fails; so does a case file no oracle compares a record of); 1 otherwise; 2 on a usage error.
"""
import argparse
import collections
import concurrent.futures
import glob
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import accounts  # noqa: E402 (after the line above)
import chronic  # noqa: E402
import common  # noqa: E402
import ordinary  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLES = (("ordinary", ordinary), ("chronic", chronic), ("accounts", accounts))
# The population: 400 people over 2022-12..2024-12 give about 6,000 claims (some 400 chronic, 160 acupuncture-led,
# 110 paediatric massage, 170 out of area, 110 emergencies), 300 claims logged after a later-dated event of their
# person, 2,700 contributions, the retiree credits of 2024, account payments and family links.
POPULATION = ["--people", "400", "--seed", "20221201", "--from", "2022-12", "--to", "2024-12"]
MINIMUM = {"ordinary": 5000, "chronic": 350, "accounts": 3000}  # records compared on it (a little under today's)


def gongji(build, args, stdout=subprocess.PIPE):
    return subprocess.run([os.path.join(build, "gongji"), *args], stdout=stdout, stderr=subprocess.PIPE, text=True)


def fold(build, events_path, data_dir, policy):
    """ingest, fold, settlements: (gongji's output records, None) or (None, what failed)."""
    steps = [["ingest", "--data-dir", data_dir, events_path], ["fold", "--data-dir", data_dir]]
    if policy:
        steps[1] += ["--policy", policy]
    for step in steps:
        result = gongji(build, step)
        if result.returncode != 0:
            return None, "gongji %s exit %d: %s" % (step[0], result.returncode, result.stderr.strip()[:2000])
    with open(data_dir + ".out.jsonl", "w", encoding="utf-8") as out:
        result = gongji(build, ["settlements", "--data-dir", data_dir], stdout=out)
    if result.returncode != 0:
        return None, "gongji settlements exit %d: %s" % (result.returncode, result.stderr.strip()[:2000])
    return common.read_jsonl(data_dir + ".out.jsonl"), None


def fold_all(build, files, work, policy):
    """gongji on every file, four at a time (a fold mostly waits on the disk): {name: (records, error)}."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(fold, build, path, os.path.join(work, "%03d" % i), policy)
                   for i, (name, path) in enumerate(files)}
        return {name: future.result() for name, future in futures.items()}


def check(name, events, records):
    """Every oracle on one file: (records compared by oracle, differences, records no oracle judges by kind)."""
    counts, diffs, judged = collections.Counter(), [], set()
    for oracle_name, module in ORACLES:
        expected = module.expected(events)
        compared, found = common.compare(name, expected, records, module.view)
        counts[oracle_name] += compared
        diffs += found
        judged |= {i for i, r in enumerate(records) if expected.judges(r)}
    unjudged = collections.Counter("%s %s %s" % (r["kind"], r.get("type", ""), r.get("reason", ""))
                                   for i, r in enumerate(records) if i not in judged)
    return counts, diffs, unjudged


def case_files(folder, with_open):
    found = sorted(glob.glob(os.path.join(folder, "*.jsonl")))
    if with_open:
        found += sorted(glob.glob(os.path.join(folder, "open", "*.jsonl")))
    return [(os.path.relpath(path, folder), path) for path in found]


def generate(build, work):
    path = os.path.join(work, "generated.jsonl")
    with open(path, "w", encoding="utf-8") as out:
        subprocess.run([os.path.join(build, "gongji-generate"), *POPULATION], stdout=out, check=True)
    return "generated " + " ".join(POPULATION), path


class Tally:
    def __init__(self):
        self.failures, self.compared, self.in_cases = [], collections.Counter(), collections.Counter()
        self.differences, self.unjudged = collections.Counter(), collections.Counter()

    def add(self, name, counts, diffs, unjudged):
        for diff in diffs:
            print(diff)
        self.differences.update(d.oracle_name for d in diffs)
        self.compared.update(counts)
        self.unjudged.update(unjudged)
        if name.startswith("generated "):
            self.failures += ["%s: the %s oracle compared %d records, fewer than %d" % (name, o, counts[o], m)
                              for o, m in MINIMUM.items() if counts[o] < m]
        else:
            self.in_cases.update(counts)
            if not sum(counts.values()):
                self.failures.append("%s: no oracle compared any record" % name)

    def summary(self, files, seconds):
        per = ", ".join("%s %d (cases %d) differing %d" % (o, self.compared[o], self.in_cases[o], self.differences[o])
                        for o, _ in ORACLES)
        unjudged = "; ".join("%d %s" % (n, k.strip()) for k, n in sorted(self.unjudged.items())) or "none"
        return "oracle: %d files, %.1f s; records compared: %s; not judged by any oracle: %s" % (
            files, seconds, per, unjudged)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", help="the build directory holding gongji and gongji-generate")
    parser.add_argument("--policy", help="fold under this policy file instead of the built-in one")
    parser.add_argument("--open", action="store_true", help="also run cases/open/ (known disagreements)")
    parser.add_argument("--cases", default=os.path.join(HERE, "cases"), help="the folder of case files")
    args = parser.parse_args(argv[1:])
    for program in ("gongji", "gongji-generate"):
        if not os.access(os.path.join(args.build, program), os.X_OK):
            parser.error("no %s in %s" % (program, args.build))
    started, tally = time.monotonic(), Tally()
    with tempfile.TemporaryDirectory(prefix="gongji-oracle-") as work:
        files = case_files(args.cases, args.open) + [generate(args.build, work)]
        folded = fold_all(args.build, files, work, args.policy)
        for name, path in files:
            records, error = folded[name]
            if error:
                tally.failures.append("%s: %s" % (name, error))
            else:
                tally.add(name, *check(name, common.read_jsonl(path), records))
    for failure in tally.failures:
        print("FAIL", failure)
    print(tally.summary(len(files), time.monotonic() - started))
    return 1 if tally.failures or sum(tally.differences.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
