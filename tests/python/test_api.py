"""cddp.ParameterSync against a real cddp-server: what is synchronised, and
a clear exception naming the parameter or the address for each misuse."""
import pytest
import torch

import cddp


def two_layers():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    for p in model[1].parameters():
        p.requires_grad_(False)  # frozen
    return model


def backward(model):
    model.zero_grad()
    model(torch.ones(1, 4)).sum().backward()


def expect_one_sgd_step(model, sync):
    """A backward() and step(): the first layer moves by -lr * grad (lr 0.5)
    and ends where the server is."""
    before = model[0].weight.detach().clone()
    backward(model)
    grad = model[0].weight.grad.clone()
    stats = sync.step()
    assert stats.push_error == "" and stats.step == 1
    assert torch.allclose(model[0].weight, before - 0.5 * grad)
    assert sync.matches_servers()


def test_step_applies_the_servers_sgd_to_trainable_parameters_only(server):
    model = two_layers()
    frozen = model[1].weight.clone()
    sync = cddp.ParameterSync(model, servers=[server], plaintext=True,
                              compress=False)
    assert sync.names == ["0.weight", "0.bias"]
    assert sync.num_parameters == 4 * 3 + 3
    expect_one_sgd_step(model, sync)
    assert torch.equal(model[1].weight, frozen)


def test_overlap_backward_gives_the_same_step_from_python(server):
    """The hooks sit on the accumulators, so a Python backward() pushes
    during the pass as a C++ one does; the step is the same SGD step."""
    model = two_layers()
    sync = cddp.ParameterSync(model, servers=[server], plaintext=True,
                              compress=False, overlap_backward=True)
    expect_one_sgd_step(model, sync)
    backward(model)
    model(torch.ones(1, 4)).sum().backward()  # accumulates: not with overlap
    with pytest.raises(RuntimeError, match="second backward pass"):
        sync.step()
    backward(model)
    assert sync.step().step == 3
    assert sync.matches_servers()


def test_training_through_mutual_tls(tls_server):
    address, certs = tls_server
    model = two_layers()
    sync = cddp.ParameterSync(
        model, servers=[address], compress=False, reconnect_timeout_s=30,
        tls_cert=str(certs / "worker-0.crt"),
        tls_key=str(certs / "worker-0.key"), tls_ca=str(certs / "ca.crt"))
    before = model[0].weight.detach().clone()
    backward(model)
    grad = model[0].weight.grad.clone()
    assert sync.step().push_error == ""
    assert torch.allclose(model[0].weight, before - 0.5 * grad)
    assert sync.matches_servers()


def test_a_worker_may_not_join_as_another(tls_server):
    address, certs = tls_server
    with pytest.raises(Exception, match="PERMISSION_DENIED|worker-1"):
        cddp.ParameterSync(
            two_layers(), servers=[address], worker_id=0,
            reconnect_timeout_s=5, tls_cert=str(certs / "worker-1.crt"),
            tls_key=str(certs / "worker-1.key"), tls_ca=str(certs / "ca.crt"))


def test_a_parameter_whose_grad_is_none_is_a_zero_gradient(server):
    model = two_layers()
    sync = cddp.ParameterSync(model, servers=[server], plaintext=True,
                              compress=False)
    before = model[0].bias.detach().clone()
    backward(model)
    model[0].bias.grad = None
    sync.step()
    assert torch.equal(model[0].bias, before)
    assert sync.matches_servers()


def test_a_non_contiguous_parameter_keeps_its_values(server):
    weight = torch.nn.Parameter(torch.arange(12.0).reshape(4, 3).t())
    assert not weight.is_contiguous()
    expected = weight.detach().clone()
    sync = cddp.ParameterSync([("w", weight)], servers=[server],
                              plaintext=True)
    assert torch.equal(weight, expected)  # rebased, values kept
    weight.grad = torch.ones(3, 4)
    sync.step()
    assert sync.matches_servers()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_dtypes_are_refused_naming_the_parameter(server, dtype):
    model = two_layers()
    model[0].to(dtype)
    with pytest.raises(ValueError, match=r"0\.weight is not float32"):
        cddp.ParameterSync(model, servers=[server], plaintext=True)


def test_a_parameter_reshaped_after_joining_is_refused_by_name(server):
    model = two_layers()
    sync = cddp.ParameterSync(model, servers=[server], plaintext=True)
    with torch.no_grad():
        model[0].bias.data = torch.zeros(5)
    with pytest.raises(RuntimeError, match=r"0\.bias changed its size"):
        sync.step()


def test_a_tensor_on_another_device_is_refused_by_name(server):
    meta = torch.nn.Parameter(torch.empty(3, device="meta"))
    with pytest.raises(ValueError, match=r"m is on meta"):
        cddp.ParameterSync([("cpu", torch.nn.Parameter(torch.ones(2))),
                            ("m", meta)], servers=[server], plaintext=True)


def test_cuda_tensors_on_a_cpu_only_build():
    if torch.cuda.is_available():
        pytest.skip("this PyTorch has CUDA: tested by the GPU checks")
    # PyTorch without CUDA cannot make a CUDA tensor, so none reaches cddp.
    with pytest.raises((RuntimeError, AssertionError)):
        torch.ones(2, device="cuda")


def test_unreachable_servers_raise_connection_error_naming_them():
    with pytest.raises(ConnectionError, match=r"127\.0\.0\.1:1\b"):
        cddp.ParameterSync(two_layers(), servers=["127.0.0.1:1"],
                           plaintext=True, reconnect_timeout_s=1)


def test_a_wrong_worker_id_is_refused_before_joining():
    with pytest.raises(ValueError, match="--worker_id 2 must be below"):
        cddp.ParameterSync(two_layers(), servers=["127.0.0.1:1"],
                           worker_id=2, num_workers=2)


def test_a_transport_security_must_be_chosen(monkeypatch):
    monkeypatch.delenv("CDDP_SERVERS", raising=False)
    with pytest.raises(ValueError, match="no transport security chosen.*"
                       "--plaintext"):
        cddp.ParameterSync(two_layers(), servers=["127.0.0.1:1"])
    with pytest.raises(ValueError, match="--tls_cert: .*missing.crt"):
        cddp.ParameterSync(two_layers(), servers=["127.0.0.1:1"],
                           tls_cert="/nonexistent/missing.crt",
                           tls_key="/nonexistent/k", tls_ca="/nonexistent/c")


def test_unknown_options_and_no_servers_are_refused(monkeypatch):
    monkeypatch.delenv("CDDP_SERVERS", raising=False)
    with pytest.raises(ValueError, match="no servers"):
        cddp.ParameterSync(two_layers())
    with pytest.raises(ValueError, match="unknown cddp option 'ratoi'"):
        cddp.ParameterSync(two_layers(), servers=["a:1"], ratoi=0.1)
    with pytest.raises(ValueError, match="--ratio must be in"):
        cddp.ParameterSync(two_layers(), servers=["a:1"], ratio=2.0)


def test_the_role_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CDDP_SERVERS", "a:1,b:2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("CDDP_RATIO", "0.001")
    o = cddp.options()
    assert (o.servers, o.worker_id, o.num_workers, o.ratio) == (
        ["a:1", "b:2"], 1, 2, 0.001)
    assert cddp.options(ratio=0.05).ratio == 0.05  # keywords win
