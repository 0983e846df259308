#!/usr/bin/env python3
"""The oracle test: gongji's output records against three oracles written from POLICY.md alone (ordinary.py,
chronic.py, accounts.py), the one check of the suite whose expected values no gongji code computes.

    run.py BUILD_DIR [--policy FILE] [--open] [--cases DIR]

For every event file of cases/ (hand-made edge cases, named after what they check) and for one population made by
gongji-generate with a fixed seed, in a temporary directory that it removes: `gongji ingest` (every line must be
accepted), `gongji fold` into a fresh --data-dir (under --policy FILE if given, to show that a changed policy value
is caught), `gongji settlements`; then each oracle folds the same file and every record it judges is compared.
Each difference is printed on one line (file, person, record kind and event id, field, oracle value, gongji value).

--open also runs cases/open/: known disagreements between an oracle and gongji, left open (see its README.md).

Exit 0 when nothing differs and every oracle compared at least its minimum of records (a run that compares nothing
fails); 1 otherwise; 2 on a usage error.
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

import accounts
import chronic
import common
import ordinary

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLES = (("ordinary", ordinary), ("chronic", chronic), ("accounts", accounts))
# The generated population: 400 people over 2022-12..2024-12 give about 6,000 claims (chronic, acupuncture-led,
# paediatric massage, out of area, emergencies, prenatal, about 300 logged after a later-dated event of their
# person), 2,700 contributions, retiree credits of 2024, account payments and family links.
POPULATION = ["--people", "400", "--seed", "20221201", "--from", "2022-12", "--to", "2024-12"]
# Records each oracle must compare on the population (a little under what it compares today).
MINIMUM = {"ordinary": 5000, "chronic": 350, "accounts": 3000}


def gongji(build, *args, stdout=None):
    result = subprocess.run([os.path.join(build, "gongji"), *args], stdout=stdout or subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return result


def fold(build, events_path, data_dir, policy):
    """ingest, fold, settlements: gongji's output records, or an error text."""
    steps = [["ingest", "--data-dir", data_dir, events_path], ["fold", "--data-dir", data_dir]]
    if policy:
        steps[1] += ["--policy", policy]
    for step in steps:
        result = gongji(build, *step)
        if result.returncode != 0:
            return None, "gongji %s exit %d: %s" % (step[0], result.returncode, result.stderr.strip()[:2000])
    out_path = data_dir + ".out.jsonl"
    with open(out_path, "w", encoding="utf-8") as out:
        result = gongji(build, "settlements", "--data-dir", data_dir, stdout=out)
    if result.returncode != 0:
        return None, "gongji settlements exit %d: %s" % (result.returncode, result.stderr.strip()[:2000])
    return common.read_jsonl(out_path), None


def check(name, events, records, counts):
    """Every oracle on one file; returns the differences and adds the records compared to `counts`."""
    diffs, judged = [], set()
    for oracle_name, module in ORACLES:
        expected = module.expected(events)
        compared, found = common.compare(name, expected, records, module.view)
        counts[oracle_name] += compared
        diffs += found
        judged |= {id(r) for r in records if expected.judges(r)}
    unjudged = collections.Counter(r["kind"] for r in records if id(r) not in judged)
    return diffs, unjudged


def generate(build, work):
    path = os.path.join(work, "generated.jsonl")
    with open(path, "w", encoding="utf-8") as out:
        subprocess.run([os.path.join(build, "gongji-generate"), *POPULATION], stdout=out, check=True)
    return path


def fold_all(build, files, work, policy):
    """gongji on every file, four at a time (a fold mostly waits on the disk): {name: (records, error)}."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(fold, build, path, os.path.join(work, "%03d" % i), policy)
                   for i, (name, path) in enumerate(files)}
        return {name: future.result() for name, future in futures.items()}


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
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gongji-oracle-") as work:
        files = [(os.path.relpath(p, args.cases), p) for p in sorted(glob.glob(os.path.join(args.cases, "*.jsonl")))]
        if args.open:
            files += [(os.path.relpath(p, args.cases), p)
                      for p in sorted(glob.glob(os.path.join(args.cases, "open", "*.jsonl")))]
        files.append(("generated " + " ".join(POPULATION), generate(args.build, work)))
        return report(args, files, work, started)


def report(args, files, work, started):
    failures, total, case_total, unjudged_all, diff_count = [], collections.Counter(), collections.Counter(), \
        collections.Counter(), 0
    folded = fold_all(args.build, files, work, args.policy)
    for name, path in files:
        records, error = folded[name]
        if error:
            failures.append("%s: %s" % (name, error))
            continue
        counts = collections.Counter()
        diffs, unjudged = check(name, common.read_jsonl(path), records, counts)
        for diff in diffs:
            print(diff)
        diff_count += len(diffs)
        total.update(counts)
        unjudged_all.update(unjudged)
        if name.startswith("generated"):
            failures += ["%s: the %s oracle compared %d records, fewer than %d" % (name, o, counts[o], m)
                         for o, m in MINIMUM.items() if counts[o] < m]
        else:
            case_total.update(counts)
            if sum(counts.values()) == 0:
                failures.append("%s: no oracle compared any record" % name)
    for failure in failures:
        print("FAIL", failure)
    print("oracle: %d files; records compared: %s (cases: %s); %d differences; not judged by any oracle: %s; %.1f s"
          % (len(files), ", ".join("%s %d" % (o, total[o]) for o, _ in ORACLES),
             ", ".join("%s %d" % (o, case_total[o]) for o, _ in ORACLES), diff_count,
             dict(sorted(unjudged_all.items())) or "none", time.monotonic() - started))
    return 1 if failures or diff_count else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
