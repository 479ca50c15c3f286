// Worker checkpoint records (worker/worker_checkpoint.h) from arbitrary
// bytes: as a whole file, and as the payload of a well-formed record of
// either version the decoder reads (behind the checksums). Whatever decodes
// encodes back to a record that decodes to the same checkpoint.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/record_input.h"
#include "worker/worker_checkpoint.h"

using cddp::fuzz::Check;
using cddp::fuzz::SameBits;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cddp::fuzz::FuzzInput in(data, size);
  // The whole file, or a payload in a record of version 1 or 2 of the kind
  // the decoder expects, "WRKR"; then the worker it must belong to.
  const uint8_t mode = in.Int<uint8_t>();
  const uint32_t worker = in.Int<uint8_t>() % 4;
  const std::string file = cddp::fuzz::RecordFile(mode, "WRKR", 2, in.Rest());
  auto c = cddp::worker::DecodeWorkerCheckpoint(file, worker);
  if (!c.ok()) return 0;
  Check(c->worker_id == worker, "a checkpoint of another worker was taken");
  auto again = cddp::worker::DecodeWorkerCheckpoint(
      cddp::worker::EncodeWorkerCheckpoint(c->worker_id, c->step, c->position,
                                           c->residuals, c->velocity),
      worker);
  Check(again.ok(), "an encoded checkpoint does not decode");
  Check(again->step == c->step && again->position.epoch == c->position.epoch &&
            again->position.batch == c->position.batch &&
            SameBits(again->velocity, c->velocity) &&
            SameBits(again->residuals.residual(), c->residuals.residual()),
        "the round trip changed the checkpoint");
  return 0;
}
