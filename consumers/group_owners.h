// Which member of the `gongji serve` group owns which partition of the events topic (issue 11 item 1), learnt as
// Kafka Streams' interactive queries learn it, from the group's own metadata: each member's consumer carries its
// query service's URL in its client.id (member_client_id), and the group's description (the admin API's
// DescribeConsumerGroups) gives every member's assignment. No other registry exists, so it cannot disagree with the
// group.
//
// Contract: owns() is what this member answers for, set by serve (set_owned): its assigned partitions once each has
// caught up to what the group had published (a partition still catching up after a rebalance is answered by no one:
// 503, retry). owner() answers from a description at most a second old; a partition described as this member's
// although it is not owned here (the group moved it, or it is catching up) describes the group again. A failed
// description answers "" for a second (503). Thread-safe; owns() never waits for a description.
#pragma once
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "service/service.h"

struct rd_kafka_s;

namespace gongji {

// The client.id of a member whose query service listens at `url`, and the URL back from it ("" when the client.id
// is not a member's: another client of the group).
std::string member_client_id(const std::string& url);
std::string member_url(const std::string& client_id);

class GroupOwners : public PartitionOwners {
 public:
  // `config`: librdkafka settings for the admin client (bootstrap.servers, security).
  GroupOwners(std::map<std::string, std::string> config, std::string group, std::string topic);
  ~GroupOwners() override;
  GroupOwners(const GroupOwners&) = delete;
  GroupOwners& operator=(const GroupOwners&) = delete;

  void set_self(std::string url);  // this member's URL
  void set_partitions(int n);
  void set_owned(std::set<int> owned);
  int partitions() const override;
  bool owns(int partition) const override;
  std::string owner(int partition) override;

 private:
  std::map<int, std::string> describe();  // describe_mu_ held, mu_ not
  std::map<std::string, std::string> config_;
  std::string group_, topic_, self_;
  mutable std::mutex mu_;   // the fields below
  std::mutex describe_mu_;  // one description at a time
  int partitions_ = 0;
  std::set<int> owned_;
  std::map<int, std::string> owners_;  // the last description
  std::chrono::steady_clock::time_point described_{};
  rd_kafka_s* admin_ = nullptr;
};

}  // namespace gongji
