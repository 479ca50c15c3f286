// Internals shared by the kernel files of common/cuda/: the tile geometry,
// the device-side state of one selection, and the scratch a Workspace owns.
// Not part of the public interface (compression_kernels.h).
#ifndef CDDP_COMMON_COMPRESS_CUDA_DETAIL_WORKSPACE_BUFFERS_H_
#define CDDP_COMMON_COMPRESS_CUDA_DETAIL_WORKSPACE_BUFFERS_H_

#include <cstddef>
#include <cstdint>

namespace cddp::cuda::detail {

// Streaming kernels work on tiles of kTile elements: kThreads threads, each
// holding kItems elements "striped" (item j of thread t is element
// j * kThreads + t of the tile), so every load and store is coalesced.
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kItems = 16;
constexpr uint32_t kTile = kThreads * kItems;  // 4096
// Candidate slots per tile in the fast pass; a tile with more candidates
// overflows and the step selects over the whole residual instead.
constexpr uint32_t kSlotsPerTile = kTile / 4;
// Radix select digits: key bits [30:20], [19:10], [9:0] (keys are 31-bit).
constexpr int kDigitBins = 2048;
constexpr int kPasses = 3;
// Blocks per SM for the grid-stride kernels: all resident at once (their
// __launch_bounds__ holds them to it), so no block starts late.
constexpr int kBlocksPerSm = 3;

// One selection's state, in device memory. prepare resets it; later kernels
// read what earlier ones wrote (kernel boundaries order the accesses).
struct SelectState {
  uint32_t threshold;  // fast pass: candidates have key >= threshold
  uint32_t overflow;   // some tile had more than kSlotsPerTile candidates
  // The elements selected from, in ascending index order: the candidates
  // or the whole array (source_index == nullptr: element e is index e).
  const float* source_value;
  const uint32_t* source_index;
  uint32_t source_count;
  // Radix select: the key bits decided so far, and how many elements are
  // still to be taken among those whose key starts with them. After the
  // last pass, prefix is T (the k-th largest key) and k_left the number of
  // elements with key == T to take (the lowest-indexed ones).
  uint32_t prefix;
  uint32_t k_left;
  uint32_t blocks_done;  // the histogram kernels' last-block counter
  uint32_t hist[kDigitBins];
};

// Everything a Workspace owns (device memory unless marked).
struct WorkspaceBuffers {
  size_t max_n = 0;
  uint32_t max_tiles = 0;
  int grid = 0;  // blocks for the grid-stride kernels: kBlocksPerSm * SMs

  SelectState* state = nullptr;
  uint32_t* batch_failed = nullptr;  // StepArgs::continues_batch
  uint32_t* sample_keys = nullptr;   // common::kMaxSampleSize
  uint32_t* slot_index = nullptr;    // max_tiles * kSlotsPerTile
  float* slot_value = nullptr;
  uint32_t* tile_count = nullptr;  // max_tiles
  uint32_t* tile_offset = nullptr;
  uint32_t* cand_index = nullptr;  // max_tiles * kSlotsPerTile
  float* cand_value = nullptr;
  // Per tile: (# keys > T) << 32 | (# keys == T), and its exclusive scan.
  unsigned long long* tile_pair = nullptr;  // max_tiles
  unsigned long long* tile_pair_offset = nullptr;
  void* scan_temp = nullptr;  // CUB scan scratch
  size_t scan_temp_bytes = 0;
  double* partials = nullptr;  // grid, for the sum of squares
  uint32_t* partials_done = nullptr;

  ~WorkspaceBuffers();  // frees whatever was allocated
};

inline uint32_t TilesFor(size_t n) {
  return static_cast<uint32_t>((n + kTile - 1) / kTile);
}

}  // namespace cddp::cuda::detail

#endif  // CDDP_COMMON_COMPRESS_CUDA_DETAIL_WORKSPACE_BUFFERS_H_
