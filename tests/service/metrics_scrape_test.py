#!/usr/bin/python3
"""Issue 11 item 5: `gongji query`'s /metrics scraped while `gongji fold` writes the store it reads, and parsed
with Debian's python3-prometheus-client parser. Checks that every family the issue lists that query can export is
there with sensible values: lag per partition, events folded, settlements by status, fund paid by scheme, refusals
by reason, dead letters, the request latency histogram per endpoint, the RocksDB figures.

Usage: metrics_scrape_test.py GONGJI_BIN GONGJI_GENERATE_BIN SOURCE_DIR   (ctest runs it; exit 0 when it holds)
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

GONGJI, GENERATE, SOURCE = sys.argv[1:4]
TOKEN = "ops-scrape-token"
# An event the fold refuses (a domain refusal, DISEASE_NOT_REGISTERED: E1 has no chronic disease to revoke), so
# that refusals by reason has a sample.
REFUSED = {"type": "chronic_disease_revoked", "id": "scrape-refused-1", "at": "2023-03-21", "person": "E1",
           "disease": "C17"}


def gongji(*args, **kw):
    return subprocess.run([GONGJI, *args], check=True, capture_output=True, text=True, **kw)


def scrape(port):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4", r.headers["Content-Type"]
        return r.read().decode()


def get(port, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": "Bearer " + TOKEN})
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except urllib.error.HTTPError as e:  # ops may not read persons: a 403, still timed per endpoint
        assert e.code == 403, e.code


def ingest(data, path):
    """Appends the events of `path` to the log of `data`; how many were appended."""
    out = gongji("ingest", "--data-dir", data, path).stdout
    assert out.startswith("appended "), out
    return int(out.split()[1].rstrip(","))


def samples(text):
    """{(sample name, sorted labels): value} and {family name: type}."""
    values, types = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values, types


def by_label(values, name, label):
    return {dict(labels)[label]: v for (n, labels), v in values.items() if n == name and label in dict(labels)}


def check_families(values, types):
    expected = {  # family (as the parser names it: counters without _total) -> type
        "gongji_events_folded": "counter", "gongji_folded_offset": "gauge", "gongji_log_end_offset": "gauge",
        "gongji_lag": "gauge", "gongji_settlements": "counter", "gongji_fund_paid_yuan": "gauge",
        "gongji_refusals": "counter", "gongji_dead_letters": "counter", "gongji_http_requests": "counter",
        "gongji_http_request_duration_seconds": "histogram",
        "gongji_rocksdb_live_sst_files_bytes": "gauge", "gongji_rocksdb_num_running_compactions": "gauge",
        "gongji_rocksdb_cur_size_all_mem_tables_bytes": "gauge", "gongji_rocksdb_estimate_num_keys": "gauge",
    }
    for family, kind in expected.items():
        assert types.get(family) == kind, f"{family}: {types.get(family)}, expected {kind}"
    lag = by_label(values, "gongji_lag", "partition")
    assert sorted(lag) == [str(p) for p in range(8)], lag
    assert all(v >= 0 for v in lag.values()), lag
    assert values[("gongji_rocksdb_cur_size_all_mem_tables_bytes", ())] > 0
    assert values[("gongji_rocksdb_estimate_num_keys", ())] > 0
    assert values[("gongji_rocksdb_live_sst_files_bytes", ())] >= 0
    assert values[("gongji_rocksdb_num_running_compactions", ())] >= 0
    return sum(lag.values()), values[("gongji_events_folded_total", ())]


def main():
    work = tempfile.mkdtemp(prefix="gongji-scrape-")
    data = os.path.join(work, "data")
    query = None
    try:
        with open(os.path.join(work, "tokens"), "w") as f:
            f.write(hashlib.sha256(TOKEN.encode()).hexdigest() + " ops prometheus\n")
        first, second = os.path.join(work, "first.jsonl"), os.path.join(work, "second.jsonl")
        with open(first, "w") as f:
            f.write(open(os.path.join(SOURCE, "tests/scenarios/examples/employee_year.jsonl")).read())
            f.write(json.dumps(REFUSED) + "\n")
        with open(second, "w") as f:
            subprocess.run([GENERATE, "--people", "300", "--seed", "11"], stdout=f, check=True)
        appended = ingest(data, first)
        gongji("fold", "--data-dir", data)
        query = subprocess.Popen([GONGJI, "query", "--data-dir", data, "--tokens", os.path.join(work, "tokens"),
                                  "--listen", "127.0.0.1:0", "--rate", "100000", "--log-format", "json"],
                                 stderr=subprocess.PIPE, text=True)
        port = None
        for line in query.stderr:  # the operational log line that says where it listens
            message = json.loads(line)["message"]
            if message.startswith("listening on http://"):
                port = int(message.rsplit(":", 1)[1])
                break
        assert port, "query said nowhere it listens"
        threading.Thread(target=query.stderr.read, daemon=True).start()  # never let its stderr fill up
        get(port, "/v1/persons/E1")
        get(port, "/healthz")
        values, types = samples(scrape(port))
        lag, folded = check_families(values, types)
        # The example's 15 events and the refused one; each of its 5 facility registrations is in all 8 partitions.
        assert appended == 16 and lag == 0 and folded == 10 + 5 * 8 + 1, (appended, lag, folded)
        assert by_label(values, "gongji_refusals_total", "reason") == {"DISEASE_NOT_REGISTERED": 1}, values
        assert by_label(values, "gongji_settlements_total", "status").get("settled", 0) > 0
        assert by_label(values, "gongji_fund_paid_yuan", "scheme").get("employee", 0) > 0
        assert values[("gongji_dead_letters_total", ())] == 0
        hist = by_label(values, "gongji_http_request_duration_seconds_count", "endpoint")
        assert hist.get("person") == 1 and hist.get("health") == 1, hist
        assert values[("gongji_http_request_duration_seconds_bucket", (("endpoint", "person"), ("le", "+Inf")))] == 1

        # More events: once the service has caught up with the log (at most every 100 ms) the lag is what is not yet
        # folded. Then folded while scraping: folded only grows, lag goes to 0 when the fold ends. (The lag is read
        # before the fold starts: a fold of these few thousand events can end between two scrapes.)
        assert ingest(data, second) > 1000
        time.sleep(0.2)
        before, _ = check_families(*samples(scrape(port)))
        assert before > 1000, f"the ingested events are not seen as lag before the fold ({before})"
        fold = subprocess.Popen([GONGJI, "fold", "--batch", "50", "--data-dir", data], stdout=subprocess.DEVNULL)
        seen, lags = [], []
        while fold.poll() is None or len(seen) < 2:
            lag, folded = check_families(*samples(scrape(port)))
            seen.append(folded)
            lags.append(lag)
            time.sleep(0.05)
        assert fold.wait() == 0
        time.sleep(0.2)  # the service catches up at most every 100 ms
        values, types = samples(scrape(port))
        lag, folded = check_families(values, types)
        seen.append(folded)
        assert seen == sorted(seen), seen
        total = sum(by_label(values, "gongji_log_end_offset", "partition").values())
        assert folded == total > 51 and lag == 0, (folded, total, lag)
        print(f"metrics scrape: lag {int(before)} before the fold, {len(seen)} scrapes while folding, folded "
              f"{seen[0]} .. {seen[-1]}, lag up to {int(max(lags))}")
    finally:
        if query:
            query.terminate()
            query.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
