#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include "mrcnn/info/build_info.h"
#include "mrcnn/core/parallel.h"

namespace {

std::string lookup(const std::string& key) {
  for (const auto& [k, v] : mrcnn::build_info())
    if (k == key) return v;
  return "";
}

TEST(BuildInfo, ReportsVersionsAndThreads) {
  EXPECT_FALSE(lookup("torch (compiled against)").empty());
  EXPECT_FALSE(lookup("opencv (runtime)").empty());
  EXPECT_TRUE(lookup("cuda kernels") == "on" || lookup("cuda kernels") == "off");
  mrcnn::set_num_threads(1);
  EXPECT_EQ(lookup("threads"), "1");
}

TEST(BuildInfo, SetNumThreadsReachesTorchAndCodecs) {
  mrcnn::set_num_threads(2);
  EXPECT_EQ(at::get_num_threads(), 2);
  EXPECT_EQ(mrcnn::core::pool_threads(), 2);
  mrcnn::set_num_threads(0);  // all cores
  EXPECT_GE(mrcnn::get_num_threads(), 1);
  EXPECT_EQ(mrcnn::core::pool_threads(), mrcnn::get_num_threads());
}

}  // namespace
