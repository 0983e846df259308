package gongji.peer;

import gongji.fb.Away;
import gongji.fb.Claim;
import gongji.fb.Item;
import java.time.LocalDate;

/**
 * The ordinary-outpatient settlement of one claim (POLICY.md §1): ORD-SCOPE (by category only), F-LEVEL, F-TCM,
 * ORD-AWAY, ORD-DED, ORD-LIM, ORD-RATIO with P-MINOR, ORD-TYPE and ORD-INC's bonus, RND. Amounts in fen.
 *
 * <p>Not modelled (gongji applies them; see README.md): ORD-DESIG (designation, auto-designation, changes),
 * ORD-ACU / ORD-PED (a resident's acupuncture, TCM and paediatric-massage items are simply out of scope here),
 * ORD-INPT's inpatient-stay check, chronic claims (CHR-*), accounts (ACC-*).
 */
final class Ordinary {
  private Ordinary() {}

  /** The year accumulator (ORD-DED deductible_paid, ORD-LIM limit_used) of one person, year and scheme period. */
  static final class Year {
    long deductiblePaid;
    long limitUsed;
  }

  /** One settlement's figures. */
  static final class Result {
    String status = "settled";
    String reason = "";
    long total;
    long eligible;
    long deductible;
    long selfFirst;
    long covered;
    int ratio;
    int bonus;
    boolean enjoyed;  // ORD-INC: settled with a bonus and a fund payment
    long fund;
    long limitCounted;  // into limit_used: covered plus the counted self-first share (ORD-AWAY)
    String yearKey = "";  // the "years" key consumed from; empty for a refusal
  }

  /** ORD-SCOPE by category: nucleic-acid tests never; residents only drugs and general consultation. */
  static void scope(Claim c, boolean employee, Result r) {
    Item it = new Item();
    for (int i = 0; i < c.itemsLength(); ++i) {
      c.items(it, i);
      r.total = Math.addExact(r.total, it.amount());
      String cat = it.category();
      boolean in = !cat.equals("nucleic_acid")
                   && (employee || cat.equals("drug") || cat.equals("general_consultation"));
      if (in) r.eligible = Math.addExact(r.eligible, it.hasEligible() ? it.eligible() : it.amount());
    }
  }

  /** Settles amounts; `level` 1..3 and `tcm` as in effect (F-LEVEL, F-TCM); updates `y`. */
  static void amounts(Claim c, Person p, Person.Standing st, int level, boolean tcm, Year y, Result r) {
    final boolean employee = st.scheme() == Person.EMPLOYEE;
    scope(c, employee, r);
    final int day = c.date();
    final int tier = !employee && p.ageOn(day) < Policy.MINOR_AGE_BELOW ? 1 : st.tier();  // P-MINOR
    final long limit = Policy.limit(employee, tier, LocalDate.ofEpochDay(day).getYear());
    long room = Math.max(0, limit - y.limitUsed);
    Away away = c.away();
    if (away != null && away.mode().equals("temporary")) {  // ORD-AWAY: 10% first, counted into the limit
      r.selfFirst = Policy.mulRate(r.eligible, Policy.AWAY_TEMPORARY_SELF_SHARE);
      long counted = Math.min(r.selfFirst, room);
      room -= counted;
      y.limitUsed += counted;
      r.limitCounted = counted;
    }
    final long rest = r.eligible - r.selfFirst;
    final int dedLevel = tcm ? Math.max(1, level - 1) : level;
    final long dedFigure = (employee ? Policy.DED_EMPLOYEE : Policy.DED_RESIDENT)[dedLevel - 1];
    r.deductible = Math.min(rest, Math.max(0, dedFigure - y.deductiblePaid));  // ORD-DED
    y.deductiblePaid += r.deductible;
    r.covered = Math.min(rest - r.deductible, room);  // ORD-LIM
    y.limitUsed += r.covered;
    r.limitCounted += r.covered;
    final boolean retired = employee && (st.status() == Person.RETIRED || p.retiredOn <= day);
    final int[] ratios = !employee ? Policy.RATIO_RESIDENT : retired ? Policy.RATIO_RETIRED : Policy.RATIO_IN_SERVICE;
    r.bonus = p.bonusAt(day);  // ORD-INC
    r.ratio = ratios[(tcm && employee ? dedLevel : level) - 1] + (tcm && !employee ? Policy.TCM_RESIDENT_EXTRA : 0)
              + r.bonus;
    r.fund = Policy.mulRate(r.covered, r.ratio);  // ORD-RATIO, RND
  }

  /** A refusal: no amounts (patient = total). */
  static Result refused(Claim c, String status, String reason) {
    Result r = new Result();
    r.status = status;
    r.reason = reason;
    Item it = new Item();
    for (int i = 0; i < c.itemsLength(); ++i) r.total = Math.addExact(r.total, c.items(it, i).amount());
    return r;
  }
}
