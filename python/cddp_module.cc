// The native part of the `cddp` Python package (cddp._cddp): the public C++
// API (cddp/cddp.h) for PyTorch tensors. The tensors' memory goes to the
// C++ code directly (a torch.Tensor is an at::Tensor underneath): nothing
// is copied and nothing of the compression or the client is in Python.
// A Status becomes the fitting Python exception: INVALID_ARGUMENT
// ValueError, UNAVAILABLE and DEADLINE_EXCEEDED ConnectionError, the rest
// RuntimeError, each with the C++ message (which names the parameter or the
// address). Network waits release the GIL.
#include <pybind11/stl.h>
#include <torch/extension.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cddp/cddp.h"

namespace py = pybind11;

namespace {

[[noreturn]] void Raise(const absl::Status& status) {
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      throw py::value_error(message);
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      PyErr_SetString(PyExc_ConnectionError, message.c_str());
      throw py::error_already_set();
    default:
      throw std::runtime_error(message);
  }
}

template <typename T>
T ValueOrRaise(absl::StatusOr<T> v) {
  if (!v.ok()) Raise(v.status());
  return *std::move(v);
}

void OkOrRaise(const absl::Status& status) {
  if (!status.ok()) Raise(status);
}

// Every call that may wait on the servers runs without the GIL.
std::unique_ptr<cddp::ParameterSync> Create(
    std::vector<std::pair<std::string, at::Tensor>> parameters,
    const cddp::SyncOptions& options) {
  std::vector<cddp::NamedTensor> named;
  for (auto& [name, tensor] : parameters) named.push_back({name, tensor});
  absl::StatusOr<std::unique_ptr<cddp::ParameterSync>> sync;
  {
    py::gil_scoped_release no_gil;
    sync = cddp::ParameterSync::Create(std::move(named), options);
  }
  return ValueOrRaise(std::move(sync));
}

}  // namespace

PYBIND11_MODULE(_cddp, m) {
  m.doc() = "compressed-ddp's C++ API for PyTorch (see the cddp package)";

  py::class_<cddp::SyncOptions>(m, "SyncOptions")
      .def(py::init<>())
      .def_readwrite("servers", &cddp::SyncOptions::servers)
      .def_readwrite("worker_id", &cddp::SyncOptions::worker_id)
      .def_readwrite("num_workers", &cddp::SyncOptions::num_workers)
      .def_readwrite("tls_cert", &cddp::SyncOptions::tls_cert)
      .def_readwrite("tls_key", &cddp::SyncOptions::tls_key)
      .def_readwrite("tls_ca", &cddp::SyncOptions::tls_ca)
      .def_readwrite("plaintext", &cddp::SyncOptions::plaintext)
      .def_property(
          "reconnect_timeout_s",
          [](const cddp::SyncOptions& o) {
            return absl::ToDoubleSeconds(o.reconnect_timeout);
          },
          [](cddp::SyncOptions& o, double s) {
            o.reconnect_timeout = absl::Seconds(s);
          })
      .def_readwrite("compress", &cddp::SyncOptions::compress)
      .def_readwrite("ratio", &cddp::SyncOptions::ratio)
      .def_readwrite("min_compress_numel",
                     &cddp::SyncOptions::min_compress_numel)
      .def_readwrite("value_type", &cddp::SyncOptions::value_type)
      .def_readwrite("index_encoding", &cddp::SyncOptions::index_encoding)
      .def_readwrite("dgc_momentum", &cddp::SyncOptions::dgc_momentum)
      .def_readwrite("momentum_masking", &cddp::SyncOptions::momentum_masking)
      .def_readwrite("clip_norm", &cddp::SyncOptions::clip_norm)
      .def_readwrite("overlap_backward", &cddp::SyncOptions::overlap_backward)
      .def_readwrite("density_warmup_steps",
                     &cddp::SyncOptions::density_warmup_steps)
      .def_readwrite("density_warmup_start",
                     &cddp::SyncOptions::density_warmup_start)
      .def_readwrite("checkpoint_dir", &cddp::SyncOptions::checkpoint_dir)
      .def_readwrite("result_file", &cddp::SyncOptions::result_file)
      .def("validate", [](const cddp::SyncOptions& o) {
        OkOrRaise(cddp::ValidateSyncOptions(o));
      });

  m.def(
      "options_from_environment",
      [](const cddp::SyncOptions& defaults) {
        return ValueOrRaise(cddp::SyncOptionsFromEnvironment(defaults));
      },
      py::arg("defaults") = cddp::SyncOptions());

  py::class_<cddp::StepStats>(m, "StepStats")
      .def_readonly("pushed_step", &cddp::StepStats::pushed_step)
      .def_readonly("step", &cddp::StepStats::step)
      .def_property_readonly("push_error",
                             [](const cddp::StepStats& s) {
                               return s.push_status.ok()
                                          ? std::string()
                                          : s.push_status.ToString();
                             })
      .def_readonly("density", &cddp::StepStats::density)
      .def_readonly("bytes_sent", &cddp::StepStats::bytes_sent)
      .def_readonly("dense_bytes", &cddp::StepStats::dense_bytes)
      .def_readonly("bytes_received", &cddp::StepStats::bytes_received)
      .def_readonly("compress_seconds", &cddp::StepStats::compress_seconds)
      .def_readonly("push_pull_seconds", &cddp::StepStats::push_pull_seconds)
      .def_readonly("apply_seconds", &cddp::StepStats::apply_seconds);

  py::class_<cddp::ParameterSync>(m, "ParameterSync")
      .def(py::init(&Create), py::arg("parameters"), py::arg("options"))
      .def_property_readonly("step_count", &cddp::ParameterSync::step)
      .def_property_readonly("num_parameters",
                             &cddp::ParameterSync::num_parameters)
      .def_property_readonly("names", &cddp::ParameterSync::names)
      .def_property_readonly("resumed_from", &cddp::ParameterSync::resumed_from)
      .def("step",
           [](cddp::ParameterSync& s) {
             absl::StatusOr<cddp::StepStats> r;
             {
               py::gil_scoped_release no_gil;
               r = s.Step();
             }
             return ValueOrRaise(std::move(r));
           })
      .def("resync",
           [](cddp::ParameterSync& s) {
             absl::Status st;
             {
               py::gil_scoped_release no_gil;
               st = s.Resync();
             }
             OkOrRaise(st);
           })
      .def(
          "save_checkpoint",
          [](cddp::ParameterSync& s, int64_t epoch, int64_t batch) {
            OkOrRaise(s.SaveCheckpoint(epoch, batch));
          },
          py::arg("epoch") = 0, py::arg("batch") = 0)
      .def("matches_servers",
           [](cddp::ParameterSync& s) {
             absl::StatusOr<bool> r;
             {
               py::gil_scoped_release no_gil;
               r = s.MatchesServers();
             }
             return ValueOrRaise(std::move(r));
           })
      .def(
          "finish",
          [](cddp::ParameterSync& s, double test_accuracy, double final_loss) {
            absl::StatusOr<bool> r;
            {
              py::gil_scoped_release no_gil;
              r = s.Finish(test_accuracy, final_loss);
            }
            return ValueOrRaise(std::move(r));
          },
          py::arg("test_accuracy") = -1.0, py::arg("final_loss") = 0.0);
}
