package gongji.peer;

import java.time.LocalDate;

/**
 * The ordinary-outpatient parameters of ledger/policy/weihai.yaml that the peer uses, as constants (money in fen,
 * ratios in basis points). gongji reads them, effective-dated, from the policy file; the peer hard-codes the values
 * in force for 2022-12-01..2027-06-30, which is all the generator's claims need.
 */
final class Policy {
  private Policy() {}

  /** T-START: ordinary rules apply from 2022-12-01 (N§1) to the end of the policy window (Art.40). */
  static final int ORDINARY_FROM = (int) LocalDate.of(2022, 12, 1).toEpochDay();
  static final int WINDOW_TO = (int) LocalDate.of(2027, 6, 30).toEpochDay();

  /** ORD-DED (Art.11), levels 1/2/3. */
  static final long[] DED_EMPLOYEE = {30000, 50000, 70000};
  static final long[] DED_RESIDENT = {10000, 15000, 20000};

  /** ORD-RATIO (Art.11), levels 1/2/3, basis points. */
  static final int[] RATIO_IN_SERVICE = {7000, 6000, 5000};
  static final int[] RATIO_RETIRED = {7500, 6500, 5500};
  static final int[] RATIO_RESIDENT = {5000, 4000, 3000};
  /** F-TCM (Art.18): residents at a TCM hospital, +5 points. */
  static final int TCM_RESIDENT_EXTRA = 500;
  /** ORD-AWAY (N§2(三)): temporary out-of-area care, the patient first bears 10%. */
  static final int AWAY_TEMPORARY_SELF_SHARE = 1000;
  /** P-MINOR (Art.11): a resident under 18 gets tier-1 ordinary standards. */
  static final int MINOR_AGE_BELOW = 18;

  /** ORD-LIM (Art.10, Art.11): the limit of a year; 2022 has the halved figures. */
  static long limit(boolean employee, int tier, int year) {
    long full = employee ? 160000 : tier == 2 ? 40000 : 20000;
    return year <= 2022 ? full / 2 : full;
  }

  /** RND: amount x rate (basis points), rounded half up to the fen once (amounts are never negative here). */
  static long mulRate(long amount, int basisPoints) {
    return Math.addExact(Math.multiplyExact(amount, (long) basisPoints), 5000) / 10000;
  }
}
