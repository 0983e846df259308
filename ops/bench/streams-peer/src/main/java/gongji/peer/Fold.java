package gongji.peer;

import gongji.fb.Body;
import gongji.fb.Claim;
import gongji.fb.Event;
import gongji.fb.FacilityRegistered;
import gongji.fb.FacilityUpdated;
import gongji.fb.PersonEnrolled;
import gongji.fb.SchemeChanged;
import java.nio.ByteBuffer;
import java.time.LocalDate;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The fold of one task (one partition of gongji.events): reference data and people into their stores, each claim
 * into one settlement record (key: person, value: JSON) forwarded to the output topic. Stores (persistent RocksDB,
 * changelogged): "persons" (person id -> Person, with ORD-INC's bonus and yearly figures), "facilities" (facility
 * id -> Facility versions), "years" (person|year|scheme-period start -> deductible_paid, limit_used in fen; and a
 * mark per December closed), "claims" (person|claim -> what the claim consumed, for DUPLICATE_CLAIM and for a
 * reversal to restore it).
 */
final class Fold implements Processor<String, byte[], String, String> {
  static final AtomicLong RECORDS = new AtomicLong();
  static final AtomicLong CLAIMS = new AtomicLong();
  static final AtomicLong UNDECODABLE = new AtomicLong();
  static volatile long lastRecordNanos;

  private ProcessorContext<String, String> context;
  private KeyValueStore<String, byte[]> persons;
  private KeyValueStore<String, byte[]> facilities;
  private KeyValueStore<String, byte[]> years;
  private KeyValueStore<String, byte[]> claims;

  @Override
  public void init(ProcessorContext<String, String> context) {
    this.context = context;
    persons = context.getStateStore("persons");
    facilities = context.getStateStore("facilities");
    years = context.getStateStore("years");
    claims = context.getStateStore("claims");
  }

  @Override
  public void process(Record<String, byte[]> record) {
    RECORDS.incrementAndGet();
    lastRecordNanos = System.nanoTime();
    Event e;
    try {
      e = Event.getRootAsEvent(ByteBuffer.wrap(record.value()));
      apply(e);
    } catch (org.apache.kafka.common.KafkaException ex) {  // Streams' own (task migrated, producer fenced ...)
      throw ex;
    } catch (RuntimeException ex) {  // a record that does not decode: skipped, as gongji's fold dead-letters it
      UNDECODABLE.incrementAndGet();
    }
  }

  private void apply(Event e) {
    switch (e.bodyType()) {
      case Body.FacilityRegistered -> {
        FacilityRegistered f = (FacilityRegistered) e.body(new FacilityRegistered());
        facilities.put(f.facility(), Facility.append(facilities.get(f.facility()), f.at(),
                                                     f.hasLevel() ? f.level() : 0, f.hasTcm() && f.tcm()));
      }
      case Body.FacilityUpdated -> {
        FacilityUpdated f = (FacilityUpdated) e.body(new FacilityUpdated());
        facilities.put(f.facility(), Facility.append(facilities.get(f.facility()), f.at(),
                                                     f.hasLevel() ? f.level() : null, f.hasTcm() ? f.tcm() : null));
      }
      case Body.PersonEnrolled -> {
        PersonEnrolled p = (PersonEnrolled) e.body(new PersonEnrolled());
        persons.put(p.person(), Person.enrolled(p).encode());
      }
      case Body.SchemeChanged -> {
        SchemeChanged s = (SchemeChanged) e.body(new SchemeChanged());
        update(s.person(), p -> p.changed(s));
      }
      case Body.RetirementConfirmed -> {
        gongji.fb.RetirementConfirmed r = (gongji.fb.RetirementConfirmed) e.body(new gongji.fb.RetirementConfirmed());
        update(r.person(), p -> p.retired(r.at()));
      }
      case Body.EnrollmentSuspended -> {
        gongji.fb.EnrollmentSuspended s = (gongji.fb.EnrollmentSuspended) e.body(new gongji.fb.EnrollmentSuspended());
        update(s.person(), p -> p.suspended(s.at()));
      }
      case Body.EnrollmentResumed -> {
        gongji.fb.EnrollmentResumed s = (gongji.fb.EnrollmentResumed) e.body(new gongji.fb.EnrollmentResumed());
        update(s.person(), p -> p.resumed(s.at()));
      }
      case Body.Claim -> settle((Claim) e.body(new Claim()));
      case Body.ClaimReversed -> reverse((gongji.fb.ClaimReversed) e.body(new gongji.fb.ClaimReversed()));
      case Body.ContributionInterrupted -> {
        gongji.fb.ContributionInterrupted c =
            (gongji.fb.ContributionInterrupted) e.body(new gongji.fb.ContributionInterrupted());
        update(c.person(), p -> p.interrupted(c.at()));
      }
      case Body.PeriodClosed -> closed(((gongji.fb.PeriodClosed) e.body(new gongji.fb.PeriodClosed())).month());
      default -> { }  // not modelled by the peer (README.md)
    }
  }

  private void update(String person, java.util.function.Consumer<Person> change) {
    byte[] v = persons.get(person);
    if (v == null) return;  // gongji refuses it (UNKNOWN_PERSON); the peer ignores it
    Person p = Person.decode(v);
    change.accept(p);
    persons.put(person, p.encode());
  }

  private void settle(Claim c) {
    CLAIMS.incrementAndGet();
    String claimKey = c.person() + "|" + c.claim();
    Ordinary.Result r;
    if (claims.get(claimKey) != null) {  // DUPLICATE_CLAIM: consumes nothing, not recorded again
      r = Ordinary.refused(c, "rejected", "DUPLICATE_CLAIM");
    } else {
      r = judge(c);
      claims.put(claimKey, consumed(r, LocalDate.ofEpochDay(c.date()).getYear()));
    }
    context.forward(new Record<>(c.person(), json(c, r), context.currentSystemTimeMs()));
  }

  /**
   * What a claim consumed: deductible, limit counted (self-first share included), fund, eligible cost (longs at 0, 8,
   * 16, 24), reversed flag (32), enjoyed-the-bonus flag (33), service year (34), then the "years" key.
   */
  private static byte[] consumed(Ordinary.Result r, int year) {
    byte[] key = r.yearKey.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    return ByteBuffer.allocate(38 + key.length).putLong(r.deductible).putLong(r.limitCounted).putLong(r.fund)
        .putLong(r.eligible).put((byte) 0).put((byte) (r.enjoyed ? 1 : 0)).putInt(year).put(key).array();
  }

  /** ORD-INC: closing December of 2022..2026 assesses every person of this partition (once per month closed). */
  private void closed(int month) {
    final int y = month / 12;
    if (month % 12 != 11 || y < 2022 || y > 2026) return;
    final String mark = "\u0000closed|" + month;
    if (years.get(mark) != null) return;  // a month already closed: no-op
    years.put(mark, new byte[0]);
    java.util.List<org.apache.kafka.streams.KeyValue<String, byte[]>> out = new java.util.ArrayList<>();
    try (var it = persons.all()) {
      while (it.hasNext()) {
        var kv = it.next();
        Person p = Person.decode(kv.value);
        p.closeYear(y);
        out.add(org.apache.kafka.streams.KeyValue.pair(kv.key, p.encode()));
      }
    }
    persons.putAll(out);
  }

  /** A reversal restores what the claim consumed to its year; a second reversal, or of an unknown claim: ignored. */
  private void reverse(gongji.fb.ClaimReversed e) {
    String claimKey = e.person() + "|" + e.claim();
    byte[] v = claims.get(claimKey);
    if (v == null || v[32] != 0) return;
    ByteBuffer b = ByteBuffer.wrap(v);
    long ded = b.getLong(), limit = b.getLong(), fund = b.getLong(), eligible = b.getLong();
    boolean enjoyed = v[33] != 0;
    int year = b.getInt(34);
    String yearKey = new String(v, 38, v.length - 38, java.nio.charset.StandardCharsets.UTF_8);
    if (!yearKey.isEmpty()) {
      ByteBuffer y = ByteBuffer.wrap(years.get(yearKey));
      long paid = y.getLong(), used = y.getLong();
      years.put(yearKey, ByteBuffer.allocate(16).putLong(paid - ded).putLong(used - limit).array());
      update(e.person(), p -> {  // ORD-INC's figures are net of reversals
        long[] f = p.year(year);
        f[0] -= fund;
        f[1] -= eligible;
        f[2] -= enjoyed ? 1 : 0;
      });
    }
    v[32] = 1;
    claims.put(claimKey, v);
    String out = "{\"kind\":\"reversal\",\"claim\":\"" + e.claim() + "\",\"person\":\"" + e.person()
                 + "\",\"fund\":\"" + money(-fund) + "\"}";
    context.forward(new Record<>(e.person(), out, context.currentSystemTimeMs()));
  }

  /** Claim checks in POLICY.md §6 order, as far as the peer models them; then the amounts. */
  private Ordinary.Result judge(Claim c) {
    byte[] pv = persons.get(c.person());
    if (pv == null) return Ordinary.refused(c, "rejected", "UNKNOWN_PERSON");
    int[] fac = null;
    if (c.away() == null) {
      fac = Facility.at(facilities.get(c.facility()), c.date());
      if (fac == null) return Ordinary.refused(c, "rejected", "UNKNOWN_FACILITY");
    }
    if (c.benefit().equals("chronic")) return Ordinary.refused(c, "not_modelled", "CHRONIC");
    if (c.date() < Policy.ORDINARY_FROM || c.date() > Policy.WINDOW_TO)
      return Ordinary.refused(c, "rejected", "POLICY_NOT_IN_FORCE");
    Person p = Person.decode(pv);
    int i = p.standingAt(c.date());
    if (i < 0 || !p.eligible(c.date())) return Ordinary.refused(c, "rejected", "NOT_ELIGIBLE");
    Person.Standing st = p.standings.get(i);
    if (st.scheme() == Person.RESIDENT && st.student())
      return Ordinary.refused(c, "referred", "STUDENT_EXISTING_POLICY");
    if (c.benefit().equals("emergency") && !"treated".equals(c.outcome()))
      return Ordinary.refused(c, "referred", "died".equals(c.outcome()) ? "EMERGENCY_DEATH" : "EMERGENCY_ADMITTED");
    String key = c.person() + "|" + LocalDate.ofEpochDay(c.date()).getYear() + "|" + p.periodStart(i);
    Ordinary.Year y = new Ordinary.Year();
    byte[] yv = years.get(key);
    if (yv != null) {
      ByteBuffer b = ByteBuffer.wrap(yv);
      y.deductiblePaid = b.getLong();
      y.limitUsed = b.getLong();
    }
    Ordinary.Result r = new Ordinary.Result();
    int level = c.away() != null ? Math.min(3, Math.max(1, c.away().level())) : fac[0];
    Ordinary.amounts(c, p, st, level, c.away() == null && fac[1] != 0, y, r);
    r.yearKey = key;
    r.enjoyed = r.bonus > 0 && r.fund > 0;
    long[] f = p.year(LocalDate.ofEpochDay(c.date()).getYear());  // ORD-INC's figures of the service year
    f[0] += r.fund;
    f[1] += r.eligible;
    f[2] += r.enjoyed ? 1 : 0;
    persons.put(c.person(), p.encode());
    years.put(key, ByteBuffer.allocate(16).putLong(y.deductiblePaid).putLong(y.limitUsed).array());
    return r;
  }

  static String money(long fen) {
    long a = Math.abs(fen);
    return (fen < 0 ? "-" : "") + a / 100 + "." + (a % 100 < 10 ? "0" : "") + a % 100;
  }

  private static String json(Claim c, Ordinary.Result r) {
    StringBuilder s = new StringBuilder(320);
    s.append("{\"kind\":\"settlement\",\"claim\":\"").append(c.claim()).append("\",\"person\":\"").append(c.person())
        .append("\",\"date\":\"").append(LocalDate.ofEpochDay(c.date())).append("\",\"benefit\":\"")
        .append(c.benefit()).append("\",\"status\":\"").append(r.status).append("\",\"reasons\":[")
        .append(r.reason.isEmpty() ? "" : "\"" + r.reason + "\"").append("],\"total\":\"").append(money(r.total))
        .append("\",\"eligible\":\"").append(money(r.eligible)).append("\",\"deductible\":\"")
        .append(money(r.deductible)).append("\",\"self_first\":\"").append(money(r.selfFirst))
        .append("\",\"covered\":\"").append(money(r.covered)).append("\",\"ratio\":\"0.")
        .append(String.valueOf(10000 + r.ratio).substring(1)).append("\",\"fund\":\"").append(money(r.fund))
        .append("\",\"patient\":\"").append(money(r.total - r.fund)).append("\"}");
    return s.toString();
  }
}
