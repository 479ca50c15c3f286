// Implementation of cifar_reader.h.
#include "worker/data/cifar_reader.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/check.h"
#include "common/record_file.h"
#include "common/status_macros.h"
#include "worker/data/rng.h"

namespace cddp::worker {
namespace {

constexpr int64_t kImageBytes = kCifarChannels * kCifarSide * kCifarSide;

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void MakeCifarShaped(RawImageSet* set) {
  set->channels = kCifarChannels;
  set->rows = kCifarSide;
  set->cols = kCifarSide;
  set->num_classes = kCifarClasses;
}

// Synthetic patterns: each class's image before shift, contrast and noise,
// on a grid kMaxShift larger on every side so a shifted 32x32 window always
// fits.
constexpr int kMaxShift = 3;
constexpr int kPatternSide = kCifarSide + 2 * kMaxShift;
// Fixed, independent of --seed: train and test (and every seed) must share
// the class patterns, or there would be nothing to learn.
constexpr uint64_t kPatternKey = 0x43494641'52534e54ULL;  // "CIFARSNT"

struct ClassPattern {
  float base[kCifarChannels];
  // Centred (zero-mean-ish) grating, per channel.
  float wave[kCifarChannels][kPatternSide][kPatternSide];
};

std::vector<ClassPattern> MakePatterns() {
  std::vector<ClassPattern> patterns(kCifarClasses);
  constexpr double kPi = 3.14159265358979323846;
  for (int c = 0; c < kCifarClasses; ++c) {
    SplitMix64 rng(MixSeed(kPatternKey, static_cast<uint64_t>(c)));
    ClassPattern& p = patterns[c];
    // Orientations spread evenly over the classes (jittered) so no two
    // classes look alike; frequency and colour vary too.
    const double theta = kPi * (c + 0.3 * rng.Uniform()) / kCifarClasses;
    const double freq = 0.25 + 0.35 * rng.Uniform();  // radians per pixel
    const double phase = 2 * kPi * rng.Uniform();
    for (int ch = 0; ch < kCifarChannels; ++ch) {
      p.base[ch] = static_cast<float>(70 + 110 * rng.Uniform());
      const double amp = 30 + 40 * rng.Uniform();
      for (int y = 0; y < kPatternSide; ++y) {
        for (int x = 0; x < kPatternSide; ++x) {
          const double t = freq * (std::cos(theta) * x + std::sin(theta) * y);
          p.wave[ch][y][x] = static_cast<float>(amp * std::sin(t + phase));
        }
      }
    }
  }
  return patterns;
}

}  // namespace

absl::Status ParseCifarBatch(std::string_view bytes, const std::string& name,
                             RawImageSet* out) {
  CDDP_CHECK(out->count == 0 ||
             (out->channels == kCifarChannels && out->rows == kCifarSide &&
              out->cols == kCifarSide));
  const size_t record = static_cast<size_t>(kCifarRecordBytes);
  if (bytes.empty() || bytes.size() % record != 0) {
    return absl::DataLossError(absl::StrCat(
        name, ": ", bytes.size(),
        " bytes is not a whole number of 3073-byte CIFAR-10 records "
        "(truncated or not a CIFAR-10 binary batch)"));
  }
  const size_t n = bytes.size() / record;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t label = static_cast<uint8_t>(bytes[i * record]);
    if (label >= kCifarClasses) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": label ", static_cast<int>(label), " in record ",
                       i, " is out of range [0, 10)"));
    }
  }
  MakeCifarShaped(out);
  const size_t old_pixels = out->pixels.size();
  out->pixels.resize(old_pixels + n * kImageBytes);
  out->labels.reserve(out->labels.size() + n);
  for (size_t i = 0; i < n; ++i) {
    const char* rec = bytes.data() + i * record;
    out->labels.push_back(static_cast<uint8_t>(rec[0]));
    std::memcpy(out->pixels.data() + old_pixels + i * kImageBytes, rec + 1,
                kImageBytes);
  }
  out->count += static_cast<int64_t>(n);
  return absl::OkStatus();
}

std::vector<std::string> CifarBatchNames(bool train) {
  if (!train) return {"test_batch.bin"};
  std::vector<std::string> names;
  for (int i = 1; i <= 5; ++i) {
    names.push_back(absl::StrCat("data_batch_", i, ".bin"));
  }
  return names;
}

absl::StatusOr<RawImageSet> ReadCifarSplit(const std::string& dir, bool train) {
  RawImageSet set;
  MakeCifarShaped(&set);
  for (const std::string& name : CifarBatchNames(train)) {
    const std::string path = absl::StrCat(dir, "/", name);
    if (!IsRegularFile(path)) {
      return absl::NotFoundError(
          absl::StrCat("CIFAR-10 batch file ", path, " is missing"));
    }
    CDDP_ASSIGN_OR_RETURN(std::string bytes, common::ReadWholeFile(path));
    CDDP_RETURN_IF_ERROR(ParseCifarBatch(bytes, path, &set));
  }
  return set;
}

RawImageSet MakeSyntheticCifar(int64_t count, uint64_t seed, bool train) {
  static_assert(kCifarClasses <= 256);
  const std::vector<ClassPattern> patterns = MakePatterns();
  RawImageSet set;
  MakeCifarShaped(&set);
  set.count = count;
  set.pixels.resize(static_cast<size_t>(count * kImageBytes));
  set.labels.resize(static_cast<size_t>(count));
  SplitMix64 rng(MixSeed(seed, train ? 1 : 2));
  for (int64_t i = 0; i < count; ++i) {
    const int label = static_cast<int>(rng.Below(kCifarClasses));
    set.labels[i] = static_cast<uint8_t>(label);
    const ClassPattern& p = patterns[label];
    const int dx = static_cast<int>(rng.Below(2 * kMaxShift + 1));
    const int dy = static_cast<int>(rng.Below(2 * kMaxShift + 1));
    const float contrast = static_cast<float>(0.5 + 0.8 * rng.Uniform());
    const float brightness = static_cast<float>(40 * rng.Uniform() - 20);
    uint8_t* img = set.pixels.data() + i * kImageBytes;
    uint64_t noise_bits = 0;
    int noise_left = 0;
    for (int ch = 0; ch < kCifarChannels; ++ch) {
      const float base = p.base[ch] + brightness;
      for (int y = 0; y < kCifarSide; ++y) {
        const float* wave = p.wave[ch][y + dy] + dx;
        for (int x = 0; x < kCifarSide; ++x) {
          if (noise_left == 0) {
            noise_bits = rng.Next();
            noise_left = 8;
          }
          // Uniform noise in [-64, 63]: one byte of a 64-bit draw each.
          const float noise =
              static_cast<float>(static_cast<int>(noise_bits & 0x7f) - 64);
          noise_bits >>= 8;
          --noise_left;
          const float v = base + contrast * wave[x] + noise;
          *img++ = static_cast<uint8_t>(
              std::clamp(static_cast<int>(std::lround(v)), 0, 255));
        }
      }
    }
  }
  return set;
}

absl::StatusOr<CifarLoadResult> LoadCifar10(const std::string& data_dir,
                                            bool train,
                                            const CifarLoadOptions& options) {
  std::vector<std::string> looked;
  if (!data_dir.empty()) {
    std::vector<std::string> all = CifarBatchNames(true);
    all.push_back("test_batch.bin");
    for (const std::string& dir : {data_dir, data_dir + "/cifar-10-batches-bin",
                                   data_dir + "/cifar10"}) {
      looked.push_back(dir);
      const bool any = std::any_of(all.begin(), all.end(), [&](auto& name) {
        return IsRegularFile(absl::StrCat(dir, "/", name));
      });
      if (!any) continue;
      CifarLoadResult result;
      CDDP_ASSIGN_OR_RETURN(result.set, ReadCifarSplit(dir, train));
      result.description =
          absl::StrCat("CIFAR-10 ", train ? "train" : "test", " split from ",
                       dir, ": ", result.set.count, " images");
      return result;
    }
  }
  const std::string where =
      looked.empty() ? std::string("(no --data_dir given)")
                     : absl::StrCat("under ", absl::StrJoin(looked, ", "));
  if (!options.allow_synthetic) {
    return absl::NotFoundError(
        absl::StrCat("no CIFAR-10 binary batches found ", where));
  }
  CifarLoadResult result;
  const int64_t count =
      train ? options.synthetic_train_count : options.synthetic_test_count;
  result.set = MakeSyntheticCifar(count, options.seed, train);
  result.synthetic = true;
  result.description = absl::StrCat("no CIFAR-10 binary batches found ", where,
                                    "; using a SYNTHETIC CIFAR-shaped ",
                                    train ? "train" : "test", " set (", count,
                                    " images, seed ", options.seed, ")");
  return result;
}

}  // namespace cddp::worker
