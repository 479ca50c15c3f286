// The project root is taken from this file's own __FILE__, so it is spelled
// exactly as the compiler saw the flag files' names (absolute from CMake, or
// relative when ccache's base_dir rewrites the paths).
#include "common/program_flags.h"

#include <string>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

namespace cddp::common {
namespace {

constexpr absl::string_view kThisFile = __FILE__;
constexpr absl::string_view kPathInProject = "common/program_flags.cc";

// The project root as a prefix of this build's file names: "" when the
// compiler was given paths relative to the root itself.
absl::string_view ProjectRoot() {
  if (!absl::EndsWith(kThisFile, kPathInProject)) return "";
  return kThisFile.substr(0, kThisFile.size() - kPathInProject.size());
}

}  // namespace

bool IsProjectSourceFile(absl::string_view filename) {
  // absl hands the usage filters the name after normalize_filename, so a
  // project file may arrive as this build spells it or already relative.
  const absl::string_view root = ProjectRoot();
  const absl::string_view rest = absl::StartsWith(filename, root)
                                     ? filename.substr(root.size())
                                     : filename;
  return !rest.empty() && rest.front() != '/' && rest.front() != '.' &&
         !absl::StartsWith(rest, "absl/");
}

std::string ProjectRelativeName(absl::string_view filename) {
  const absl::string_view root = ProjectRoot();
  if (!IsProjectSourceFile(filename) || !absl::StartsWith(filename, root)) {
    return std::string(filename);
  }
  return std::string(filename.substr(root.size()));
}

std::vector<char*> ParseProgramFlags(int argc, char** argv,
                                     absl::string_view usage) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  config.contains_helpshort_flags = [](absl::string_view f) {
    return IsProjectSourceFile(f);
  };
  config.contains_help_flags = config.contains_helpshort_flags;
  config.normalize_filename = [](absl::string_view f) {
    return ProjectRelativeName(f);
  };
  absl::SetFlagsUsageConfig(config);
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace cddp::common
