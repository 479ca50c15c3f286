// Running totals of what compression did: how many calls, elements in and
// out, and bytes on the wire against the dense fp32 equivalent. A plain value
// type; not thread-safe (each owner keeps its own and merges if it needs to).
#ifndef CDDP_COMMON_COMPRESS_COMPRESSION_STATS_H_
#define CDDP_COMMON_COMPRESS_COMPRESSION_STATS_H_

#include <cstdint>

namespace cddp::common {

struct CompressionStats {
  uint64_t calls = 0;
  uint64_t elements_in = 0;   // elements offered to the selector
  uint64_t elements_out = 0;  // elements selected
  uint64_t wire_bytes = 0;    // encoded bytes actually sent
  uint64_t dense_bytes = 0;   // what sending the same tensors dense costs

  void RecordSelection(uint64_t in, uint64_t out) {
    ++calls;
    elements_in += in;
    elements_out += out;
  }
  void RecordWire(uint64_t wire, uint64_t dense_equivalent) {
    wire_bytes += wire;
    dense_bytes += dense_equivalent;
  }
  void Merge(const CompressionStats& o) {
    calls += o.calls;
    elements_in += o.elements_in;
    elements_out += o.elements_out;
    wire_bytes += o.wire_bytes;
    dense_bytes += o.dense_bytes;
  }
  // Fraction of offered elements that were selected (0 when none offered).
  double SelectedFraction() const {
    return elements_in == 0 ? 0.0
                            : static_cast<double>(elements_out) /
                                  static_cast<double>(elements_in);
  }
  // 1 - wire/dense: the bandwidth saved (0 when nothing was sent).
  double Saving() const {
    return dense_bytes == 0 ? 0.0
                            : 1.0 - static_cast<double>(wire_bytes) /
                                        static_cast<double>(dense_bytes);
  }
  // Wire bytes per selected element.
  double BytesPerElement() const {
    return elements_out == 0 ? 0.0
                             : static_cast<double>(wire_bytes) /
                                   static_cast<double>(elements_out);
  }
};

}  // namespace cddp::common

#endif  // CDDP_COMMON_COMPRESS_COMPRESSION_STATS_H_
