#include "mrcnn/codecs/json_reader.h"
#include "mrcnn/codecs/json_writer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <locale.h>
#include <mutex>
#include <stdlib.h>
#include <stdexcept>
#include <utility>

namespace mrcnn::codecs {

namespace {
constexpr int kMaxDepth = 512;
}  // namespace

// Recursive descent over the text; children of open containers wait on a scratch stack and are
// copied to the document's kids_ / keys_ when their container closes, so each container's
// children are contiguous.
class JsonParser {
 public:
  JsonParser(JsonDocument& doc, std::string_view text, const std::vector<std::string_view>& skip_keys)
      : doc_(doc), p_(text.data()), begin_(text.data()), end_(text.data() + text.size()), skip_keys_(skip_keys) {
  }

  void parse() {
    skip_ws();
    if (p_ == end_) fail("the text is empty");
    value(0);
    skip_ws();
    if (p_ != end_) fail("unexpected text after the end of the JSON value");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    size_t line = 1, col = 1;
    for (const char* q = begin_; q < p_ && q < end_; ++q) {
      if (*q == '\n') ++line, col = 1;
      else ++col;
    }
    throw std::invalid_argument("invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(col) + ": " + what);
  }

  [[noreturn]] void fail_at(const char* p, const std::string& what) {
    p_ = p;
    fail(what);
  }

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  uint32_t new_node(JsonType t) {
    doc_.nodes_.emplace_back();
    doc_.nodes_.back().type = t;
    return static_cast<uint32_t>(doc_.nodes_.size() - 1);
  }

  uint32_t value(int depth) {
    if (p_ == end_) fail("expected a value, found the end of the text");
    switch (*p_) {
      case '{': return container(depth, true);
      case '[': return container(depth, false);
      case '"': {
        const uint32_t n = new_node(JsonType::kString);
        const std::string_view s = string();
        if (s.size() > UINT32_MAX) fail("string longer than 4 GB");
        doc_.nodes_[n].chars = s.data();
        doc_.nodes_[n].first = static_cast<uint32_t>(s.size());
        return n;
      }
      case 't': return literal("true", JsonType::kTrue);
      case 'f': return literal("false", JsonType::kFalse);
      case 'n': return literal("null", JsonType::kNull);
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return number();
        fail(std::string("expected a value, found '") + *p_ + "'");
    }
  }

  uint32_t literal(std::string_view word, JsonType t) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      fail("expected '" + std::string(word) + "'");
    p_ += word.size();
    return new_node(t);
  }

  // A number's text as the grammar reads it, with its digits in a 64-bit mantissa.
  struct NumberText {
    const char* start;
    bool negative = false, integral = true;
    uint64_t mantissa = 0;
    int digits = 0;  // significant digits in mantissa (leading zeros not counted); 20 = too many
    int exp10 = 0;
    size_t int_digits = 0;
  };

  // Reads the digits from p on into mantissa, returning the end of them. Up to 19 significant
  // digits go into the mantissa (digits counts them from the first non-zero one); more mark it
  // as too long (digits = 20).
  static const char* scan_digits(const char* p, const char* end, uint64_t& mantissa, int& digits) {
    for (; p < end && static_cast<unsigned>(*p - '0') <= 9; ++p) {
      if (digits < 19) {
        mantissa = mantissa * 10 + static_cast<uint64_t>(*p - '0');
        digits += mantissa != 0;
      } else {
        digits = 20;
      }
    }
    return p;
  }

  // Checks a number against the grammar and leaves p_ after it. (Works on locals, which stay in
  // registers: numbers are most of the text of annotation files.)
  NumberText scan_number() {
    NumberText t;
    const char* p = p_;
    const char* const end = end_;
    const auto is_digit = [end](const char* q) { return q < end && static_cast<unsigned>(*q - '0') <= 9; };
    t.start = p;
    t.negative = *p == '-';
    if (t.negative) ++p;
    if (!is_digit(p)) fail_at(p, "expected a digit");
    uint64_t mantissa = 0;
    int digits = 0, exp10 = 0;
    const char* int_begin = p;
    if (*p == '0') {
      ++p;
    } else {
      p = scan_digits(p, end, mantissa, digits);
    }
    t.int_digits = static_cast<size_t>(p - int_begin);
    if (p < end && *p == '.') {
      t.integral = false;
      ++p;
      if (!is_digit(p)) fail_at(p, "expected a digit after the decimal point");
      const char* frac_begin = p;
      p = scan_digits(p, end, mantissa, digits);
      exp10 -= static_cast<int>(p - frac_begin);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
      t.integral = false;
      ++p;
      bool neg_exp = false;
      if (p < end && (*p == '+' || *p == '-')) neg_exp = *p++ == '-';
      if (!is_digit(p)) fail_at(p, "expected a digit in the exponent");
      int e = 0;
      while (is_digit(p)) e = std::min(e * 10 + (*p++ - '0'), 100000);
      exp10 += neg_exp ? -e : e;
    }
    p_ = p;
    t.mantissa = mantissa;
    t.digits = digits;
    t.exp10 = exp10;
    return t;
  }

  uint32_t number() {
    const NumberText t = scan_number();
    const char* start = t.start;
    const bool negative = t.negative, integral = t.integral;
    const uint64_t mantissa = t.mantissa;
    const int digits = t.digits, exp10 = t.exp10;
    const size_t int_digits = t.int_digits;
    const uint32_t n = new_node(JsonType::kNumber);
    JsonDocument::Node& node = doc_.nodes_[n];
    if (integral && int_digits <= 18) {
      const int64_t v = static_cast<int64_t>(mantissa);
      node.integer = true;
      node.int_value = negative ? -v : v;
      return n;
    }
    // Clinger's fast path: when the mantissa and the power of ten are both exact doubles, one
    // multiplication or division gives the correctly rounded value.
    static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (digits <= 19 && mantissa <= (uint64_t{1} << 53) && exp10 >= -22 && exp10 <= 22) {
      double d = static_cast<double>(mantissa);
      d = exp10 < 0 ? d / kPow10[-exp10] : d * kPow10[exp10];
      node.number = negative ? -d : d;
    } else {
      double d = 0;
      const auto r = std::from_chars(start, p_, d);
      if (r.ec == std::errc::result_out_of_range || r.ptr != p_) {
        // overflow to +-inf or underflow to 0, as Python's float() gives; strtod in the C locale
        // (the process's LC_NUMERIC may use a decimal comma)
        static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", locale_t(0));
        d = strtod_l(std::string(start, p_).c_str(), nullptr, c_locale);
      }
      node.number = d;
    }
    if (integral) {
      // 19 or more digits: exact when they fit int64
      int64_t v = 0;
      const auto ri = std::from_chars(start, p_, v);
      if (ri.ec == std::errc() && ri.ptr == p_) node.integer = true, node.int_value = v;
    }
    return n;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  uint32_t hex4() {
    if (end_ - p_ < 4) fail("expected four hex digits after \\u");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i, ++p_) {
      const char c = *p_;
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else fail("expected four hex digits after \\u");
    }
    return v;
  }

  // At the opening quote; returns the string's value and leaves p_ after the closing quote.
  std::string_view string() {
    ++p_;
    const char* s = p_;
    while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) ++p_;
    if (p_ == end_) fail("unterminated string");
    if (*p_ == '"') return std::string_view(s, static_cast<size_t>(p_++ - s));
    if (*p_ != '\\') fail("control character in a string");
    std::string out(s, static_cast<size_t>(p_ - s));
    while (true) {
      if (p_ == end_) fail("unterminated string");
      const char c = *p_;
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;
        ++p_;
        continue;
      }
      if (++p_ == end_) fail("unterminated string");
      const char e = *p_++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') fail("unpaired surrogate in a \\u escape");
            p_ += 2;
            const uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired surrogate in a \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired surrogate in a \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --p_;
          fail(std::string("invalid escape '\\") + e + "'");
      }
    }
    ++p_;
    doc_.unescaped_.push_back(std::move(out));
    return doc_.unescaped_.back();
  }

  void close(uint32_t n, size_t mark) {
    JsonDocument::Node& node = doc_.nodes_[n];
    node.first = static_cast<uint32_t>(doc_.kids_.size());
    node.count = static_cast<uint32_t>(stack_.size() - mark);
    for (size_t i = mark; i < stack_.size(); ++i) {
      doc_.keys_.push_back(stack_[i].first);
      doc_.kids_.push_back(stack_[i].second);
    }
    stack_.resize(mark);
  }

  // An array or an object, at its opening bracket. With store = false (inside a skipped member)
  // it is only checked, and 0 is returned.
  uint32_t container(int depth, bool is_object, bool store = true) {
    if (depth >= kMaxDepth) fail("nesting deeper than 512 levels");
    const char close_char = is_object ? '}' : ']';
    const uint32_t n = store ? new_node(is_object ? JsonType::kObject : JsonType::kArray) : 0;
    const size_t mark = stack_.size();
    ++p_;
    skip_ws();
    if (p_ < end_ && *p_ == close_char) {
      ++p_;
      if (store) close(n, mark);
      return n;
    }
    while (true) {
      skip_ws();
      std::string_view key;
      if (is_object) {
        if (p_ == end_ || *p_ != '"') fail("expected a member name in quotes");
        if (store) key = string();
        else skip_string();
        skip_ws();
        if (p_ == end_ || *p_ != ':') fail("expected ':' after a member name");
        ++p_;
        skip_ws();
      }
      if (!store) skip_value(depth + 1);
      else stack_.emplace_back(key, is_object && skipped(key) ? skip(depth + 1) : value(depth + 1));
      skip_ws();
      if (p_ == end_) fail(is_object ? "unterminated object: expected ',' or '}'" : "unterminated array: expected ',' or ']'");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == close_char) {
        ++p_;
        break;
      }
      fail(is_object ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array");
    }
    if (store) close(n, mark);
    return n;
  }

  JsonDocument& doc_;
  const char* p_;
  const char* begin_;
  const char* end_;
  bool skipped(std::string_view key) const {
    for (const auto& k : skip_keys_)
      if (k == key) return true;
    return false;
  }

  // Checks one value's syntax without storing it; returns a null node in its place.
  uint32_t skip(int depth) {
    skip_value(depth);
    return new_node(JsonType::kNull);
  }

  void skip_value(int depth) {
    if (p_ == end_) fail("expected a value, found the end of the text");
    const char c = *p_;
    if (c == '{' || c == '[') {
      container(depth, c == '{', /*store=*/false);
    } else if (c == '"') {
      skip_string();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      scan_number();
    } else {
      value(depth);  // a literal (or an error)
      doc_.nodes_.pop_back();
    }
  }

  void skip_string() {
    const char* quote = p_++;
    while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) ++p_;
    if (p_ < end_ && *p_ == '"') {
      ++p_;
      return;
    }
    // an escape (rare in skipped values), an error or the end: string() checks it all properly
    p_ = quote;
    const size_t kept = doc_.unescaped_.size();
    string();
    if (doc_.unescaped_.size() > kept) doc_.unescaped_.pop_back();
  }

  std::vector<std::pair<std::string_view, uint32_t>> stack_;
  const std::vector<std::string_view>& skip_keys_;
};

namespace {

// Value storage freed by earlier documents, kept for the next ones. Fresh pages cost more than
// the parse itself (a first parse of a 1 MB file is about 5x slower than a repeated one).
// Evaluation parses two documents at a time, possibly on two threads, and frees them on a third,
// so the storage is shared by the process: up to two arrays of each kind, of at most 8 MB each
// (a few-MB file; larger documents give their storage back), so at most 48 MB stay.
template <typename T>
struct Pool {
  std::vector<std::vector<T>> free;
  // the smallest array holding at least `want` elements, otherwise the largest
  std::vector<T> take(size_t want) {
    if (free.empty()) return {};
    size_t pick = 0;
    for (size_t i = 1; i < free.size(); ++i) {
      const size_t c = free[i].capacity(), best = free[pick].capacity();
      if (best >= want ? (c >= want && c < best) : c > best) pick = i;
    }
    std::vector<T> v = std::move(free[pick]);
    free.erase(free.begin() + static_cast<std::ptrdiff_t>(pick));
    return v;
  }
  void give(std::vector<T>&& v) {
    if (v.capacity() == 0 || v.capacity() * sizeof(T) > (size_t{8} << 20)) return;
    if (free.size() >= 2) {  // keep the two largest
      auto smallest = std::min_element(free.begin(), free.end(),
                                       [](const auto& a, const auto& b) { return a.capacity() < b.capacity(); });
      if (smallest->capacity() >= v.capacity()) return;
      free.erase(smallest);
    }
    v.clear();
    free.push_back(std::move(v));
  }
};

}  // namespace

struct JsonStoragePools {
  std::mutex mutex;
  Pool<JsonDocument::Node> nodes;
  Pool<uint32_t> kids;
  Pool<std::string_view> keys;
  static JsonStoragePools& shared() {
    static JsonStoragePools* pools = new JsonStoragePools();  // never destroyed: documents may outlive statics
    return *pools;
  }
};

JsonDocument::JsonDocument(std::string_view text, const std::vector<std::string_view>& skip_keys) {
  // Room for one value per 6 characters (annotation files have about one per 8), so that
  // storage taken from the pool is not reallocated (fresh pages) during the parse.
  const size_t want = text.size() / 6 + 16;
  {
    auto& pools = JsonStoragePools::shared();
    std::lock_guard<std::mutex> lock(pools.mutex);
    nodes_ = pools.nodes.take(want);
    kids_ = pools.kids.take(want);
    keys_ = pools.keys.take(want);
  }
  nodes_.reserve(want);
  kids_.reserve(want);
  keys_.reserve(want);
  JsonParser parser(*this, text, skip_keys);
  parser.parse();
}

JsonDocument::~JsonDocument() {
  auto& pools = JsonStoragePools::shared();
  std::lock_guard<std::mutex> lock(pools.mutex);
  pools.nodes.give(std::move(nodes_));
  pools.kids.give(std::move(kids_));
  pools.keys.give(std::move(keys_));
}

JsonText::JsonText(std::string text, std::string_view source, const std::vector<std::string_view>& skip_keys)
    : text_(std::make_unique<const std::string>(std::move(text))) {
  try {
    doc_ = std::make_unique<JsonDocument>(*text_, skip_keys);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(source) + ": not valid JSON (" + e.what() + ")");
  }
}

JsonText JsonText::read_file(const std::string& path, std::string_view what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::invalid_argument(path + ": cannot open the " + std::string(what));
  std::stringstream buf;
  buf << f.rdbuf();
  return JsonText(std::move(buf).str(), path);
}

const char* JsonValue::type_name() const {
  switch (type()) {
    case JsonType::kNull: return "null";
    case JsonType::kFalse:
    case JsonType::kTrue: return "a boolean";
    case JsonType::kNumber: return "a number";
    case JsonType::kString: return "a string";
    case JsonType::kArray: return "a list";
    case JsonType::kObject: return "an object";
  }
  return "?";
}

void json_wrong_type(const char* expected, const JsonValue& v) {
  throw std::invalid_argument(std::string("expected ") + expected + ", got " + v.type_name());
}

void json_out_of_range(size_t i, size_t size) {
  throw std::out_of_range("JSON index " + std::to_string(i) + " out of range for size " + std::to_string(size));
}

bool JsonValue::boolean() const {
  if (!is_bool()) json_wrong_type("true or false", *this);
  return type() == JsonType::kTrue;
}

int64_t JsonValue::integer_slow() const {
  if (!is_number()) json_wrong_type("an integer", *this);
  const auto& n = doc_->nodes_[index_];
  if (n.integer) return n.int_value;
  if (std::floor(n.number) != n.number || !(n.number >= -9223372036854775808.0 && n.number < 9223372036854775808.0))
    throw std::invalid_argument("expected an integer, got " + dump());
  return static_cast<int64_t>(n.number);
}

std::string_view JsonValue::key(size_t i) const {
  if (!is_object()) json_wrong_type("an object", *this);
  if (i >= size()) throw std::out_of_range("JSON member " + std::to_string(i) + " out of range for size " + std::to_string(size()));
  return doc_->keys_[doc_->nodes_[index_].first + i];
}

void append_json_string(std::string_view s, std::string& out) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\u00";
      out += hex[(c >> 4) & 0xf];
      out += hex[c & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_json_number(double v, std::string& out) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round trip
  const std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";  // stays a float: 800.0, as Python
}

namespace {

void dump_value(const JsonValue& v, std::string& out, size_t limit) {
  if (out.size() > limit) return;
  switch (v.type()) {
    case JsonType::kNull: out += "null"; return;
    case JsonType::kFalse: out += "false"; return;
    case JsonType::kTrue: out += "true"; return;
    case JsonType::kNumber: {
      if (v.is_integer()) out += std::to_string(v.integer());
      else append_json_number(v.number(), out);
      return;
    }
    case JsonType::kString: append_json_string(v.string(), out); return;
    case JsonType::kArray:
    case JsonType::kObject: {
      const bool object = v.is_object();
      out += object ? '{' : '[';
      for (size_t i = 0; i < v.size() && out.size() <= limit; ++i) {
        if (i) out += ',';
        if (object) {
          append_json_string(v.key(i), out);
          out += ':';
        }
        dump_value(v[i], out, limit);
      }
      out += object ? '}' : ']';
      return;
    }
  }
}

}  // namespace

std::string JsonValue::dump(size_t limit) const {
  std::string out;
  dump_value(*this, out, limit);
  if (out.size() > limit) out = out.substr(0, limit) + "...";
  return out;
}

void json_missing_key(std::string_view k) { throw std::invalid_argument("missing key '" + std::string(k) + "'"); }

}  // namespace mrcnn::codecs
