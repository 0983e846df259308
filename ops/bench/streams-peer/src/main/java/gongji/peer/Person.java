package gongji.peer;

import gongji.fb.PersonEnrolled;
import gongji.fb.SchemeChanged;
import java.nio.ByteBuffer;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;

/**
 * A person's standing as a timeline (TIME-DATED), the value of the "persons" store: the standings in log order,
 * each from its date (P-SCHEME, P-CHANGE), the retirement confirmation date, the suspended intervals (P-ELIG), and
 * ORD-INC's bonus timeline and yearly figures.
 */
final class Person {
  static final byte EMPLOYEE = 0;
  static final byte RESIDENT = 1;
  static final byte IN_SERVICE = 0;
  static final byte RETIRED = 1;
  static final byte OTHER_EMPLOYEE = 2;  // flexible, old_urban: in-service ratios until a retirement (P-SCHEME)

  record Standing(int from, byte scheme, byte status, byte tier, boolean student) {}

  int birth = Integer.MIN_VALUE;
  int retiredOn = Integer.MAX_VALUE;
  final List<Standing> standings = new ArrayList<>();
  final List<int[]> suspensions = new ArrayList<>();  // {from, to}; to = MAX_VALUE while open
  final List<int[]> bonus = new ArrayList<>();  // ORD-INC: {from, basis points}, in log order
  /** ORD-INC's figures of a service year, net of reversals: {fund, eligible, claims that enjoyed the bonus}. */
  final java.util.TreeMap<Integer, long[]> incentive = new java.util.TreeMap<>();

  static byte status(String s) {
    if (s == null || s.equals("in_service")) return IN_SERVICE;
    return s.equals("retired") ? RETIRED : OTHER_EMPLOYEE;
  }

  static Person enrolled(PersonEnrolled e) {
    Person p = new Person();
    if (e.hasBirthDate()) p.birth = e.birthDate();
    p.add(e.at(), e.scheme(), e.status(), e.hasTier() ? e.tier() : 1, e.hasStudent() && e.student());
    if (p.standings.get(0).status == RETIRED) p.retiredOn = e.hasRetiredOn() ? e.retiredOn() : e.at();
    return p;
  }

  void changed(SchemeChanged e) {
    add(e.at(), e.scheme(), e.status(), e.hasTier() ? e.tier() : 1, e.hasStudent() && e.student());
    if (status(e.status()) == RETIRED && "employee".equals(e.scheme())) retiredOn = Math.min(retiredOn, e.at());
  }

  void retired(int at) { retiredOn = Math.min(retiredOn, at); }

  void suspended(int at) { suspensions.add(new int[] {at, Integer.MAX_VALUE}); }

  void resumed(int at) {
    if (!suspensions.isEmpty() && suspensions.get(suspensions.size() - 1)[1] == Integer.MAX_VALUE)
      suspensions.get(suspensions.size() - 1)[1] = at;
  }

  private void add(int at, String scheme, String status, int tier, boolean student) {
    standings.add(new Standing(at, "employee".equals(scheme) ? EMPLOYEE : RESIDENT, status(status), (byte) tier,
                               student));
  }

  /** The index of the standing in effect on `day`, or -1 before enrolment. */
  int standingAt(int day) {
    int found = -1;
    for (int i = 0; i < standings.size(); ++i)
      if (standings.get(i).from <= day) found = i;
    return found;
  }

  /** ORD-TYPE: the start of the scheme period of standing i (a change of scheme opens a fresh period). */
  int periodStart(int i) {
    int j = i;
    while (j > 0 && standings.get(j - 1).scheme == standings.get(i).scheme) --j;
    return standings.get(j).from;
  }

  /** P-ELIG: not suspended on `day` (suspended from the suspension date, eligible again from the resumption). */
  boolean eligible(int day) {
    for (int[] s : suspensions)
      if (s[0] <= day && day < s[1]) return false;
    return true;
  }

  /** Completed years on `day` (P-MINOR); a 29 February birthday counts on 1 March in common years. */
  int ageOn(int day) {
    if (birth == Integer.MIN_VALUE) return 99;
    LocalDate b = LocalDate.ofEpochDay(birth), d = LocalDate.ofEpochDay(day);
    int age = d.getYear() - b.getYear();
    if (d.getMonthValue() * 100 + d.getDayOfMonth() < b.getMonthValue() * 100 + b.getDayOfMonth()) --age;
    return age;
  }

  /** ORD-INC: the bonus in force on `day`, as known now (basis points). */
  int bonusAt(int day) {
    int bp = 0;
    for (int[] x : bonus)
      if (x[0] <= day) bp = x[1];
    return bp;
  }

  long[] year(int y) { return incentive.computeIfAbsent(y, k -> new long[3]); }

  /** ORD-INC: contribution_interrupted sets the bonus to 0 from its date unless it was enjoyed that year. */
  void interrupted(int at) {
    if (year(LocalDate.ofEpochDay(at).getYear())[2] == 0) bonus.add(new int[] {at, 0});
  }

  /** ORD-INC at the close of December of `y` (2022..2026): the bonus from 1 January y+1. */
  void closeYear(int y) {
    final int dec31 = (int) LocalDate.of(y, 12, 31).toEpochDay();
    final long[] f = year(y);
    int earn = 0;
    int i = standingAt(dec31);
    if (i >= 0 && eligible(dec31)) {
      Standing st = standings.get(i);
      boolean employee = st.scheme == EMPLOYEE;
      int tier = !employee && ageOn(dec31) < Policy.MINOR_AGE_BELOW ? 1 : st.tier;
      long limit = Policy.limit(employee, tier, y);
      earn = f[0] == 0 ? 100 : 2 * f[1] <= limit ? 50 : 0;
    }
    int next = Math.min(500, f[2] > 0 ? earn : bonusAt(dec31) + earn);
    bonus.add(new int[] {dec31 + 1, next});
    incentive.headMap(y).clear();  // older years are never read again
  }

  byte[] encode() {
    ByteBuffer b = ByteBuffer.allocate(16 + 8 * standings.size() + 8 * suspensions.size() + 8 * bonus.size()
                                       + 28 * incentive.size());
    b.putInt(birth).putInt(retiredOn).putShort((short) standings.size()).putShort((short) suspensions.size());
    b.putShort((short) bonus.size()).putShort((short) incentive.size());
    for (Standing s : standings)
      b.putInt(s.from).put(s.scheme).put(s.status).put(s.tier).put((byte) (s.student ? 1 : 0));
    for (int[] s : suspensions) b.putInt(s[0]).putInt(s[1]);
    for (int[] x : bonus) b.putInt(x[0]).putInt(x[1]);
    for (var e : incentive.entrySet()) b.putInt(e.getKey()).putLong(e.getValue()[0]).putLong(e.getValue()[1])
        .putLong(e.getValue()[2]);
    return b.array();
  }

  static Person decode(byte[] bytes) {
    ByteBuffer b = ByteBuffer.wrap(bytes);
    Person p = new Person();
    p.birth = b.getInt();
    p.retiredOn = b.getInt();
    int n = b.getShort(), m = b.getShort(), nb = b.getShort(), ny = b.getShort();
    for (int i = 0; i < n; ++i) p.standings.add(new Standing(b.getInt(), b.get(), b.get(), b.get(), b.get() != 0));
    for (int i = 0; i < m; ++i) p.suspensions.add(new int[] {b.getInt(), b.getInt()});
    for (int i = 0; i < nb; ++i) p.bonus.add(new int[] {b.getInt(), b.getInt()});
    for (int i = 0; i < ny; ++i) p.incentive.put(b.getInt(), new long[] {b.getLong(), b.getLong(), b.getLong()});
    return p;
  }
}
