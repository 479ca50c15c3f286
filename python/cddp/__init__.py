"""compressed-ddp for PyTorch: train your model on compressed-ddp's parameter
servers by adding three lines to a training script::

    import cddp
    sync = cddp.ParameterSync(model)      # joins the servers
    for x, y in loader:
        optimizer.zero_grad()             # or model.zero_grad()
        loss_fn(model(x), y).backward()
        sync.step()                       # instead of optimizer.step()
    sync.finish()

The servers run the optimizer (cddp-launch's --lr, --momentum, --optimizer),
so a local optimizer is only used to zero the gradients, if at all.
step() takes every trainable parameter's .grad, adds the worker's
error-feedback residual, sends only the Top-K entries to the shards that own
them, and writes the servers' reply into the parameters; the compression and
the client are the C++ library's (cddp._cddp), working on the tensors'
memory directly.

The worker's role comes from the environment cddp-launch sets
(CDDP_SERVERS, CDDP_WORKER_ID or RANK, CDDP_NUM_WORKERS or WORLD_SIZE, and
its worker flags as CDDP_<FLAG>), or from keyword arguments, which win:
``cddp.ParameterSync(model, servers=["h:p", ...], worker_id=0,
num_workers=2, ratio=0.01)``.
"""

import os

import torch  # loads LibTorch before the native module

from . import _cddp
from ._cddp import StepStats, SyncOptions

__all__ = ["ParameterSync", "SyncOptions", "StepStats", "options"]


def options(**overrides):
    """The SyncOptions of this worker: from the environment when CDDP_SERVERS
    is set, then each keyword (a SyncOptions field) on top. ValueError names
    an unknown keyword, a malformed variable or a value out of range."""
    if "CDDP_SERVERS" in os.environ and "servers" not in overrides:
        o = _cddp.options_from_environment()
    else:
        o = SyncOptions()
    for name, value in overrides.items():
        if name.startswith("_") or not hasattr(o, name):
            raise ValueError(f"unknown cddp option {name!r}")
        setattr(o, name, value)
    if not o.servers:
        raise ValueError(
            "no servers: run under cddp-launch (which sets CDDP_SERVERS) or "
            "pass servers=['host:port', ...]")
    o.validate()
    return o


def _named_parameters(model):
    """(name, tensor) pairs from a Module, (name, tensor) pairs, or tensors."""
    if isinstance(model, torch.nn.Module):
        return list(model.named_parameters())
    pairs = []
    for i, p in enumerate(model):
        if isinstance(p, torch.Tensor):
            pairs.append((f"#{i}", p))
        elif (isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
              and isinstance(p[1], torch.Tensor)):
            pairs.append(p)
        else:
            raise TypeError(
                f"parameter {i} is a {type(p).__name__}, not a tensor or a "
                "(name, tensor) pair")
    return pairs


class ParameterSync:
    """Keeps a model's trainable parameters in step with the servers.

    Synchronised: every float32 parameter with requires_grad, in the
    module's order; frozen ones are left alone. A parameter whose .grad is
    None in a step counts as a zero gradient. Parameters must all be on the
    CPU, or all on one CUDA device (with a CUDA build). On the CPU they are
    rebased onto one flat buffer the servers' replies are written into (their
    values and identity are kept): do not replace a parameter's .data
    afterwards (step() raises RuntimeError naming it).

    Errors: ValueError (a parameter that is not float32, a bad option, a
    wrong worker id), ConnectionError (servers unreachable, naming the
    address), RuntimeError (everything else, e.g. a layout that differs
    from the job's).
    """

    def __init__(self, model, **options_):
        self.options = options(**options_)
        self._sync = _cddp.ParameterSync(_named_parameters(model), self.options)

    @property
    def step_count(self):
        """The job's step: the next one to push."""
        return self._sync.step_count

    @property
    def names(self):
        """The parameters synchronised, in order."""
        return self._sync.names

    @property
    def num_parameters(self):
        return self._sync.num_parameters

    @property
    def resumed_from(self):
        """The checkpoint step the residuals were resumed from, or None."""
        return self._sync.resumed_from

    def step(self):
        """Compress, push, pull and write the reply into the parameters
        (after backward()). Returns a StepStats; a push that failed is in
        its push_error (the worker has rejoined the servers; nothing is
        lost). ValueError for a NaN/inf gradient, naming the tensor."""
        return self._sync.step()

    def resync(self):
        """Join the servers again and take their values and step."""
        self._sync.resync()

    def save_checkpoint(self, epoch=0, batch=0):
        """Write the residuals (and DGC velocity) to checkpoint_dir."""
        self._sync.save_checkpoint(epoch, batch)

    def matches_servers(self):
        """Whether the parameters hold exactly the servers' values."""
        return self._sync.matches_servers()

    def finish(self, test_accuracy=-1.0, final_loss=0.0):
        """Check against the servers and write the result cddp-launch
        reports (CDDP_RESULT_FILE): test_accuracy in [0, 1] (-1: not
        evaluated) and the last training loss are the caller's. Returns
        matches_servers()."""
        return self._sync.finish(float(test_accuracy), float(final_loss))
