// Helpers for the worker tests: temporary files, gzip, crafted IDX files.
#ifndef CDDP_TESTS_SUPPORT_TEST_FILES_H_
#define CDDP_TESTS_SUPPORT_TEST_FILES_H_

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace cddp::worker::testing {

// A fresh directory under the gtest temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::path(::testing::TempDir()) /
            (std::string("cddp_worker_") + info->test_suite_name() + "_" +
             info->name() + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }
  std::string File(const std::string& name) const {
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string Gzip(const std::string& bytes) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS,
                         8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&zs, bytes.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

inline void AppendBigEndian(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

// An IDX image file of `count` images of rows x cols; pixel (i, p) is
// (i * 7 + p) mod 256.
inline std::string MakeIdxImages(uint32_t count, uint32_t rows, uint32_t cols) {
  std::string out;
  AppendBigEndian(0x00000803, &out);
  AppendBigEndian(count, &out);
  AppendBigEndian(rows, &out);
  AppendBigEndian(cols, &out);
  for (uint32_t i = 0; i < count; ++i) {
    for (uint32_t p = 0; p < rows * cols; ++p) {
      out.push_back(static_cast<char>((i * 7 + p) % 256));
    }
  }
  return out;
}

// An IDX label file holding `labels`.
inline std::string MakeIdxLabels(const std::vector<uint8_t>& labels) {
  std::string out;
  AppendBigEndian(0x00000801, &out);
  AppendBigEndian(static_cast<uint32_t>(labels.size()), &out);
  out.append(labels.begin(), labels.end());
  return out;
}

}  // namespace cddp::worker::testing

#endif  // CDDP_TESTS_SUPPORT_TEST_FILES_H_
