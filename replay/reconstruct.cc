#include "replay/reconstruct.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>
#include <mutex>

#include "events/date.h"
#include "events/fb_codec.h"
#include "events/partition.h"

namespace gongji {

bool KnownAt::admits(int partition, uint64_t offset, int64_t ingested_ms) const {
  if (ms && ingested_ms > *ms) return false;
  auto it = offsets.find(partition);
  return it == offsets.end() || offset < it->second;
}

namespace {
// A whole decimal number, or a usage message naming --known-at (never a bare "stoll"; issue 8 item 8).
template <typename T>
T known_at_number(const std::string& s, const char* what, const std::string& text) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    throw std::runtime_error(std::string("--known-at: ") + what + " '" + s + "' is not a whole number in '" + text +
                             "'");
  return v;
}
}  // namespace

namespace {
// "YYYY-MM-DDTHH:MM:SS[.f{1,3}](Z|+HH:MM|-HH:MM)" as the last millisecond it names (the end of the second without a
// fraction; of the tenth or hundredth with one or two digits); nullopt when `t` is not of that form or not a real
// time.
std::optional<int64_t> parse_instant(const std::string& t) {
  auto digits = [&](size_t at, size_t n, int& v) {
    if (at + n > t.size()) return false;
    v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return false;
      v = v * 10 + (t[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, s;
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' ||
      !digits(0, 4, y) || !digits(5, 2, mo) || !digits(8, 2, d) || !digits(11, 2, h) || !digits(14, 2, mi) ||
      !digits(17, 2, s))
    return std::nullopt;
  size_t at = 19;
  int64_t frac_ms = 0, last_ms = 999;  // the millisecond the fraction starts at, and the last one it covers
  if (t[at] == '.') {
    size_t n = 0;
    int f = 0;
    while (n < 3 && digits(at + 1 + n, 1, f)) frac_ms = frac_ms * 10 + f, ++n;
    if (n == 0) return std::nullopt;
    for (size_t i = n; i < 3; ++i) frac_ms *= 10;
    last_ms = frac_ms + (n == 1 ? 99 : n == 2 ? 9 : 0);
    at += 1 + n;
  }
  int64_t offset_min = 0;
  if (t.substr(at) != "Z") {
    int oh, om;
    // A '+' sent unencoded in a URL's query arrives as a space (form encoding): taken as the '+' it was.
    if (t.size() != at + 6 || (t[at] != '+' && t[at] != '-' && t[at] != ' ') || t[at + 3] != ':' ||
        !digits(at + 1, 2, oh) ||
        !digits(at + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset_min = (t[at] == '-' ? -1 : 1) * (oh * 60 + om);
  }
  std::tm tm{};
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = s;
  const std::time_t secs = timegm(&tm);  // normalises an impossible date: compare back
  if (h > 23 || mi > 59 || s > 59 || tm.tm_year != y - 1900 || tm.tm_mon != mo - 1 || tm.tm_mday != d)
    return std::nullopt;
  return static_cast<int64_t>(secs) * 1000 + last_ms - offset_min * 60000;
}
}  // namespace

KnownAt parse_known_at(const std::string& text) {
  KnownAt k;
  const bool instant_like = text.size() >= 19 && text[4] == '-' && text[7] == '-';
  if (text.find(':') != std::string::npos && !instant_like) {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t comma = text.find(',', pos);
      std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      size_t colon = item.find(':');
      if (colon == std::string::npos) throw std::runtime_error("--known-at: expected P:OFFSET, got '" + item + "'");
      const int p = known_at_number<int>(item.substr(0, colon), "partition", text);
      if (!k.offsets.emplace(p, known_at_number<uint64_t>(item.substr(colon + 1), "offset", text)).second)
        throw std::runtime_error("--known-at: partition " + std::to_string(p) + " is given twice in '" + text + "'");
      if (comma == std::string::npos) break;
      pos = comma + 1;
      if (pos == text.size()) throw std::runtime_error("--known-at: nothing follows the last ',' in '" + text + "'");
    }
    return k;
  }
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    k.ms = known_at_number<int64_t>(text, "milliseconds", text);
    return k;
  }
  k.ms = parse_instant(text);
  if (!k.ms)
    throw std::runtime_error("--known-at: expected a time YYYY-MM-DDTHH:MM:SS[.mmm] with Z or an offset (+08:00), "
                             "ms since the epoch, or P:OFFSET,...; got '" + text + "'");
  return k;
}

namespace {
// The record at `offset`, decoded under `policy`'s code lists (the fold's decoding: projections/store.cc).
ReplayCache::Decoded decode_at(EventLog& log, int partition, uint64_t offset, uint64_t locator, const Policy& policy) {
  ReplayCache::Decoded d;
  log.read_at(partition, offset, locator, [&](const LogRecord& r) {
    try {
      d.event.emplace(decode_event(r.payload, policy.codes()));
    } catch (const EventError& err) {
      d.refused = err.what();
    }
  });
  return d;
}
}  // namespace

std::shared_ptr<const ReplayCache::Decoded> ReplayCache::shared_event(EventLog& log, int partition, uint64_t offset,
                                                                      uint64_t locator, const Policy& policy) {
  auto key = std::make_tuple(policy.version(), partition, offset);
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (auto it = events_.find(key); it != events_.end()) return it->second;
  }
  auto d = std::make_shared<const Decoded>(decode_at(log, partition, offset, locator, policy));
  std::unique_lock<std::shared_mutex> lock(mu_);
  return events_.emplace(std::move(key), std::move(d)).first->second;
}

std::shared_ptr<const Policy> ReplayCache::stored_policy(const Store& store, const std::string& version) {
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (auto it = policies_.find(version); it != policies_.end()) return it->second;
  }
  std::optional<std::string> text = store.policy_text(version);
  if (!text) throw StoreError("the store does not hold policy version " + version);
  // Issue 9 item 8: a text an older gongji folded with may lack parameters added since (PolicyText::stored).
  auto p = std::make_shared<const Policy>(load_policy_text(*text, "policy " + version, PolicyText::stored));
  std::unique_lock<std::shared_mutex> lock(mu_);
  return policies_.emplace(version, std::move(p)).first->second;
}

void refuse_unfolded(const Store& store, EventLog& log, int partition, const KnownAt& known) {
  const uint64_t folded = store.folded_offset(partition);
  const auto bound = known.offsets.find(partition);
  if (bound != known.offsets.end() && bound->second <= folded) return;  // no record past the store is admitted
  if (log.end_offset(partition) <= folded) return;
  std::optional<std::pair<uint64_t, int64_t>> admitted;  // offset, ingestion time
  log.read(partition, folded, [&](const LogRecord& r) {
    if (known.admits(partition, r.offset, r.ingested_ms)) admitted.emplace(r.offset, r.ingested_ms);
    return !admitted;
  });
  if (!admitted) return;
  throw NotFoldedError("partition " + std::to_string(partition) + " of the log holds records ingested by then that "
                       "the store has not folded (it holds offsets before " + std::to_string(folded) + "; offset " +
                       std::to_string(admitted->first) + " was ingested " + format_instant(admitted->second) +
                       "): run `gongji fold` first (or `gongji replay --known-at`, which folds from the log)");
}

Reconstruction reconstruct_person(const Store& store, EventLog& log, const std::string& person, const Policy& policy,
                                  const KnownAt& known, std::optional<uint64_t> before, ReplayCache* cache) {
  const int n = store.partitions();
  if (n == 0) throw StoreError("the store has not folded anything yet");
  Reconstruction rec;
  rec.partition = partition_of(person, n);
  struct Entry {
    uint64_t offset, locator;
    int64_t ms;
    bool shared;  // from the g/ index
  };
  std::vector<Entry> entries;
  auto collect = [&](const std::string& prefix, bool shared) {
    store.scan(prefix, [&](const std::string& key, std::string_view v) {
      const IndexEntry at = decode_index_entry(v, key);  // a damaged one: StoreError naming it
      uint64_t off = std::stoull(key.substr(key.size() - 16), nullptr, 16);
      entries.push_back({off, at.locator, at.ingested_ms, shared});
    });
  };
  const std::string part = hex4(rec.partition);
  collect("i/" + key_part(person) + "/" + part + "/", false);
  if (entries.empty()) throw NotFoundError("no person " + person);
  collect("g/" + part + "/", true);
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.offset < b.offset; });
  FoldContext ctx{&policy, rec.partition, n, true};
  for (const Entry& en : entries) {
    if (before && en.offset >= *before) break;
    if (!known.admits(rec.partition, en.offset, en.ms)) continue;
    // Decoded under the policy's code lists, as its fold would (projections/store.cc): a record they refuse is a
    // dead letter there, so here it is skipped and named.
    std::shared_ptr<const ReplayCache::Decoded> cached;
    ReplayCache::Decoded own;
    if (en.shared && cache) cached = cache->shared_event(log, rec.partition, en.offset, en.locator, policy);
    else own = decode_at(log, rec.partition, en.offset, en.locator, policy);
    const ReplayCache::Decoded& d = cached ? *cached : own;
    if (!d.event) {
      rec.dead_letters[en.offset] = d.refused;
      continue;
    }
    apply_event(*d.event, rec.state, ctx);
    rec.offsets.push_back(en.offset);
  }
  return rec;
}

std::optional<Policy> recorded_policy(const Store& store) {
  std::vector<std::string> texts;
  store.scan("v/", [&](const std::string&, std::string_view v) { texts.emplace_back(v); });
  if (texts.size() != 1) return std::nullopt;
  // Issue 9 item 8: the text may be one an older gongji folded with, lacking parameters added since.
  return load_policy_text(texts[0], "the store's recorded policy", PolicyText::stored);
}

}  // namespace gongji
