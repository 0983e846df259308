// Generic over the schema: each body table's fields are read off its mini-reflection type table (field i at
// vtable offset 4 + 2i), converted to and from the Event by name, and validated by validate_event
// (event.h, bounds included).
// One conversion per field kind keeps schema and codec from drifting apart.
#include "events/event_json.h"
#include "events/fb_codec.h"

#include <flatbuffers/minireflect.h>

#include <cstring>
#include <stdexcept>
#include <utility>

#include "events/events_generated.h"

namespace gongji {

namespace {

// The FlatBuffers union holds the table's types at the table's places (events/event_types.h).
#define GONGJI_EVENT_FB_CHECK(name, S)                                                               \
  static_assert(static_cast<int>(fb::BodyTraits<fb::S>::enum_value) == static_cast<int>(EventType::name) + 1, \
                "events.fbs: union Body holds " #S " at the place of EventType::" #name);
GONGJI_EVENT_TYPES(GONGJI_EVENT_FB_CHECK)
#undef GONGJI_EVENT_FB_CHECK
static_assert(static_cast<int>(fb::Body_MAX) == kEventTypeCount, "events.fbs: union Body has the table's types");

const flatbuffers::TypeTable* body_table(EventType t) {
  return fb::BodyTypeTable()->type_refs[static_cast<size_t>(t)]();
}

}  // namespace

// Straight from the Event (event_field), no JSON in between: the same builder calls in the same order as when the
// values went through event_to_json, so the same bytes (dates, months and money round-trip through their text).
std::string encode_event(const Event& e) {
  flatbuffers::FlatBufferBuilder fbb(256);
  fbb.ForceDefaults(true);
  const flatbuffers::TypeTable* tt = body_table(e.type());
  auto stored = [&](size_t i) { return event_field(e, tt->names[i]); };

  // Offsets (strings, vectors, sub-tables) are built before the table that refers to them.
  std::vector<std::pair<flatbuffers::voffset_t, flatbuffers::uoffset_t>> offsets;
  for (size_t i = 0; i < tt->num_elems; ++i) {
    auto vo = flatbuffers::FieldIndexToOffset(static_cast<flatbuffers::voffset_t>(i));
    auto v = stored(i);
    if (!v) continue;
    if (auto* items = std::get_if<const std::vector<Item>*>(&*v)) {
      std::vector<flatbuffers::Offset<fb::Item>> built;
      for (const Item& it : **items) {
        auto cat = fbb.CreateString(spelled(it.category));
        auto ther = it.therapy ? fbb.CreateString(*it.therapy) : flatbuffers::Offset<flatbuffers::String>();
        fb::ItemBuilder ib(fbb);
        ib.add_category(cat);
        ib.add_amount(it.amount);
        if (it.eligible) ib.add_eligible(*it.eligible);
        if (it.therapy) ib.add_therapy(ther);
        built.push_back(ib.Finish());
      }
      offsets.emplace_back(vo, fbb.CreateVector(built).o);
    } else if (auto* away = std::get_if<const Away*>(&*v)) {
      offsets.emplace_back(vo, fb::CreateAway(fbb, fbb.CreateString(spelled((*away)->mode)), (*away)->level).o);
    } else if (tt->type_codes[i].base_type == flatbuffers::ET_STRING) {
      std::string_view text = std::get<std::string_view>(*v);
      offsets.emplace_back(vo, fbb.CreateString(text.data(), text.size()).o);
    }
  }
  auto id = fbb.CreateString(e.id());
  auto start = fbb.StartTable();
  for (size_t i = 0; i < tt->num_elems; ++i) {
    auto base_type = tt->type_codes[i].base_type;
    if (base_type != flatbuffers::ET_BOOL && base_type != flatbuffers::ET_INT && base_type != flatbuffers::ET_LONG)
      continue;
    auto v = stored(i);
    if (!v) continue;
    auto vo = flatbuffers::FieldIndexToOffset(static_cast<flatbuffers::voffset_t>(i));
    switch (base_type) {  // std::get throws on a schema that disagrees with the table's member types
      case flatbuffers::ET_BOOL: fbb.AddElement<uint8_t>(vo, std::get<bool>(*v) ? 1 : 0, 0); break;
      case flatbuffers::ET_INT: fbb.AddElement<int32_t>(vo, std::get<int32_t>(*v), 0); break;
      default: fbb.AddElement<int64_t>(vo, std::get<int64_t>(*v), 0); break;
    }
  }
  for (auto& [vo, off] : offsets) fbb.AddOffset(vo, flatbuffers::Offset<void>(off));
  auto body = fbb.EndTable(start);
  auto root = fb::CreateEvent(fbb, id, static_cast<fb::Body>(static_cast<int>(e.type()) + 1),
                              flatbuffers::Offset<void>(body));
  fb::FinishEventBuffer(fbb, root);
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

namespace {
// The record's event, its buffer verified, and its type; EventError when it is none.
std::pair<const fb::Event*, EventType> verified_event(std::string_view bytes) {
  if (bytes.size() > kMaxRecordBytes)  // event.h: a bound of the one validation entry point, checked before decoding
    throw EventError("", "record of " + std::to_string(bytes.size()) + " bytes is larger than the limit of " +
                             std::to_string(kMaxRecordBytes) + " bytes");
  // The identifier check below reads bytes 4..7: a shorter record (an empty Kafka message) is refused first.
  if (bytes.size() < sizeof(flatbuffers::uoffset_t) + flatbuffers::kFileIdentifierLength)
    throw EventError("", "record of " + std::to_string(bytes.size()) + " bytes is shorter than a FlatBuffers header");
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (!fb::EventBufferHasIdentifier(bytes.data()) || !fb::VerifyEventBuffer(verifier))
    throw EventError("", "not a valid FlatBuffers event record");
  const fb::Event* ev = fb::GetEvent(bytes.data());
  int tag = static_cast<int>(ev->body_type());
  if (tag < 1 || tag > kEventTypeCount || !ev->body()) throw EventError("type", "record has no known event body");
  return {ev, static_cast<EventType>(tag - 1)};
}
}  // namespace

Date event_date(std::string_view bytes) {
  const auto [ev, type] = verified_event(bytes);
  const auto* table = static_cast<const flatbuffers::Table*>(ev->body());
  const flatbuffers::TypeTable* tt = body_table(type);
  const std::string_view key = date_key(type);
  for (size_t i = 0; i < tt->num_elems; ++i) {
    const auto vo = flatbuffers::FieldIndexToOffset(static_cast<flatbuffers::voffset_t>(i));
    if (key == tt->names[i] && tt->type_codes[i].base_type == flatbuffers::ET_INT && table->CheckField(vo))
      return table->GetField<int32_t>(vo, 0);
  }
  throw EventError(std::string(key), "missing");
}

Event decode_event(std::string_view bytes, const CodeLists& codes) {
  const auto [ev, type] = verified_event(bytes);
  Event e = empty_event(type);
  e.header().id = ev->id()->str();
  const auto* table = static_cast<const flatbuffers::Table*>(ev->body());
  const flatbuffers::TypeTable* tt = body_table(type);
  uint64_t given = 0;  // bit i: field i of the schema's table is present (an empty items vector is not)
  if (tt->num_elems > 64) throw std::logic_error("events.fbs: an event table of more than 64 fields");  // none has
  // Straight into the Event, no JSON in between (the fold's hot path); validate_event checks it as parse_event would.
  for (size_t i = 0; i < tt->num_elems; ++i) {
    const char* name = tt->names[i];
    auto vo = flatbuffers::FieldIndexToOffset(static_cast<flatbuffers::voffset_t>(i));
    if (!table->CheckField(vo)) continue;
    given |= uint64_t{1} << i;
    switch (tt->type_codes[i].base_type) {
      case flatbuffers::ET_BOOL: set_event_field(e, name, table->GetField<uint8_t>(vo, 0) != 0); break;
      case flatbuffers::ET_INT: set_event_field(e, name, table->GetField<int32_t>(vo, 0)); break;
      case flatbuffers::ET_LONG: set_event_field(e, name, static_cast<int64_t>(table->GetField<int64_t>(vo, 0))); break;
      case flatbuffers::ET_STRING:
        set_event_field(e, name, table->GetPointer<const flatbuffers::String*>(vo)->str());
        break;
      case flatbuffers::ET_SEQUENCE:
        if (std::strcmp(name, "items") == 0) {
          const auto* items = table->GetPointer<const flatbuffers::Vector<flatbuffers::Offset<fb::Item>>*>(vo);
          std::vector<Item> read;
          for (flatbuffers::uoffset_t k = 0; k < items->size(); ++k) {
            const fb::Item* it = items->Get(k);
            Item item;
            item.category = code_for_field<ItemCategory>("items[" + std::to_string(k) + "].category",
                                                         it->category()->string_view());
            item.amount = it->amount();
            if (it->eligible()) item.eligible = *it->eligible();
            if (it->therapy()) item.therapy = it->therapy()->str();
            read.push_back(std::move(item));
          }
          if (read.empty()) given &= ~(uint64_t{1} << i);  // validate_event's "items: missing", as before
          set_event_field(e, name, std::move(read));
        } else if (std::strcmp(name, "away") == 0) {
          const auto* a = table->GetPointer<const fb::Away*>(vo);
          set_event_field(e, name, Away{code_for_field<AwayMode>("away.mode", a->mode()->string_view()), a->level()});
        }
        break;
      default: break;
    }
  }
  check_required(type, [&](std::string_view k) {
    size_t i = 0;
    while (i < tt->num_elems && k != tt->names[i]) ++i;
    return i < tt->num_elems && (given >> i & 1);
  });
  validate_event(e, codes);
  return e;
}

}  // namespace gongji
