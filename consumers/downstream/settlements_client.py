#!/usr/bin/python3
"""A downstream client of gongji's settlements topic, as fund accounting would write one: reads every output
record with isolation.level=read_committed, decodes it with the code flatc generates from events/outputs.fbs, and
totals what the fund pays. Prints a JSON summary; --check-once exits 1 if any record arrived twice.
Records of schema version 2 or 3 are read through their typed body (a settlement's or reversal's `fund`, in fen);
records of version 1 (no body) through the fields version 1 had, which later versions still write (version 3
writes `line` empty).
Dead letters arrive on the same topic, in their place (kind "dead_letter": a record gongji could not apply, so
nothing was settled for it); the summary counts them ("dead_letters") and lists where they came from.

usage: settlements_client.py --brokers HOST:PORT --topic gongji.settlements --generated DIR [--idle SECONDS]
DIR holds the Python package flatc --python generated (build/generated/python)."""
import argparse
import json
import sys
import time
import uuid


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", default="gongji.settlements")
    ap.add_argument("--generated", required=True, help="directory of the flatc --python output")
    ap.add_argument("--idle", type=float, default=5.0, help="stop after this many seconds without a record")
    ap.add_argument("--check-once", action="store_true", help="exit 1 if any record identity repeats")
    args = ap.parse_args()
    sys.path.insert(0, args.generated)
    from confluent_kafka import Consumer
    from gongji.fb.Kind import Kind
    from gongji.fb.OutputBody import OutputBody
    from gongji.fb.OutputRecord import OutputRecord
    from gongji.fb.Reversal import Reversal
    from gongji.fb.Settlement import Settlement

    KIND_NAMES = {v: k for k, v in vars(Kind).items() if not k.startswith("_")}

    def text(b):  # a string field; an absent one reads as None
        return (b or b"").decode()

    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": "downstream-" + uuid.uuid4().hex,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    consumer.subscribe([args.topic])
    seen, repeats = set(), 0
    kinds, fund, settlements_by_claim, dead, versions = {}, 0, {}, [], {}
    last = time.time()
    while time.time() - last < args.idle:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            print("settlements_client: " + str(msg.error()), file=sys.stderr)
            continue
        last = time.time()
        rec = OutputRecord.GetRootAs(msg.value(), 0)
        identity = (rec.Partition(), rec.Offset(), rec.Index())
        if identity in seen:
            repeats += 1
            continue
        seen.add(identity)
        version = rec.SchemaVersion()
        versions[version] = versions.get(version, 0) + 1
        # Version 2: the kind as an enum (Kind's names are the EVENTS.md spellings); version 1: the kind string.
        kind = KIND_NAMES.get(rec.RecordKind(), "unknown") if version >= 2 else (rec.Kind() or b"").decode()
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "dead_letter":
            dead.append([rec.Partition(), rec.Offset()])
        if version >= 2 and rec.BodyType() in (OutputBody.Settlement, OutputBody.Reversal):
            body = Settlement() if rec.BodyType() == OutputBody.Settlement else Reversal()
            table = rec.Body()
            body.Init(table.Bytes, table.Pos)
            fund += body.Fund()
            claim = text(body.Person()) + "/" + text(body.Claim())  # a claim is its person and its id (EVENTS.md)
        elif kind in ("settlement", "reversal"):
            fund += rec.Fund()
            claim = text(rec.Person()) + "/" + text(rec.Claim())
        if kind == "settlement":
            settlements_by_claim[claim] = settlements_by_claim.get(claim, 0) + 1
    consumer.close()
    summary = {
        "records": len(seen),
        "repeats": repeats,
        "kinds": kinds,
        "fund_fen": fund,
        "claims": len(settlements_by_claim),
        "claims_settled_more_than_once": sum(1 for n in settlements_by_claim.values() if n > 1),
        "dead_letters": len(dead),
        "dead_letter_positions": sorted(dead),
        "schema_versions": {str(v): n for v, n in sorted(versions.items())},
    }
    print(json.dumps(summary, sort_keys=True))
    sys.exit(1 if args.check_once and repeats else 0)


if __name__ == "__main__":
    main()
