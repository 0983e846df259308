#include "replay/whatif.h"

#include <algorithm>
#include <array>
#include <map>

#include "ledger/settlement.h"

namespace gongji {

namespace {

// The dimensions of the totals as codes, spelled once per group at the end rather than once per claim.
struct Dims {
  int scheme = -1;   // a Scheme, or -1 when the settlement names none: "none"
  int benefit = 0;   // a Benefit
  int level = 0;     // the settlement's level (F-LEVEL), 0 when it names none (its record has no level): "none"
  Month month = 0;   // the claim's date's month
};
Dims dims_of(const Settlement& s) {
  return {s.scheme ? static_cast<int>(*s.scheme) : -1, static_cast<int>(s.benefit), s.level, month_of(s.date)};
}
// What a settlement paid: its fund when settled, else nothing.
Money paid(const Settlement& s) { return s.status == ClaimStatus::settled ? s.fund : 0; }

// One replayed settlement of a partition: its record's log offset, the fund net of reversals, its dimensions.
struct Replayed {
  uint64_t offset = 0;
  Money fund = 0;
  Dims dims;
};

// The settled settlement a reversal undoes (Store::settled_settlement), in `partition`, the person's. The ledger puts
// a reversal only after its claim's settled settlement (ledger.cc), in the same partition: one the store does not
// hold there is damage (StoreError naming the store, the reversal and the claim), never a reversal left out of the
// totals (the recorded fund would print too high, exit 0).
SettlementRef reversed(const Store& s, int partition, const Reversal& v) {
  std::optional<SettlementRef> ref = s.settled_settlement(v.person, v.claim);
  if (!ref || ref->partition != partition)
    throw StoreError("the store at " + s.dir() + " holds the reversal " + v.event + " of claim " + v.claim +
                     " of person " + v.person + " in partition " + std::to_string(partition) + " but no settled " +
                     "settlement of that claim there: the store is damaged");
  return *ref;
}

// The row of `rows` (sorted by offset) at `offset`; nullptr when there is none.
Replayed* replayed_at(std::vector<Replayed>& rows, uint64_t offset) {
  auto it = std::lower_bound(rows.begin(), rows.end(), offset,
                             [](const Replayed& r, uint64_t o) { return r.offset < o; });
  return it != rows.end() && it->offset == offset ? &*it : nullptr;
}

// The replayed store's settlements of one partition in log order, each net of the reversals that follow it, up to
// `until` (the live store's position there: what the replay folded beyond it, the live store has not seen); and
// its dead letters' reasons by offset.
struct ReplayedPartition {
  std::vector<Replayed> rows;
  std::map<uint64_t, std::string> dead;
};
ReplayedPartition replayed_of(const Store& replay, int partition, uint64_t until) {
  ReplayedPartition out;
  replay.outputs_of_as_data(partition, 0, [&](uint64_t offset, const Settlement* st, const Record* r) {
    if (offset >= until) return false;
    if (st) {
      out.rows.push_back({offset, paid(*st), dims_of(*st)});
    } else if (const auto* v = std::get_if<Reversal>(r)) {
      if (Replayed* row = replayed_at(out.rows, reversed(replay, partition, *v).offset)) row->fund += v->fund;
    } else if (const auto* d = std::get_if<DeadLetter>(r)) {
      out.dead[offset] = d->reason;
    }
    return true;
  });
  return out;
}

// Totals by dimension, recorded and what-if, keyed by codes until spelled_into() turns them into
// WhatIfReport::totals.
struct Totals {
  std::array<std::map<int, std::pair<Money, Money>>, 4> by;  // scheme, level, benefit, month
  void add(const Dims& d, Money recorded, Money what_if) {
    for (int dim = 0; dim < 4; ++dim) {
      const int key = dim == 0 ? d.scheme : dim == 1 ? d.level : dim == 2 ? d.benefit : d.month;
      auto& [r, w] = by[dim][key];
      r += recorded, w += what_if;
    }
  }
  void spelled_into(WhatIfReport& rep) const {
    static constexpr std::array<const char*, 4> kDims = {"scheme", "level", "benefit", "month"};
    for (int dim = 0; dim < 4; ++dim)
      for (const auto& [key, v] : by[dim]) {
        const std::string name = dim == 0 ? (key < 0 ? "none" : spelled(static_cast<Scheme>(key)))
                                 : dim == 1 ? (key == 0 ? "none" : std::to_string(key))
                                 : dim == 2 ? spelled(static_cast<Benefit>(key))
                                            : format_month(key);
        auto& [r, w] = rep.totals[kDims[dim]][name];
        r += v.first, w += v.second;
      }
  }
};

// Compares one partition: the live store's settlements in log order against the replayed ones (`rows`), each
// live one net of the live reversals that follow it. A live reversal changes its claim's recorded payment after the
// claim was compared, so the claims that differ are kept by offset until the partition ends.
class PartitionComparison {
 public:
  PartitionComparison(const Store& live, int partition, ReplayedPartition replayed, WhatIfReport& rep, Totals& totals)
      : live_(live), partition_(partition), rows_(std::move(replayed.rows)), dead_(std::move(replayed.dead)),
        rep_(rep), totals_(totals) {}

  void run() {
    live_.outputs_of_as_data(partition_, 0, [&](uint64_t offset, const Settlement* st, const Record* r) {
      if (st) settled(offset, *st);
      else if (const auto* v = std::get_if<Reversal>(r)) reversal(*v);
      else if (const auto* dead = std::get_if<DeadLetter>(r)) dead_letter(offset, *dead);
      return true;
    });
    for (auto& [offset, c] : differing_)  // in log order
      if (c.recorded != c.what_if) rep_.claims.push_back(std::move(c));
  }

 private:
  void settled(uint64_t offset, const Settlement& st) {
    const Money a = paid(st);
    while (next_ < rows_.size() && rows_[next_].offset < offset) ++next_;
    const Replayed* row = next_ < rows_.size() && rows_[next_].offset == offset ? &rows_[next_] : nullptr;
    const Money b = row ? row->fund : 0;
    if (auto dead = dead_.find(offset); !row && dead != dead_.end())  // not settled at all under the other policy
      rep_.not_settled.push_back({st.claim, st.person, st.event, partition_, offset, dead->second});
    ++rep_.claims_compared;
    rep_.recorded_total += a, rep_.what_if_total += b;
    const Dims d = dims_of(st);
    totals_.add(d, a, 0);
    totals_.add(row ? row->dims : d, 0, b);
    if (a != b) differing_[offset] = {st.claim, st.person, st.event, partition_, offset, a, b};
  }
  // A live dead letter the replay settles (the other policy's lists take a code the store's refused): what it pays
  // there counts on the what-if side, and the claim is named (it was left out: the difference's sign could turn).
  void dead_letter(uint64_t offset, const DeadLetter& dead) {
    while (next_ < rows_.size() && rows_[next_].offset < offset) ++next_;
    if (next_ >= rows_.size() || rows_[next_].offset != offset) return;
    const Replayed& row = rows_[next_];
    rep_.what_if_total += row.fund;
    totals_.add(row.dims, 0, row.fund);
    ClaimDifference c{dead.claim.value_or(""), dead.person.value_or(""), dead.event.value_or(""), partition_, offset, 0,
                      row.fund};
    rep_.settled_only_under_other.push_back(c);
    if (row.fund != 0) differing_[offset] = std::move(c);
  }
  void reversal(const Reversal& v) {
    const SettlementRef ref = reversed(live_, partition_, v);
    const Settlement& st = *ref.record.settlement;
    rep_.recorded_total += v.fund;
    totals_.add(dims_of(st), v.fund, 0);
    auto it = differing_.find(ref.offset);
    if (it == differing_.end())  // compared equal and not reversed since: the replay paid what the settlement did
      it = differing_
               .emplace(ref.offset,
                        ClaimDifference{st.claim, st.person, st.event, partition_, ref.offset, paid(st), paid(st)})
               .first;
    it->second.recorded += v.fund;
  }

  const Store& live_;
  int partition_;
  std::vector<Replayed> rows_;
  std::map<uint64_t, std::string> dead_;  // the replay's dead letters by offset, with their reasons
  size_t next_ = 0;  // rows_ before it are behind the live settlement compared
  WhatIfReport& rep_;
  Totals& totals_;
  // By offset: the claims that differed when compared, and those reversed since (run() leaves out the equal ones).
  std::map<uint64_t, ClaimDifference> differing_;
};

}  // namespace

WhatIfReport what_if(const Store& live, EventLog& log, const Policy& other, const std::string& scratch) {
  live.check_log(log);  // the records are paired by offset: the log must be the one the live store was folded from
  Store replay(scratch);
  replay.fold(log, other);
  WhatIfReport rep;
  Totals totals;
  for (int p = 0; p < live.partitions(); ++p)
    PartitionComparison(live, p, replayed_of(replay, p, live.folded_offset(p)), rep, totals).run();
  totals.spelled_into(rep);
  return rep;
}

}  // namespace gongji
