#include "mrcnn/codecs/kaggle_rle.h"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

namespace mrcnn::codecs {

namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// Reads the next whitespace-separated unsigned integer; false at the end of the string.
bool next_number(std::string_view s, size_t& p, uint64_t& value, size_t& token_index) {
  while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) ++p;
  if (p >= s.size()) return false;
  const size_t start = p;
  uint64_t v = 0;
  while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
    v = v * 10 + static_cast<uint64_t>(s[p] - '0');
    if (v > UINT32_MAX)
      fail("kaggle_rle: number '" + std::string(s.substr(start, p - start + 1)) + "' (token " +
           std::to_string(token_index) + ") is too large");
    ++p;
  }
  if (p == start || (p < s.size() && s[p] != ' ' && s[p] != '\t' && s[p] != '\n' && s[p] != '\r')) {
    size_t end = start;
    while (end < s.size() && s[end] != ' ') ++end;
    fail("kaggle_rle: token " + std::to_string(token_index) + " '" +
         std::string(s.substr(start, std::min<size_t>(end - start, 20))) + "' is not a non-negative integer");
  }
  value = v;
  ++token_index;
  return true;
}

// Runs as [begin, end) pixel ranges in the string's own numbering, sorted and merged.
std::vector<std::pair<uint64_t, uint64_t>> parse_runs(std::string_view s, uint64_t n,
                                                      const KaggleRleOptions& opt) {
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  size_t p = 0, token = 0;
  uint64_t start = 0, length = 0;
  bool sorted = true;
  while (next_number(s, p, start, token)) {
    if (!next_number(s, p, length, token))
      fail("kaggle_rle: odd number of values (" + std::to_string(token) +
           "): the string must hold 'start length' pairs");
    const uint64_t base = opt.one_indexed ? 1 : 0;
    if (start < base)
      fail("kaggle_rle: pair " + std::to_string(token / 2 - 1) + " starts at " + std::to_string(start) +
           " but starts are " + (opt.one_indexed ? "1-indexed" : "0-indexed"));
    const uint64_t b = start - base;
    if (b + length > n)
      fail("kaggle_rle: pair " + std::to_string(token / 2 - 1) + " (" + std::to_string(start) + " " +
           std::to_string(length) + ") runs past the mask's " + std::to_string(n) + " pixels");
    if (length == 0) continue;
    if (!runs.empty() && b < runs.back().second) sorted = false;
    runs.emplace_back(b, b + length);
  }
  if (!sorted) {
    std::sort(runs.begin(), runs.end());
    std::vector<std::pair<uint64_t, uint64_t>> merged;
    for (const auto& r : runs) {
      if (!merged.empty() && r.first <= merged.back().second)
        merged.back().second = std::max(merged.back().second, r.second);
      else
        merged.push_back(r);
    }
    runs.swap(merged);
  }
  return runs;
}

// COCO counts for runs in column-major order over n pixels.
std::vector<uint32_t> runs_to_counts(const std::vector<std::pair<uint64_t, uint64_t>>& runs, uint64_t n) {
  std::vector<uint32_t> counts;
  counts.reserve(2 * runs.size() + 1);
  uint64_t pos = 0;
  for (const auto& r : runs) {
    if (r.first == pos && !counts.empty()) {
      counts.back() += static_cast<uint32_t>(r.second - r.first);  // touching runs
    } else {
      counts.push_back(static_cast<uint32_t>(r.first - pos));
      counts.push_back(static_cast<uint32_t>(r.second - r.first));
    }
    pos = r.second;
  }
  if (counts.empty() || pos < n) counts.push_back(static_cast<uint32_t>(n - pos));
  return counts;
}

}  // namespace

Rle kaggle_rle_to_rle(std::string_view s, uint32_t h, uint32_t w, const KaggleRleOptions& opt) {
  const uint64_t n = static_cast<uint64_t>(h) * w;
  if (n > UINT32_MAX) fail("kaggle_rle: mask too large");
  const auto runs = parse_runs(s, n, opt);
  if (opt.column_major) {
    Rle r{h, w, runs_to_counts(runs, n)};
    return r;
  }
  // Row-major numbering: the runs describe the transposed (w x h) mask in column-major order.
  Rle t{w, h, runs_to_counts(runs, n)};
  std::vector<uint8_t> buf(n);
  rle_decode(t, buf.data(), 1, static_cast<std::ptrdiff_t>(w));  // buf is row-major h x w
  return rle_encode({buf.data(), h, w, static_cast<std::ptrdiff_t>(w), 1});
}

std::string rle_to_kaggle_rle(const Rle& rle, const KaggleRleOptions& opt) {
  rle_validate(rle, "rle_to_kaggle_rle");
  const Rle* src = &rle;
  Rle transposed;
  if (!opt.column_major) {
    std::vector<uint8_t> buf(static_cast<size_t>(rle.h) * rle.w);
    rle_decode(rle, buf.data(), 1, static_cast<std::ptrdiff_t>(rle.h));
    // Scanning the column-major buffer as a w x h mask with swapped strides walks it row by row.
    transposed = rle_encode({buf.data(), rle.w, rle.h, static_cast<std::ptrdiff_t>(rle.h), 1});
    src = &transposed;
  }
  std::string s;
  uint64_t pos = 0;
  const uint64_t base = opt.one_indexed ? 1 : 0;
  for (size_t i = 0; i < src->counts.size(); ++i) {
    if (i % 2 == 1 && src->counts[i] > 0) {
      if (!s.empty()) s.push_back(' ');
      s += std::to_string(pos + base);
      s.push_back(' ');
      s += std::to_string(src->counts[i]);
    }
    pos += src->counts[i];
  }
  return s;
}

std::string kaggle_rle_encode(const MaskView& mask, const KaggleRleOptions& opt) {
  if (opt.column_major) return rle_to_kaggle_rle(rle_encode(mask), opt);
  // Row-major numbering is column-major numbering of the transpose: swap the view's axes.
  const MaskView t{mask.data, mask.w, mask.h, mask.col_stride, mask.row_stride};
  KaggleRleOptions col = opt;
  col.column_major = true;
  return rle_to_kaggle_rle(rle_encode(t), col);
}

}  // namespace mrcnn::codecs
