// Tests for which flag files --help lists and how it names them.
#include "common/program_flags.h"

#include <gtest/gtest.h>

namespace cddp::common {
namespace {

TEST(ProgramFlagsTest, ProjectFilesAreListedRelativeToTheRoot) {
  // This file is compiled with the same path spelling as the flag files.
  EXPECT_TRUE(IsProjectSourceFile(__FILE__));
  EXPECT_EQ(ProjectRelativeName(__FILE__),
            "tests/common/program_flags_test.cc");
  // The name absl hands the filter after normalize_filename.
  EXPECT_TRUE(IsProjectSourceFile("server/server_flags.cc"));
  EXPECT_EQ(ProjectRelativeName("server/server_flags.cc"),
            "server/server_flags.cc");
}

TEST(ProgramFlagsTest, AbslAndSystemFilesAreNot) {
  EXPECT_FALSE(IsProjectSourceFile("./absl/flags/parse.cc"));
  EXPECT_FALSE(IsProjectSourceFile("absl/flags/parse.cc"));
  EXPECT_FALSE(IsProjectSourceFile("/usr/include/absl/flags/flag.h"));
  EXPECT_FALSE(IsProjectSourceFile(""));
  EXPECT_EQ(ProjectRelativeName("./absl/flags/parse.cc"),
            "./absl/flags/parse.cc");
}

}  // namespace
}  // namespace cddp::common
