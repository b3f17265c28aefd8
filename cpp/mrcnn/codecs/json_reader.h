// A fast, read-only JSON parser for large annotation and result files (COCO ground truth,
// detection lists). The whole text is parsed into one flat array of values; arrays and objects
// refer to their children by index, and strings without escapes point into the text, so parsing
// a 1 MB file allocates a handful of vectors rather than one object per value.
//
// Grammar: RFC 8259 (no comments, no trailing commas, no NaN literals). Numbers are converted
// with correct rounding, as Python's json and nlohmann::json do; integers that fit int64 are also
// kept exactly. Nesting deeper than 512 levels is rejected. Bytes >= 0x80 inside strings are
// passed through unchecked (the text is not validated as UTF-8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mrcnn::codecs {

enum class JsonType : uint8_t { kNull, kFalse, kTrue, kNumber, kString, kArray, kObject };

class JsonDocument;

// A handle to one value of a JsonDocument; valid while the document (and its text) lives.
class JsonValue {
 public:
  JsonValue(const JsonDocument* doc, uint32_t index) : doc_(doc), index_(index) {}

  JsonType type() const;
  bool is_null() const { return type() == JsonType::kNull; }
  bool is_bool() const { return type() == JsonType::kTrue || type() == JsonType::kFalse; }
  bool is_number() const { return type() == JsonType::kNumber; }
  bool is_string() const { return type() == JsonType::kString; }
  bool is_array() const { return type() == JsonType::kArray; }
  bool is_object() const { return type() == JsonType::kObject; }
  // A number written without fraction or exponent that fits int64.
  bool is_integer() const;

  // Accessors throw std::invalid_argument naming the expected and the actual type.
  bool boolean() const;
  double number() const;
  int64_t integer() const;  // an integer, or a number with an integral value in int64's range
  std::string_view string() const;

  size_t size() const;                       // elements of an array or members of an object
  JsonValue operator[](size_t i) const;      // array element / object member value i
  std::string_view key(size_t i) const;      // object member name i
  std::optional<JsonValue> find(std::string_view key) const;  // last member with that name
  JsonValue at(std::string_view key) const;  // throws "missing key 'k'" when absent
  bool contains(std::string_view key) const { return find(key).has_value(); }

  const char* type_name() const;

 private:
  const JsonDocument* doc_;
  uint32_t index_;
};

class JsonDocument {
 public:
  // Parses text, which must outlive the document. Throws std::invalid_argument with the line,
  // column and what was expected.
  // Members named in skip_keys (at any depth) are checked for syntax but read as null: a reader
  // that needs no "segmentation" does not pay for converting thousands of polygon coordinates.
  explicit JsonDocument(std::string_view text, const std::vector<std::string_view>& skip_keys = {});
  ~JsonDocument();
  JsonDocument(const JsonDocument&) = delete;
  JsonDocument& operator=(const JsonDocument&) = delete;

  JsonValue root() const { return JsonValue(this, 0); }

 private:
  friend class JsonValue;
  friend class JsonParser;
  friend struct JsonStoragePools;
  struct Node {  // 24 bytes: a 1 MB file holds about 200,000 values
    JsonType type = JsonType::kNull;
    bool integer = false;  // numbers: int_value holds the exact value
    uint32_t first = 0;    // arrays, objects: first child in kids_ / keys_; strings: length
    uint32_t count = 0;    // arrays, objects: number of children
    union {
      double number;
      int64_t int_value;
      const char* chars;  // strings
    };
    Node() : number(0) {}
  };
  std::vector<Node> nodes_;
  std::vector<uint32_t> kids_;
  std::vector<std::string_view> keys_;  // parallel to kids_ (empty for array elements)
  std::deque<std::string> unescaped_;   // strings that had escapes, decoded
};

}  // namespace mrcnn::codecs
