// Generic over the schema: each body table's fields are read off its mini-reflection type table (field i at
// vtable offset 4 + 2i), converted to and from the event's JSON form by name, and validated by event_from_json.
// One conversion per field kind keeps schema and codec from drifting apart.
#include "events/fb_codec.h"

#include <flatbuffers/minireflect.h>

#include <set>

#include "events/events_generated.h"

namespace gongji {

using nlohmann::json;

namespace {

const std::set<std::string, std::less<>> kDateFields = {"at", "date", "birth_date", "retired_on", "applied",
                                                         "course_start"};

const flatbuffers::TypeTable* body_table(EventType t) {
  return fb::BodyTypeTable()->type_refs[static_cast<size_t>(t)]();
}

}  // namespace

std::string encode_event(const Event& e) {
  json j = event_to_json(e);
  flatbuffers::FlatBufferBuilder fbb(256);
  fbb.ForceDefaults(true);
  const flatbuffers::TypeTable* tt = body_table(e.type);

  // Offsets (strings, vectors, sub-tables) are built before the table that refers to them.
  std::vector<std::pair<flatbuffers::voffset_t, flatbuffers::uoffset_t>> offsets;
  for (size_t i = 0; i < tt->num_elems; ++i) {
    std::string name = tt->names[i];
    auto vo = flatbuffers::FieldIndexToOffset(static_cast<flatbuffers::voffset_t>(i));
    if (name == "items") {
      std::vector<flatbuffers::Offset<fb::Item>> items;
      for (const Item& it : e.items) {
        auto cat = fbb.CreateString(it.category);
        auto ther = it.therapy ? fbb.CreateString(*it.therapy) : flatbuffers::Offset<flatbuffers::String>();
        fb::ItemBuilder ib(fbb);
        ib.add_category(cat);
        ib.add_amount(it.amount);
        if (it.eligible) ib.add_eligible(*it.eligible);
        if (it.therapy) ib.add_therapy(ther);
        items.push_back(ib.Finish());
      }
      offsets.emplace_back(vo, fbb.CreateVector(items).o);
    } else if (name == "away") {
      if (e.away) offsets.emplace_back(vo, fb::CreateAway(fbb, fbb.CreateString(e.away->mode), e.away->level).o);
    } else if (tt->type_codes[i].base_type == flatbuffers::ET_STRING && j.contains(name)) {
      offsets.emplace_back(vo, fbb.CreateString(j[name].get<std::string>()).o);
    }
  }
  auto id = fbb.CreateString(e.id);
  auto start = fbb.StartTable();
  for (size_t i = 0; i < tt->num_elems; ++i) {
    std::string name = tt->names[i];
    if (!j.contains(name)) continue;
    auto vo = flatbuffers::FieldIndexToOffset(static_cast<flatbuffers::voffset_t>(i));
    const json& v = j[name];
    switch (tt->type_codes[i].base_type) {
      case flatbuffers::ET_BOOL: fbb.AddElement<uint8_t>(vo, v.get<bool>() ? 1 : 0, 0); break;
      case flatbuffers::ET_INT: {
        int32_t x = name == "month"                ? *parse_month(v.get<std::string>())
                    : kDateFields.count(name) ? *parse_date(v.get<std::string>())
                                              : v.get<int32_t>();
        fbb.AddElement<int32_t>(vo, x, 0);
        break;
      }
      case flatbuffers::ET_LONG: fbb.AddElement<int64_t>(vo, *parse_yuan(v.get<std::string>()), 0); break;
      default: break;
    }
  }
  for (auto& [vo, off] : offsets) fbb.AddOffset(vo, flatbuffers::Offset<void>(off));
  auto body = fbb.EndTable(start);
  auto root = fb::CreateEvent(fbb, id, static_cast<fb::Body>(static_cast<int>(e.type) + 1),
                              flatbuffers::Offset<void>(body));
  fb::FinishEventBuffer(fbb, root);
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

Event decode_event(std::string_view bytes) {
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (!fb::EventBufferHasIdentifier(bytes.data()) || !fb::VerifyEventBuffer(verifier))
    throw EventError("", "not a valid FlatBuffers event record");
  const fb::Event* ev = fb::GetEvent(bytes.data());
  int tag = static_cast<int>(ev->body_type());
  if (tag < 1 || tag > kEventTypeCount || !ev->body()) throw EventError("type", "record has no known event body");
  auto type = static_cast<EventType>(tag - 1);
  const auto* table = static_cast<const flatbuffers::Table*>(ev->body());
  const flatbuffers::TypeTable* tt = body_table(type);
  json j = json::object();
  j["type"] = type_name(type);
  j["id"] = ev->id()->str();
  for (size_t i = 0; i < tt->num_elems; ++i) {
    std::string name = tt->names[i];
    auto vo = flatbuffers::FieldIndexToOffset(static_cast<flatbuffers::voffset_t>(i));
    if (!table->CheckField(vo)) continue;
    switch (tt->type_codes[i].base_type) {
      case flatbuffers::ET_BOOL: j[name] = table->GetField<uint8_t>(vo, 0) != 0; break;
      case flatbuffers::ET_INT: {
        int32_t x = table->GetField<int32_t>(vo, 0);
        if (name == "month") j[name] = format_month(x);
        else if (kDateFields.count(name)) j[name] = format_date(x);
        else j[name] = x;
        break;
      }
      case flatbuffers::ET_LONG: {
        int64_t x = table->GetField<int64_t>(vo, 0);
        j[name] = x < 0 ? "-" : format_money(x);  // a negative amount fails validation below
        break;
      }
      case flatbuffers::ET_STRING: j[name] = table->GetPointer<const flatbuffers::String*>(vo)->str(); break;
      case flatbuffers::ET_SEQUENCE:
        if (name == "items") {
          json arr = json::array();
          for (const fb::Item* it : *table->GetPointer<const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>*>(vo)) {
            json o = {{"category", it->category()->str()}, {"amount", format_money(it->amount())}};
            if (it->eligible()) o["eligible"] = format_money(*it->eligible());
            if (it->therapy()) o["therapy"] = it->therapy()->str();
            arr.push_back(std::move(o));
          }
          j[name] = std::move(arr);
        } else if (name == "away") {
          const auto* a = table->GetPointer<const fb::Away*>(vo);
          j[name] = {{"mode", a->mode()->str()}, {"level", a->level()}};
        }
        break;
      default: break;
    }
  }
  return event_from_json(j);
}

}  // namespace gongji
