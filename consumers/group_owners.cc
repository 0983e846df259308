#include "consumers/group_owners.h"

#include <librdkafka/rdkafka.h>

#include <memory>
#include <optional>
#include <stdexcept>

#include "oplog/oplog.h"

namespace gongji {

namespace {
constexpr const char* kPrefix = "gongji-serve@";
constexpr std::chrono::seconds kFresh{1};
constexpr int kTimeoutMs = 5000;
}  // namespace

std::string member_client_id(const std::string& url) { return kPrefix + url; }

std::string member_url(const std::string& client_id) {
  const std::string prefix = kPrefix;
  return client_id.starts_with(prefix) ? client_id.substr(prefix.size()) : "";
}

GroupOwners::GroupOwners(std::map<std::string, std::string> config, std::string group, std::string topic)
    : config_(std::move(config)), group_(std::move(group)), topic_(std::move(topic)) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  config_["client.id"] = "gongji-serve-admin";
  for (const auto& [k, v] : config_)
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("kafka config " + k + ": " + err);
    }
  admin_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);  // takes conf
  if (!admin_) throw std::runtime_error(std::string("kafka admin client: ") + err);
}

GroupOwners::~GroupOwners() {
  if (admin_) rd_kafka_destroy(admin_);
}

void GroupOwners::set_self(std::string url) {
  std::lock_guard<std::mutex> lock(mu_);
  self_ = std::move(url);
}

void GroupOwners::set_partitions(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  partitions_ = n;
}

void GroupOwners::set_owned(std::set<int> owned) {
  std::lock_guard<std::mutex> lock(mu_);
  owned_ = std::move(owned);
  described_ = {};  // the group has moved: the next owner() describes it again
}

int GroupOwners::partitions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return partitions_;
}

bool GroupOwners::owns(int partition) const {
  std::lock_guard<std::mutex> lock(mu_);
  return owned_.count(partition) > 0;
}

// The description runs under describe_mu_ only (one at a time; those waiting then use its answer), never under mu_,
// so that owns(), /readyz and the rebalance callback never wait for the group coordinator.
std::string GroupOwners::owner(int partition) {
  auto known = [&]() -> std::optional<std::string> {
    std::lock_guard<std::mutex> lock(mu_);
    if (owned_.count(partition)) return self_;
    const bool fresh = described_ != std::chrono::steady_clock::time_point{} &&
                       std::chrono::steady_clock::now() - described_ < kFresh;
    if (!fresh) return std::nullopt;  // describe again
    auto it = owners_.find(partition);
    return it == owners_.end() || it->second == self_ ? "" : it->second;  // "": nobody answers for it now
  };
  if (auto k = known()) return *k;
  std::lock_guard<std::mutex> one(describe_mu_);
  if (auto k = known()) return *k;  // described while this one waited
  std::map<int, std::string> owners = describe();
  std::lock_guard<std::mutex> lock(mu_);
  owners_ = std::move(owners);  // a failed description keeps nothing, for a second
  described_ = std::chrono::steady_clock::now();
  auto it = owners_.find(partition);
  return it == owners_.end() || it->second == self_ ? "" : it->second;
}

// One DescribeConsumerGroups of the group: every member's URL (from its client.id) for each partition of the topic
// it is assigned. A failure answers nothing (owner() answers "") and says why (oplog).
std::map<int, std::string> GroupOwners::describe() {
  std::map<int, std::string> owners;
  using Queue = std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)>;
  using Options = std::unique_ptr<rd_kafka_AdminOptions_t, decltype(&rd_kafka_AdminOptions_destroy)>;
  using Event = std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)>;
  Queue queue(rd_kafka_queue_new(admin_), rd_kafka_queue_destroy);
  Options options(rd_kafka_AdminOptions_new(admin_, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS),
                  rd_kafka_AdminOptions_destroy);
  char err[512];
  rd_kafka_AdminOptions_set_request_timeout(options.get(), kTimeoutMs, err, sizeof err);
  const char* groups[] = {group_.c_str()};
  rd_kafka_DescribeConsumerGroups(admin_, groups, 1, options.get(), queue.get());
  Event ev(rd_kafka_queue_poll(queue.get(), kTimeoutMs + 1000), rd_kafka_event_destroy);
  std::string failure = !ev ? "timed out" : rd_kafka_event_error(ev.get()) ? rd_kafka_event_error_string(ev.get()) : "";
  const rd_kafka_DescribeConsumerGroups_result_t* result =
      failure.empty() ? rd_kafka_event_DescribeConsumerGroups_result(ev.get()) : nullptr;
  size_t n = 0;
  const rd_kafka_ConsumerGroupDescription_t** descriptions =
      result ? rd_kafka_DescribeConsumerGroups_result_groups(result, &n) : nullptr;
  if (failure.empty() && n == 1 && rd_kafka_ConsumerGroupDescription_error(descriptions[0]))
    failure = rd_kafka_error_string(rd_kafka_ConsumerGroupDescription_error(descriptions[0]));
  if (!failure.empty() || n != 1) {
    oplog::warn("cannot describe group " + group_ + ": " + (failure.empty() ? "no answer" : failure) +
                " (requests for other members' partitions get 503 meanwhile)");
    return owners;
  }
  for (size_t m = 0; m < rd_kafka_ConsumerGroupDescription_member_count(descriptions[0]); ++m) {
    const rd_kafka_MemberDescription_t* member = rd_kafka_ConsumerGroupDescription_member(descriptions[0], m);
    const std::string url = member_url(rd_kafka_MemberDescription_client_id(member));
    if (url.empty()) continue;
    const rd_kafka_topic_partition_list_t* parts =
        rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(member));
    for (int i = 0; parts && i < parts->cnt; ++i)
      if (topic_ == parts->elems[i].topic) owners[parts->elems[i].partition] = url;
  }
  return owners;
}

}  // namespace gongji
