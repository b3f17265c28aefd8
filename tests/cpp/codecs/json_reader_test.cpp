// The fast JSON reader against nlohmann::json as the reference parser: the same values (numbers
// to the bit), the same strings after unescaping, the same verdict on malformed text. The
// sanitized build runs this file too, so the mutation test also checks memory safety.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "mrcnn/codecs/json_reader.h"

namespace mrcnn::codecs {
namespace {

using nlohmann::json;

// Deep comparison of our value with nlohmann's; numbers compared as doubles, bit for bit.
void expect_same(const JsonValue& ours, const json& ref, const std::string& where) {
  switch (ref.type()) {
    case json::value_t::null: EXPECT_TRUE(ours.is_null()) << where; break;
    case json::value_t::boolean:
      ASSERT_TRUE(ours.is_bool()) << where;
      EXPECT_EQ(ours.boolean(), ref.get<bool>()) << where;
      break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: {
      ASSERT_TRUE(ours.is_number()) << where;
      const double a = ours.number(), b = ref.get<double>();
      EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0) << where << ": " << a << " vs " << b;
      if (ref.is_number_integer() && !ref.is_number_unsigned()) {
        EXPECT_TRUE(ours.is_integer()) << where;
        EXPECT_EQ(ours.integer(), ref.get<int64_t>()) << where;
      }
      break;
    }
    case json::value_t::string:
      ASSERT_TRUE(ours.is_string()) << where;
      EXPECT_EQ(std::string(ours.string()), ref.get<std::string>()) << where;
      break;
    case json::value_t::array:
      ASSERT_TRUE(ours.is_array()) << where;
      ASSERT_EQ(ours.size(), ref.size()) << where;
      for (size_t i = 0; i < ref.size(); ++i) expect_same(ours[i], ref[i], where + "[" + std::to_string(i) + "]");
      break;
    case json::value_t::object: {
      ASSERT_TRUE(ours.is_object()) << where;
      for (const auto& [k, v] : ref.items()) {
        const auto mine = ours.find(k);
        ASSERT_TRUE(mine.has_value()) << where << "." << k;
        expect_same(*mine, v, where + "." + k);
      }
      break;
    }
    default: FAIL() << where << ": unexpected reference type";
  }
}

void expect_parses_like_reference(const std::string& text) {
  const JsonDocument doc(text);
  expect_same(doc.root(), json::parse(text), "$");
}

TEST(JsonReader, ValuesOfEveryKind) {
  expect_parses_like_reference(R"({"a": [1, -2, 3.5, -0.0, 1e3, 2E-2, 1.7976931348623157e308, 5e-324],
    "s": "tab\there \"quoted\" back\\slash \/ \u00e9 \ud83d\ude00 \b\f\n\r", "t": true, "f": false,
    "n": null, "nested": {"x": [[], {}, [[1]]], "": "empty key"}, "big": 12345678901234567890,
    "min": -9223372036854775808, "max": 9223372036854775807, "long": 3.14159265358979323846264338})");
  expect_parses_like_reference("  [ ]  ");
  expect_parses_like_reference("\"just a string\"");
  expect_parses_like_reference("0");
}

TEST(JsonReader, NumbersRoundCorrectly) {
  // Decimal strings of every shape (short, long, tiny, huge, halfway cases) must give the same
  // double as the reference's strtod-based conversion.
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int> digits(1, 25), exp(-330, 310), which(0, 5);
  for (int i = 0; i < 20000; ++i) {
    std::string s = rng() % 2 ? "-" : "";
    const int n = digits(rng);
    for (int d = 0; d < n; ++d) s += static_cast<char>('0' + (d == 0 ? 1 + rng() % 9 : rng() % 10));
    switch (which(rng)) {
      case 0: break;
      case 1: s.insert(s.size() - n / 2, "."); if (s.back() == '.') s += "5"; break;
      case 2: s += "e" + std::to_string(exp(rng)); break;
      case 3: s.insert(s.size() - n / 2, "."); if (s.back() == '.') s += "0"; s += "E" + std::to_string(exp(rng) / 10); break;
      case 4: s = (s[0] == '-' ? "-0." : "0.") + std::string(rng() % 8, '0') + s.substr(s[0] == '-'); break;
      default: {
        const double v = std::ldexp(static_cast<double>(rng() >> 11), exp(rng) / 4);
        s = json(v).dump();
      }
    }
    SCOPED_TRACE(s);
    json ref;
    try {
      ref = json::parse(s);
    } catch (const json::out_of_range&) {
      continue;  // the reference rejects overflow; Python (and we) give infinity
    }
    const JsonDocument doc(s);
    expect_same(doc.root(), ref, s);
  }
}

TEST(JsonReader, RandomDocumentsEqualReference) {
  std::mt19937 rng(7);
  std::function<json(int)> make = [&](int depth) -> json {
    const int kind = depth > 4 ? static_cast<int>(rng() % 4) : static_cast<int>(rng() % 6);
    switch (kind) {
      case 0: return nullptr;
      case 1: return static_cast<int64_t>(rng()) - (1LL << 31);
      case 2: return std::ldexp(static_cast<double>(rng()), static_cast<int>(rng() % 60) - 40);
      case 3: {
        std::string s;
        for (int i = rng() % 12; i > 0; --i) s += static_cast<char>(rng() % 2 ? 32 + rng() % 95 : 1 + rng() % 127);
        return s;
      }
      case 4: {
        json a = json::array();
        for (int i = rng() % 6; i > 0; --i) a.push_back(make(depth + 1));
        return a;
      }
      default: {
        json o = json::object();
        for (int i = rng() % 6; i > 0; --i) o["k" + std::to_string(rng() % 10)] = make(depth + 1);
        return o;
      }
    }
  };
  for (int i = 0; i < 2000; ++i) {
    const std::string text = make(0).dump(i % 2 ? 2 : -1);
    SCOPED_TRACE(text);
    expect_parses_like_reference(text);
  }
}

TEST(JsonReader, DuplicateNamesKeepTheLast) {
  const JsonDocument doc(R"({"a": 1, "a": 2})");
  EXPECT_EQ(doc.root().at("a").integer(), 2);  // as Python's json.loads
}

TEST(JsonReader, MalformedTextNamesLineAndColumn) {
  const std::vector<std::string> bad = {
      "", "   ", "[1,]", "{\"a\" 1}", "{\"a\":}", "{a: 1}", "01", "1.", ".5", "-", "+1", "1e", "1e+",
      "\"abc", "[1 2]", "tru", "nul", "[true false]", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
      "\"\\ud800\\u0041\"", "{} x", "[1]]", "\"a\tb\"", "{\"a\":1,}", "[", "{", "NaN", "Infinity", "[-]"};
  for (const auto& text : bad) {
    SCOPED_TRACE(text);
    EXPECT_THROW(json::parse(text), json::parse_error);  // the reference agrees it is malformed
    try {
      JsonDocument doc(text);
      ADD_FAILURE() << "accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("line 1, column"), std::string::npos) << e.what();
    }
  }
  try {
    JsonDocument doc("{\n  \"a\": [1,\n    2,,\n  ]\n}");
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("line 3, column 7"), std::string::npos) << e.what();
  }
}

TEST(JsonReader, DeepNestingIsRejectedNotOverflowed) {
  EXPECT_THROW(JsonDocument(std::string(100000, '[')), std::invalid_argument);
  EXPECT_THROW(JsonDocument(std::string(100000, '[') + std::string(100000, ']')), std::invalid_argument);
  const std::string ok = std::string(500, '[') + std::string(500, ']');
  EXPECT_NO_THROW(JsonDocument{ok});
}

TEST(JsonReader, SkippedMembersAreCheckedButNotStored) {
  const std::string text = R"([{"id": 1, "segmentation": [[1.5, 2, 3, 4e1, 5, 6]], "bbox": [1, 2, 3, 4]},
                               {"id": 2, "segmentation": {"counts": "a\\b\"c", "size": [2, 3]}}])";
  const JsonDocument doc(text, {"segmentation"});
  EXPECT_TRUE(doc.root()[0].at("segmentation").is_null());
  EXPECT_TRUE(doc.root()[1].at("segmentation").is_null());
  EXPECT_EQ(doc.root()[0].at("bbox")[3].integer(), 4);
  EXPECT_EQ(doc.root()[1].at("id").integer(), 2);
  // malformed text inside a skipped member is still an error
  for (const std::string bad : {R"({"segmentation": [1, 2,]})", R"({"segmentation": [01]})", R"({"segmentation": "\q"})",
                                R"({"segmentation": {"a" 1}})", R"({"segmentation": [tru]})", "{\"segmentation\": \"abc"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(JsonDocument(bad, {"segmentation"}), std::invalid_argument);
  }
}

TEST(JsonReader, AccessorsNameTheTypeOnMisuse) {
  const JsonDocument doc(R"({"n": 1.5, "s": "x", "a": [1]})");
  const JsonValue r = doc.root();
  try {
    (void)r.at("s").number();
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "expected a number, got a string");
  }
  EXPECT_THROW((void)r.at("n").integer(), std::invalid_argument);  // 1.5 is not integral
  EXPECT_THROW((void)r.at("missing"), std::invalid_argument);
  EXPECT_THROW((void)r.at("a")[1], std::out_of_range);
  EXPECT_EQ(r.key(2), "a");
}

TEST(JsonReader, DumpQuotesAValueCompactlyAndCutsLongOnes) {
  const std::string text = R"({"id": 7, "name": "a\"b\u0001", "xy": [1.5, -2e-07, true, null], "o": {}})";
  const JsonDocument doc(text);
  // the compact text parses back to the same document
  EXPECT_EQ(nlohmann::json::parse(doc.root().dump(1000)), nlohmann::json::parse(text));
  EXPECT_EQ(doc.root().at("id").dump(), "7");
  const std::string cut = doc.root().dump(10);
  EXPECT_EQ(cut.size(), 13u);
  EXPECT_EQ(cut.substr(10), "...");
}

TEST(JsonReader, StorageReusedAcrossDocuments) {
  // Documents hand their storage to the next ones on the thread; values must not leak across.
  for (int round = 0; round < 3; ++round) {
    const JsonDocument a("[1, 2, 3, {\"x\": \"y\"}]");
    const JsonDocument b("{\"k\": [true, null, 7.25]}");
    EXPECT_EQ(a.root().size(), 4u);
    EXPECT_EQ(a.root()[3].at("x").string(), "y");
    EXPECT_EQ(b.root().at("k")[2].number(), 7.25);
  }
}

TEST(JsonReader, MutatedTextAgreesWithReference) {
  // Random edits of a valid document: accepted by both with equal values, or rejected by both.
  const std::string base = R"({"images": [{"id": 1, "height": 480, "width": 640, "file_name": "a\u00e9.jpg"}],
    "annotations": [{"id": 7, "image_id": 1, "category_id": 2, "area": 123.25, "iscrowd": 0,
    "bbox": [1.5, 2.25, 30, 40e-1], "segmentation": [[1, 2, 3, 4, 5, 6]]},
    {"segmentation": {"counts": "PX0\\1n", "size": [480, 640]}, "score": -1.0E+2, "ok": true, "no": null}]})";
  std::mt19937 rng(3);
  const std::string alphabet = "{}[]\",:.-+eE0123456789 \\/tfnrlsau\n\t";
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = base;
    for (int m = 1 + rng() % 3; m > 0; --m) {
      const size_t pos = rng() % (s.size() + 1);
      switch (rng() % 3) {
        case 0: if (pos < s.size()) s.erase(pos, 1); break;
        case 1: s.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        default: if (pos < s.size()) s[pos] = alphabet[rng() % alphabet.size()];
      }
    }
    bool ref_ok = true;
    json ref;
    try {
      ref = json::parse(s);
    } catch (const json::out_of_range&) {
      continue;
    } catch (const json::parse_error&) {
      ref_ok = false;
    }
    SCOPED_TRACE(s);
    try {
      const JsonDocument doc(s);
      ASSERT_TRUE(ref_ok) << "we accepted what the reference rejects";
      expect_same(doc.root(), ref, "$");
      ++accepted;
    } catch (const std::invalid_argument&) {
      ASSERT_FALSE(ref_ok) << "we rejected what the reference accepts";
    }
  }
  EXPECT_GT(accepted, 1000);  // the edits leave enough documents valid to compare values
}

}  // namespace
}  // namespace mrcnn::codecs
