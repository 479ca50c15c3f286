// Tests for key=value result files: round trip, typed reads, missing keys,
// malformed lines, and the atomic replace of an existing file.
#include "common/key_value_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/record_file.h"

namespace cddp::common {
namespace {

std::string TempPath(const std::string& name) {
  const auto dir = std::filesystem::path(testing::TempDir()) / "cddp_kv";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

TEST(KeyValueFileTest, RoundTripsThroughAFile) {
  KeyValues kv;
  ASSERT_TRUE(kv.Set("steps", "120").ok());
  ASSERT_TRUE(kv.Set("test_accuracy", "0.9794").ok());
  ASSERT_TRUE(kv.Set("params_crc32", "0a1b2c3d").ok());
  ASSERT_TRUE(kv.Set("flag", "1").ok());
  ASSERT_TRUE(kv.Set("with_equals", "a=b=c").ok());
  const std::string path = TempPath("round_trip.result");
  ASSERT_TRUE(WriteKeyValueFile(path, kv).ok());

  absl::StatusOr<KeyValues> back = ReadKeyValueFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->entries(), kv.entries());
  EXPECT_EQ(*back->GetUint64("steps"), 120u);
  EXPECT_DOUBLE_EQ(*back->GetDouble("test_accuracy"), 0.9794);
  EXPECT_EQ(*back->Get("params_crc32"), "0a1b2c3d");
  EXPECT_TRUE(*back->GetBool("flag"));
  EXPECT_EQ(*back->Get("with_equals"), "a=b=c");
  // Sorted by key, one entry per line.
  EXPECT_EQ(*ReadWholeFile(path),
            "flag=1\nparams_crc32=0a1b2c3d\nsteps=120\ntest_accuracy=0.9794\n"
            "with_equals=a=b=c\n");
}

TEST(KeyValueFileTest, MissingKeyAndBadValuesAreNamed) {
  absl::StatusOr<KeyValues> kv = KeyValues::Parse("steps=x\nok=1\n");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ(kv->Get("seconds").status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(kv->Get("seconds").status().message().find("seconds"),
            std::string::npos);
  EXPECT_EQ(kv->GetUint64("steps").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_NE(kv->GetUint64("steps").status().message().find("steps=x"),
            std::string::npos);
  EXPECT_EQ(kv->GetDouble("steps").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv->GetBool("steps").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadKeyValueFile(TempPath("no_such_file")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(KeyValueFileTest, MalformedLinesAreRefusedNamingTheLine) {
  // Comments and blank lines are fine.
  EXPECT_TRUE(KeyValues::Parse("# a comment\n\na=1\r\n").ok());
  for (const char* text : {"a=1\nno equals sign\n", "a=1\n=empty key\n",
                           "a=1\nbad key=2\n", "a=1\na=2\n"}) {
    absl::StatusOr<KeyValues> kv = KeyValues::Parse(text);
    EXPECT_EQ(kv.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(kv.status().message().find("line 2"), std::string::npos)
        << kv.status();
  }
  const std::string path = TempPath("malformed.result");
  ASSERT_TRUE(WriteFileAtomically(path, "steps\n").ok());
  const absl::Status s = ReadKeyValueFile(path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(path), std::string::npos) << s;
}

TEST(KeyValueFileTest, SetRefusesWhatTheFormatCannotHoldAndChangesNothing) {
  KeyValues kv;
  ASSERT_TRUE(kv.Set("a", "1").ok());
  EXPECT_EQ(kv.Set("a", "two\nlines").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv.Set("has space", "1").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv.Set("", "1").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv.Serialize(), "a=1\n");
}

TEST(KeyValueFileTest, WriteReplacesTheWholeFileAtomically) {
  const std::string path = TempPath("replace.result");
  KeyValues first;
  ASSERT_TRUE(first.Set("old", "1").ok());
  ASSERT_TRUE(first.Set("steps", "5").ok());
  ASSERT_TRUE(WriteKeyValueFile(path, first).ok());
  KeyValues second;
  ASSERT_TRUE(second.Set("steps", "6").ok());
  ASSERT_TRUE(WriteKeyValueFile(path, second).ok());
  absl::StatusOr<KeyValues> back = ReadKeyValueFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->entries(), second.entries());  // no trace of "old"
  // Nothing is left beside it (the temporary file was renamed).
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(
           std::filesystem::path(path).parent_path())) {
    if (e.path().filename().string().rfind("replace.result", 0) == 0) ++files;
  }
  EXPECT_EQ(files, 1);
  // A directory that does not exist: an error naming the path, no file.
  const std::string bad = TempPath("no_such_dir") + "/x.result";
  EXPECT_FALSE(WriteKeyValueFile(bad, second).ok());
  EXPECT_FALSE(std::filesystem::exists(bad));
}

}  // namespace
}  // namespace cddp::common
