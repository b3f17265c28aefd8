// Writing JSON: the project's own files (the Config inside checkpoints, metrics.jsonl lines, the
// training state). Numbers are written in their shortest form that reads back to the same double
// (as Python's repr and nlohmann::json do); NaN and infinities, which JSON cannot hold, as null.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace mrcnn::codecs {

void append_json_string(std::string_view s, std::string& out);
void append_json_number(double v, std::string& out);

// {"key": value, ...} built member by member, in the order added.
class JsonObjectWriter {
 public:
  template <class T>
  JsonObjectWriter& add(std::string_view key, const T& value) {
    begin(key);
    append(value);
    return *this;
  }
  // A value that is already JSON text (e.g. a nested object's str()).
  JsonObjectWriter& add_json(std::string_view key, std::string_view json) {
    begin(key);
    out_ += json;
    return *this;
  }
  std::string str() const { return out_ + "}"; }

 private:
  void begin(std::string_view key) {
    out_ += out_.size() > 1 ? "," : "";
    append_json_string(key, out_);
    out_ += ':';
  }
  template <class T>
  void append(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      out_ += v ? "true" : "false";
    } else if constexpr (std::is_integral_v<T>) {
      out_ += std::to_string(v);
    } else if constexpr (std::is_floating_point_v<T>) {
      append_json_number(static_cast<double>(v), out_);
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      append_json_string(std::string_view(v), out_);
    } else {  // a sequence (std::vector, std::array) of the above
      out_ += '[';
      bool first = true;
      for (const auto& x : v) {
        if (!first) out_ += ',';
        first = false;
        append(x);
      }
      out_ += ']';
    }
  }
  std::string out_ = "{";
};

}  // namespace mrcnn::codecs
