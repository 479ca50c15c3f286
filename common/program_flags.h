// Command-line parsing shared by the three programs (cddp-server,
// cddp-worker, cddp-launch): sets the usage message and an absl usage
// configuration under which --help lists every flag defined in this
// project's sources (absl's default lists only flags from files named after
// the program, so --help found none), with file names shown relative to the
// project root; then parses the command line.
//
// Not thread-safe: call once, from main, before any thread starts.
#ifndef CDDP_COMMON_PROGRAM_FLAGS_H_
#define CDDP_COMMON_PROGRAM_FLAGS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace cddp::common {

// Sets `usage` as the program's usage message, installs the usage
// configuration described above and parses argv with absl (--flagfile,
// --help, --helpfull ... work as absl defines them; a bad flag prints an
// error and exits). Returns the positional arguments, argv[0] first.
std::vector<char*> ParseProgramFlags(int argc, char** argv,
                                     absl::string_view usage);

// Whether `filename` (the __FILE__ of an ABSL_FLAG, or that name made
// relative to the project root as absl::CommandLineFlag::Filename() returns
// it under this configuration) is a source file of this project: under the
// project root as this build spells it (absolute, or relative to the build
// directory when ccache rewrites paths), or relative and not absl's
// ("./absl/...", "absl/...").
bool IsProjectSourceFile(absl::string_view filename);

// `filename` relative to the project root ("server/server_flags.cc"); other
// names unchanged.
std::string ProjectRelativeName(absl::string_view filename);

}  // namespace cddp::common

#endif  // CDDP_COMMON_PROGRAM_FLAGS_H_
