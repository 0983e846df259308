// StateAccess over plain maps: one partition in memory. Used for point-in-time reconstruction (replay/) and by the
// rule tests.
#pragma once
#include <map>
#include <string>

#include "ledger/ledger.h"

namespace gongji {

class MemState final : public StateAccess {
 public:
  PersonState* person(const std::string& id) override {
    auto it = persons.find(id);
    return it == persons.end() ? nullptr : &it->second;
  }
  PersonState& create_person(const std::string& id) override {
    auto& p = persons[id];
    p = PersonState{};
    p.id = id;
    return p;
  }
  FacilityState* facility(const std::string& id) override {
    auto it = facilities.find(id);
    return it == facilities.end() ? nullptr : &it->second;
  }
  FacilityState& create_facility(const std::string& id) override {
    auto& f = facilities[id];
    f = FacilityState{};
    f.id = id;
    return f;
  }
  PartitionMeta& meta() override { return meta_; }
  void for_each_person(Visit which, const std::function<void(PersonState&)>& fn) override {
    for (auto& [_, p] : persons)
      if (which == Visit::everyone || has_monthly_work(p)) fn(p);
  }
  void touch_person(const std::string&) override {}
  void touch_facility(const std::string&) override {}
  void touch_meta() override {}

  std::map<std::string, PersonState> persons;
  std::map<std::string, FacilityState> facilities;
  PartitionMeta meta_;
};

}  // namespace gongji
