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
#include <memory>
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
  // Compact JSON text of the value, cut to about limit characters with "..." (for messages that
  // quote a bad entry).
  std::string dump(size_t limit = 120) const;

 private:
  int64_t integer_slow() const;  // integer() for what is not stored as an exact int64
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

// A JSON text and its document, owned together (the document's strings point into the text), so
// a reader can return or keep them. `source` names the text in errors: a file's path, or what the
// text is ("Config"): "<source>: not valid JSON (line 3, column 7: ...)".
class JsonText {
 public:
  JsonText(std::string text, std::string_view source, const std::vector<std::string_view>& skip_keys = {});
  // The file's bytes; throws std::invalid_argument "<path>: cannot open the <what>" when it cannot.
  static JsonText read_file(const std::string& path, std::string_view what = "JSON file");

  JsonValue root() const { return doc_->root(); }

 private:
  std::unique_ptr<const std::string> text_;  // on the heap: a move leaves the document's pointers valid
  std::unique_ptr<JsonDocument> doc_;
};

// The accessors evaluation calls for every coordinate, inline; their errors out of line.
[[noreturn]] void json_wrong_type(const char* expected, const JsonValue& v);
[[noreturn]] void json_out_of_range(size_t i, size_t size);
[[noreturn]] void json_missing_key(std::string_view k);

inline JsonType JsonValue::type() const { return doc_->nodes_[index_].type; }

inline bool JsonValue::is_integer() const {
  const auto& n = doc_->nodes_[index_];
  return n.type == JsonType::kNumber && n.integer;
}

inline double JsonValue::number() const {
  const auto& n = doc_->nodes_[index_];
  if (n.type != JsonType::kNumber) json_wrong_type("a number", *this);
  return n.integer ? static_cast<double>(n.int_value) : n.number;  // int64 -> double rounds to nearest, as strtod
}

inline int64_t JsonValue::integer() const {
  const auto& n = doc_->nodes_[index_];
  return n.type == JsonType::kNumber && n.integer ? n.int_value : integer_slow();
}

inline std::string_view JsonValue::string() const {
  const auto& n = doc_->nodes_[index_];
  if (n.type != JsonType::kString) json_wrong_type("a string", *this);
  return std::string_view(n.chars, n.first);
}

inline size_t JsonValue::size() const {
  const auto& n = doc_->nodes_[index_];
  if (n.type != JsonType::kArray && n.type != JsonType::kObject) json_wrong_type("a list or an object", *this);
  return n.count;
}

inline JsonValue JsonValue::operator[](size_t i) const {
  const auto& n = doc_->nodes_[index_];
  if (i >= size()) json_out_of_range(i, size());
  return JsonValue(doc_, doc_->kids_[n.first + i]);
}

inline std::optional<JsonValue> JsonValue::find(std::string_view k) const {
  const auto& n = doc_->nodes_[index_];
  if (n.type != JsonType::kObject) json_wrong_type("an object", *this);
  for (uint32_t i = n.count; i-- > 0;)  // the last of duplicate names wins, as in Python's json
    if (doc_->keys_[n.first + i] == k) return JsonValue(doc_, doc_->kids_[n.first + i]);
  return std::nullopt;
}

inline JsonValue JsonValue::at(std::string_view k) const {
  const auto v = find(k);
  if (!v) json_missing_key(k);
  return *v;
}

}  // namespace mrcnn::codecs
