#!/usr/bin/python3
"""The dispute desk in a real browser (issue 11 item 3): headless Chromium through Selenium (Debian's chromium,
chromium-driver and python3-selenium, hence Debian's interpreter).

It makes a small population (gongji-generate, gongji ingest, gongji fold) in a temporary directory, writes a tokens
file (SHA-256 hashes of random desk and auditor tokens), starts `gongji query --listen 127.0.0.1:0` and reads its
port from stderr, then through the page served at /:
  - a wrong token gets the 401 message;
  - the desk token finds a person as of a claim's date, and the page shows the person's deductible, limit and
    account as the API gives them; the settlements, the claim's status and fund; the claim's explanation with the
    rule ids of its trace, in order; the year statement with its chart and total fund paid;
  - a bad as-of date shows the 400 message naming `as_of`; a known-at before anything was ingested shows 404;
  - the desk token opening the auditor tab gets the 403 message and no data;
  - the auditor token sees the fund month and the facility month, as the API gives them;
  - the browser reports no Content-Security-Policy violation (the page's own script and style run under it).
Every expected value is fetched from the API by this script itself (urllib, the same token). Screenshots go to
--screens. The service, the driver and the browser are stopped on every exit, failure included.

    desk_walk.py --gongji BIN --generate BIN --screens DIR
Exit 0 on success, 1 on a failed check, 77 (ctest: skipped) when Selenium or Chromium is not installed.
"""
import argparse
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PEOPLE = 60
WAIT = 15  # seconds any one page element may take to appear

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    webdriver = None


def yuan(s):
    """The page's money format, written out independently: "1234.56" -> "¥1,234.56", "-25.72" -> "-¥25.72"."""
    m = re.fullmatch(r"(-?)(\d+)(\.\d+)?", s)
    assert m, f"not a yuan string: {s!r}"
    return f"{m.group(1)}¥{int(m.group(2)):,}{m.group(3) or ''}"


class Api:
    def __init__(self, base):
        self.base = base

    def get(self, path, token):
        req = urllib.request.Request(self.base + path, headers={"Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def json(self, path, token):
        status, body = self.get(path, token)
        assert status == 200, f"GET {path}: {status} {body}"
        return json.loads(body)


def run(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=kw.pop("stdout", subprocess.DEVNULL), stderr=subprocess.PIPE, **kw)


# Ids EVENTS.md allows that a page could take for something else (the outputs hunt of session 49): names of
# JavaScript's Object.prototype, which a plain lookup table answers with a function; a claim named like a status and
# a person like one; and ids with spaces at their ends beside the same ids without. Each person has one claim of
# March 2023 at its own facility.
HOSTILE = [  # (person, claim, facility)
    ("constructor", "toString", "__proto__"),
    ("settled", "rejected", "F-plain"),
    (" P-edge ", "hasOwnProperty", " F-edge "),
    ("P-edge", "valueOf", "F-edge"),
]


def hostile_events():
    lines, n = [], 0
    def add(**event):
        nonlocal n
        n += 1
        lines.append(json.dumps(dict(event, id=f"hostile-{n}")))
    for facility in sorted({f for _, _, f in HOSTILE}):
        add(type="facility_registered", at="2022-01-01", facility=facility, name="n", level=1, tcm=False,
            kind="township_health_center", ordinary_outpatient=True)
    for i, (person, claim, facility) in enumerate(HOSTILE):
        add(type="person_enrolled", at="2022-01-01", person=person, birth_date="1975-03-15", scheme="employee",
            status="in_service")
        add(type="outpatient_designated", at="2022-12-01", person=person, facility=facility)
        add(type="claim", claim=claim, person=person, facility=facility, date="2023-03-01", benefit="ordinary",
            items=[{"category": "drug", "amount": f"{700 + 100 * i}.00"}])
    return "".join(line + "\n" for line in lines)


def make_data(args, tmp):
    events = os.path.join(tmp, "events.jsonl")
    data = os.path.join(tmp, "data")
    with open(events, "w") as out:
        run([args.generate, "--people", str(PEOPLE)], stdout=out)
        out.write(hostile_events())
    run([args.gongji, "ingest", "--data-dir", data, events])
    run([args.gongji, "fold", "--data-dir", data])
    return data


def write_tokens(tmp):
    desk, auditor = secrets.token_hex(16), secrets.token_hex(16)
    path = os.path.join(tmp, "tokens")
    with open(path, "w") as f:
        f.write("# sha256 role name\n")
        f.write(hashlib.sha256(desk.encode()).hexdigest() + " desk desk-walk\n")
        f.write(hashlib.sha256(auditor.encode()).hexdigest() + " auditor audit-walk\n")
    return path, desk, auditor


def start_service(args, data, tokens, tmp, procs):
    err_path = os.path.join(tmp, "query.err")
    err = open(err_path, "w")
    env = {k: v for k, v in os.environ.items() if k not in ("GONGJI_LOG_LEVEL", "GONGJI_LOG_FORMAT")}
    proc = subprocess.Popen([args.gongji, "query", "--data-dir", data, "--tokens", tokens, "--listen",
                             "127.0.0.1:0", "--access-log", os.path.join(tmp, "access.jsonl")],
                            stdout=subprocess.DEVNULL, stderr=err, env=env)  # it says where it listens
    procs.append(proc)
    deadline = time.time() + 20
    while time.time() < deadline:
        with open(err_path) as f:
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", f.read())
        if m:
            return m.group(1)
        assert proc.poll() is None, "gongji query exited: " + open(err_path).read()
        time.sleep(0.05)
    raise AssertionError("gongji query did not say where it listens: " + open(err_path).read())


def pick_dispute(api, token):
    """A person with a settled claim of 2023 the fund paid something for: the person, the claim's record and all the
    person's records."""
    for n in range(PEOPLE):
        person = f"P{n:07d}"
        status, body = api.get(f"/v1/persons/{person}/settlements", token)
        if status != 200:
            continue
        records = json.loads(body)["records"]
        for r in records:
            if (r["kind"] == "settlement" and r["status"] == "settled" and r["fund"] != "0.00" and r.get("trace")
                    and r["date"].startswith("2023-")):
                return person, r, records
    raise AssertionError("no person with a settled claim the fund paid for")


class Walk:
    def __init__(self, driver, base, api, screens):
        self.d, self.base, self.api, self.screens = driver, base, api, screens
        self.shots = 0

    def wait(self, cond, what):
        # A view the page replaces while a condition reads it (found, then gone: stale) is read again, not a failure
        # (CI, 2026-12-07: the facility month's heading replaced between its lookup and its text).
        return WebDriverWait(self.d, WAIT, ignored_exceptions=[StaleElementReferenceException]).until(
            cond, message="waiting for " + what)

    def css(self, selector):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, selector)), selector)

    def text(self, selector):
        return self.css(selector).text.strip()

    def type(self, element_id, text):
        e = self.d.find_element(By.ID, element_id)
        e.clear()
        e.send_keys(text)

    def click(self, element_id):
        self.d.find_element(By.ID, element_id).click()

    def shot(self, name):
        self.shots += 1
        self.d.save_screenshot(os.path.join(self.screens, f"{self.shots:02d}-{name}.png"))

    def error(self, status):
        """The error box once it shows `status`; its text."""
        self.wait(lambda d: d.find_element(By.ID, "error").get_attribute("data-status") == str(status),
                  f"the {status} message")
        return self.text("#error")

    def login(self, token):
        self.type("login-token", token)
        self.click("login-btn")

    def login_again(self, token, role):
        """Logs out, then in with `token`, once the page says the role is `role`."""
        self.click("logout-btn")
        self.css("#login-token")
        self.login(token)
        self.wait(lambda d: d.find_element(By.ID, "who").get_attribute("data-role") == role, "role " + role)


def check_headers(base):
    with urllib.request.urlopen(base + "/", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/html; charset=utf-8", r.headers["Content-Type"]
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "'unsafe-inline'" not in csp, csp
        assert "<title>共济争议台 gongji dispute desk</title>" in r.read().decode()
    with urllib.request.urlopen(base + "/desk", timeout=10) as r:
        assert r.status == 200


def walk_desk(w, desk, person, claim, records):
    d, api = w.d, w.api
    d.get(w.base + "/")
    w.css("#login-token")
    w.login("not-a-token-" + secrets.token_hex(4))
    msg = w.error(401)
    assert "401" in msg and "未授权 Unauthorized" in msg, msg
    w.shot("wrong-token-401")

    w.login(desk)
    w.wait(lambda d: d.find_element(By.ID, "who").get_attribute("data-role") == "desk", "role desk")
    as_of = claim["date"]
    w.type("person-id", person)
    w.type("as-of", as_of)
    w.click("lookup-btn")
    want = api.json(f"/v1/persons/{person}?as_of={as_of}", desk)
    assert w.text('[data-field="as_of"]') == as_of
    for field, value in [("ordinary.deductible_paid", want["ordinary"]["deductible_paid"]),
                         ("ordinary.limit_used", want["ordinary"]["limit_used"]),
                         ("ordinary.fund_paid", want["ordinary"]["fund_paid"]),
                         ("inpatient_limit_used", want["inpatient_limit_used"]),
                         ("account.balance", want["account"]["balance"])]:
        assert w.text(f'[data-field="{field}"]') == yuan(value), (field, w.text(f'[data-field="{field}"]'), value)
    if want["ordinary"]["limit"] is not None:
        assert w.text('[data-field="ordinary.limit"]') == yuan(want["ordinary"]["limit"])
    assert want["scheme"] in w.text('[data-field="scheme"]')
    assert w.text('[data-field="incentive.bonus_points"]') == want["incentive"]["bonus_points"]
    w.shot("person-as-of")

    c = claim["claim"]
    row = f'#settlements-view tr[data-claim="{c}"][data-kind="settlement"]'
    assert "settled" in w.text(row + ' [data-col="status"]')
    assert w.text(row + ' [data-col="fund"]') == yuan(claim["fund"])
    assert w.text(row + ' [data-col="deductible"]') == yuan(claim["deductible"])
    shown = d.find_elements(By.CSS_SELECTOR, "#settlements-view tr[data-kind]")
    assert len(shown) == len(records), (len(shown), len(records))
    w.shot("settlements")

    d.find_element(By.CSS_SELECTOR, f'button.explain[data-claim="{c}"]').click()
    x = api.json(f"/v1/persons/{person}/claims/{c}", desk)
    w.css("#explain-view li[data-rule]")
    rules = [li.get_attribute("data-rule") for li in d.find_elements(By.CSS_SELECTOR, "#explain-view li[data-rule]")]
    assert rules == [s["rule"] for s in x["recorded"]["trace"]], rules
    first = d.find_element(By.CSS_SELECTOR, "#explain-view li[data-rule]").text
    assert x["recorded"]["trace"][0]["article"] in first, first
    assert w.text('#explain-view [data-field="claim.fund"]') == yuan(x["recorded"]["fund"]) == yuan(claim["fund"])
    assert "settled" in w.text('#explain-view [data-field="claim.status"]')
    assert w.text('#explain-view tr[data-field="deductible"] [data-col="recorded"]') == yuan(claim["deductible"])
    assert ("the same as recorded" in w.text('[data-field="equal"]')) == x["equal"]
    w.shot("explanation")

    year = as_of[:4]
    w.wait(lambda d: d.find_element(By.ID, "statement-year").get_attribute("value") == year, "statement year")
    w.click("statement-btn")
    s = api.json(f"/v1/persons/{person}/statements/{year}", desk)
    w.css("#statement-view svg#chart path")
    assert len(d.find_elements(By.CSS_SELECTOR, "#statement-view svg#chart path")) == 2  # limit used, balance
    assert w.text('[data-field="statement.fund_paid"]') == yuan(s["totals"]["fund_paid"])
    assert w.text('[data-field="statement.balance"]') == yuan(s["totals"]["year_end"]["account"]["balance"])
    entries = d.find_elements(By.CSS_SELECTOR, "#statement-view tr[data-claim]")
    assert len(entries) == len(s["entries"]), (len(entries), len(s["entries"]))
    w.shot("statement")

    w.type("as-of", year + "-13-45")
    w.click("lookup-btn")
    msg = w.error(400)
    assert w.text('#error [data-field="parameter"]') == "as_of", msg
    w.type("as-of", as_of)
    w.type("known-at", "0")
    w.click("lookup-btn")
    msg = w.error(404)
    assert "未找到 Not found" in msg and person in msg, msg
    w.shot("known-at-404")
    w.type("known-at", "")

    w.click("tab-audit")
    w.type("audit-month", as_of[:7])
    w.click("fund-btn")
    msg = w.error(403)
    assert "无权限 Forbidden" in msg and "403" in msg, msg
    assert not d.find_element(By.ID, "audit-view").is_displayed()
    w.shot("desk-auditor-tab-403")


def walk_auditor(w, auditor, claim):
    d, api = w.d, w.api
    w.login_again(auditor, "auditor")
    w.click("tab-audit")
    month = claim["date"][:7]
    w.type("audit-month", month)
    w.click("fund-btn")
    f = api.json(f"/v1/fund/months/{month}", auditor)
    assert w.text('[data-field="fund.net"]') == yuan(f["fund"]["net"])
    assert w.text('[data-field="fund.claims"]') == str(f["claims"])
    w.shot("auditor-fund-month")
    w.type("facility-id", claim["facility"])
    w.click("facility-btn")
    v = api.json(f"/v1/facilities/{claim['facility']}/months/{month}", auditor)
    assert w.text('[data-field="facility.net"]') == yuan(v["fund"]["net"])
    assert w.text('[data-field="facility.patients"]') == str(v["patients"])
    cells = [e.text for e in d.find_elements(By.CSS_SELECTOR, '#audit-view [data-col="claim"]')]
    assert claim["claim"] in cells, cells
    w.shot("auditor-facility-month")


def walk_hostile_ids(w, desk, auditor):
    """Every hostile id is shown as itself, exactly as typed or clicked: the person, the claim and the facility in the
    settlements, and in the auditor's facility list and facility month (whose Open button opens that facility, not
    the one whose id is the same without the spaces)."""
    d = w.d
    w.login_again(desk, "desk")
    w.click("tab-person")
    w.type("known-at", "")
    for person, claim, facility in HOSTILE:
        w.type("person-id", person)
        w.type("as-of", "2023-03-31")
        w.click("lookup-btn")
        row = f'#settlements-view tr[data-claim="{claim}"][data-kind="settlement"]'
        w.wait(lambda d: d.find_elements(By.CSS_SELECTOR, row), f"{claim!r} of {person!r}")
        cell = lambda col: d.find_element(By.CSS_SELECTOR, f'{row} [data-col="{col}"]').get_attribute("textContent")
        assert cell("claim") == claim, (person, cell("claim"))
        assert cell("facility") == facility, (person, cell("facility"))
        assert "settled" in cell("status"), (person, cell("status"))
        shown = d.find_element(By.CSS_SELECTOR, '[data-field="person"]').get_attribute("textContent")
        assert shown == person, (person, shown)
        rows = d.find_elements(By.CSS_SELECTOR, "#settlements-view tr[data-kind]")
        assert len(rows) == 1, (person, len(rows))  # the person typed, not the one without the spaces
    w.shot("hostile-ids")
    w.login_again(auditor, "auditor")
    w.click("tab-audit")
    w.type("audit-month", "2023-03")
    for person, claim, facility in HOSTILE:
        w.click("facilities-btn")
        listed = '#audit-view tr'
        w.wait(lambda d: d.find_elements(By.CSS_SELECTOR, '#audit-view [data-col="facility"]'), "the facility list")
        rows = w.wait(lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, listed)
                                 if r.find_elements(By.CSS_SELECTOR, '[data-col="facility"]') and
                                 r.find_element(By.CSS_SELECTOR, '[data-col="facility"]').get_attribute("textContent")
                                 == facility], f"the row of {facility!r}")
        assert len(rows) == 1, (facility, len(rows))
        rows[0].find_element(By.CSS_SELECTOR, "button").click()
        w.wait(lambda d: d.find_elements(By.CSS_SELECTOR, '#audit-view h2') and "Facility" in
               d.find_element(By.CSS_SELECTOR, '#audit-view h2').text, f"the month of {facility!r}")
        claims = [e.get_attribute("textContent") for e in d.find_elements(By.CSS_SELECTOR, '#audit-view [data-col="claim"]')]
        persons = [e.get_attribute("textContent") for e in d.find_elements(By.CSS_SELECTOR, '#audit-view [data-col="person"]')]
        assert claims == [claim], (facility, claims)
        assert persons == [person], (facility, persons)
    w.shot("hostile-facility-month")


def check_console(driver):
    logs = driver.get_log("browser")
    bad = [e["message"] for e in logs if "Content Security Policy" in e["message"] or "Refused to" in e["message"]]
    assert not bad, bad


def browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100",
              "--lang=zh-CN", f"--user-data-dir={os.path.join(profile, 'chromium')}"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gongji", required=True)
    ap.add_argument("--generate", required=True)
    ap.add_argument("--screens", required=True)
    args = ap.parse_args()
    if webdriver is None or not os.access(CHROMIUM, os.X_OK) or not os.access(CHROMEDRIVER, os.X_OK):
        print("skipped: needs python3-selenium, chromium and chromium-driver (ops/install-deps.sh)")
        return 77
    # ctest's timeout and ^C end the walk through `finally`, which stops everything it started.
    def stopped(*_):
        print("desk walk: stopped by SIGTERM, cleaning up", file=sys.stderr)
        sys.exit(1)
    signal.signal(signal.SIGTERM, stopped)
    os.makedirs(args.screens, exist_ok=True)
    for old in os.listdir(args.screens):
        if old.endswith(".png"):
            os.remove(os.path.join(args.screens, old))
    started = time.time()
    procs, driver = [], None
    with tempfile.TemporaryDirectory(prefix="gongji-desk-") as tmp:
        try:
            data = make_data(args, tmp)
            tokens, desk, auditor = write_tokens(tmp)
            base = start_service(args, data, tokens, tmp, procs)
            check_headers(base)
            api = Api(base)
            person, claim, records = pick_dispute(api, desk)
            driver = browser(tmp)
            w = Walk(driver, base, api, args.screens)
            walk_desk(w, desk, person, claim, records)
            walk_auditor(w, auditor, claim)
            walk_hostile_ids(w, desk, auditor)
            check_console(driver)
            print(f"desk walk: {person} claim {claim['claim']} ({claim['date']}, fund {claim['fund']}): "
                  f"{w.shots} screenshots in {args.screens}, {time.time() - started:.1f} s")
            return 0
        except Exception:
            if driver is not None:
                try:
                    driver.save_screenshot(os.path.join(args.screens, "failure.png"))
                except Exception:  # the browser may be what failed
                    pass
            raise
        finally:
            if driver is not None:
                driver.quit()
            for p in procs:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


if __name__ == "__main__":
    sys.exit(main())
