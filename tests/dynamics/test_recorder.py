import h5py
import numpy as np
import pytest
import torch
from torch import nn

from landscape.dynamics.diagnose import Diagnosis, diagnose, store_diagnosis
from landscape.dynamics.recorder import Recorder, optimizer_hparams
from landscape.dynamics.runs import list_checkpoints, read_run
from landscape.dynamics.step_sizes import (
    effective_step_size,
    sample_positions,
    step_size_percentiles,
)
from landscape.errors import LandscapeError
from landscape.models import MLP
from tests.dynamics.steps import one_step


def tiny(seed=0):
    torch.manual_seed(seed)
    model = MLP(4, 3, hidden=(5,))
    x = torch.randn(16, 4)
    y = torch.randint(0, 3, (16,))
    return model, x, y


def test_recorder_values_equal_independent_norms(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    init = {n: p.detach().clone().double() for n, p in model.named_parameters()}
    rec = Recorder(tmp_path / "run", model, opt, checkpoint_every=None, grad_every=1)
    rec.epoch(train=(2.0, 0.25), val=3.0)
    expected = []
    for _ in range(3):
        before = {n: p.detach().clone().double() for n, p in model.named_parameters()}
        loss = one_step(model, opt, x, y)
        grads = {n: p.grad.detach().double() for n, p in model.named_parameters()}
        after = {n: p.detach().clone().double() for n, p in model.named_parameters()}
        rec.step(loss)
        rec.epoch(train=(loss, 0.5))
        expected.append((float(loss.detach()), grads, before, after))
    rec.close()
    run = read_run(tmp_path / "run")
    names = [n for n, _ in model.named_parameters()]
    assert run.layers == tuple(names)
    assert run.optimizer == "sgd" and run.hparams["momentum"] == 0.9
    ep, st = run.epochs, run.steps
    assert ep["epoch"].tolist() == [0, 1, 2, 3]
    assert ep["step"].tolist() == [0, 1, 2, 3]
    assert ep["train_loss"][0] == 2.0 and ep["train_acc"][0] == 0.25 and ep["val_loss"][0] == 3.0
    assert np.isnan(ep["val_acc"][0]) and np.isnan(ep["layer_grad_norm"][0]).all()
    assert np.isnan(ep["eff_step_p50"]).all()  # SGD is not adaptive
    for i, (loss, grads, before, after) in enumerate(expected, start=1):
        layer = [float(grads[n].norm()) for n in names]
        np.testing.assert_allclose(ep["layer_grad_norm"][i], layer, rtol=1e-6)
        total = float(torch.sqrt(sum((grads[n] ** 2).sum() for n in names)))
        np.testing.assert_allclose(st["grad_norm"][i - 1], total, rtol=1e-6)
        np.testing.assert_allclose(ep["grad_norm"][i], total, rtol=1e-6)
        np.testing.assert_allclose(st["loss"][i - 1], loss, rtol=1e-7)
        np.testing.assert_allclose(
            ep["weight_norm"][i], [float(after[n].norm()) for n in names], rtol=1e-6
        )
        ratio = [float((after[n] - before[n]).norm() / before[n].norm()) for n in names]
        np.testing.assert_allclose(ep["update_ratio"][i], ratio, rtol=1e-5)
        dist = float(torch.sqrt(sum(((after[n] - init[n]) ** 2).sum() for n in names)))
        np.testing.assert_allclose(ep["distance_from_init"][i], dist, rtol=1e-6)
    assert st["lr"].tolist() == [0.1, 0.1, 0.1]
    assert st["epoch"].tolist() == [1, 2, 3]


def test_epoch_grad_norm_is_rms_over_steps(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    rec = Recorder(tmp_path / "run", model, opt, checkpoint_every=None, grad_every=1)
    sq = []
    for _ in range(4):
        loss = one_step(model, opt, x, y)
        sq.append([float(p.grad.double().norm()) ** 2 for p in model.parameters()])
        rec.step(loss)
    rec.epoch()
    run = read_run(tmp_path / "run")
    assert run.epochs["epoch"].tolist() == [1]
    np.testing.assert_allclose(
        run.epochs["layer_grad_norm"][0], np.sqrt(np.mean(sq, axis=0)), rtol=1e-6
    )
    np.testing.assert_allclose(
        run.epochs["mean_step_loss"][0], run.steps["loss"].mean(), rtol=1e-12
    )


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: torch.optim.Adam([p], lr=0.1, eps=1e-3), lambda g: 0.1 / (g.abs() + 1e-3)),
        (lambda p: torch.optim.AdamW([p], lr=0.1, eps=1e-3), lambda g: 0.1 / (g.abs() + 1e-3)),
        (
            lambda p: torch.optim.RMSprop([p], lr=0.1, alpha=0.9, eps=1e-3),
            lambda g: 0.1 / ((0.1 * g**2).sqrt() + 1e-3),
        ),
        (lambda p: torch.optim.Adagrad([p], lr=0.1, eps=1e-3), lambda g: 0.1 / (g.abs() + 1e-3)),
    ],
    ids=["adam", "adamw", "rmsprop", "adagrad"],
)
def test_effective_step_size_closed_form_after_one_step(make, expected):
    p = nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    opt = make(p)
    g = torch.tensor([0.5, -3.0, 2.0], dtype=torch.float64)
    p.grad = g.clone()
    opt.step()
    torch.testing.assert_close(effective_step_size(opt, p), expected(g))


def test_effective_step_size_none_for_sgd_and_fresh_state():
    p = nn.Parameter(torch.zeros(2))
    assert effective_step_size(torch.optim.Adam([p]), p) is None
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = torch.ones(2)
    opt.step()
    assert effective_step_size(opt, p) is None


def test_recorder_effective_step_percentiles_for_adam(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    rec = Recorder(tmp_path / "run", model, opt, checkpoint_every=None)
    for _ in range(2):
        rec.step(one_step(model, opt, x, y))
    rec.epoch()
    run = read_run(tmp_path / "run")
    assert run.adaptive
    for i, p in enumerate(model.parameters()):
        st = opt.state[p]
        eff = 0.01 / ((st["exp_avg_sq"].double() / (1 - 0.999**2)).sqrt() + 1e-8)
        np.testing.assert_allclose(
            [run.epochs[f"eff_step_p{q}"][0, i] for q in (10, 50, 90)],
            np.percentile(eff.numpy(), [10, 50, 90]),
            rtol=1e-6,
        )


def test_probe_hook_called_every_n_steps_and_stored(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = []

    def probe(params, optimizer):
        assert optimizer is opt and set(params) == {n for n, _ in model.named_parameters()}
        calls.append(len(calls))
        return {"lambda_max": 10.0 + len(calls), "trace": float(len(calls))}

    rec = Recorder(tmp_path / "run", model, opt, probe=probe, probe_every=2, checkpoint_every=None)
    for _ in range(5):
        rec.step(one_step(model, opt, x, y))
    rec.epoch()
    run = read_run(tmp_path / "run")
    assert run.probes["step"].tolist() == [2.0, 4.0]
    assert run.probes["lambda_max"].tolist() == [11.0, 12.0]
    assert run.probes["trace"].tolist() == [1.0, 2.0]


def test_checkpoints_saved_with_documented_keys(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    rec = Recorder(tmp_path / "run", model, opt, checkpoint_every=2, checkpoint_steps=3)
    rec.epoch()
    for _ in range(2):
        for _ in range(2):
            rec.step(one_step(model, opt, x, y))
        rec.epoch()
    names = [
        c.path.name for c in list_checkpoints(tmp_path / "run", epoch_steps={0: 0, 1: 2, 2: 4})
    ]
    assert names == ["init.pt", "step_00000003.pt", "epoch_0002.pt"]
    ck = torch.load(tmp_path / "run" / "checkpoints" / "epoch_0002.pt", weights_only=True)
    assert {"model", "optimizer", "optimizer_name", "optimizer_hparams", "epoch", "step"} <= set(ck)
    assert ck["epoch"] == 2 and ck["step"] == 4 and ck["optimizer_name"] == "adam"
    for n, p in model.state_dict().items():
        assert torch.equal(ck["model"][n], p)


def test_steps_reach_disk_before_the_epoch_ends(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = Recorder(tmp_path / "run", model, opt, flush_seconds=0.0, write_share=1.0)
    rec.step(one_step(model, opt, x, y))
    rec.step(one_step(model, opt, x, y))
    with h5py.File(tmp_path / "run" / "run.h5", "r") as f:
        assert f["dynamics/step/step"][()].tolist() == [1, 2]
    rec.close()


def test_throttled_epochs_are_written_by_close(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Recorder(tmp_path / "run", model, opt, write_share=1e-6) as rec:
        rec.epoch()  # the first write is due at once; later ones wait ~1e6 x its duration
        for _ in range(3):
            rec.step(one_step(model, opt, x, y))
            rec.epoch()
        assert read_run(tmp_path / "run").epochs["epoch"].tolist() == [0]
    assert read_run(tmp_path / "run").epochs["epoch"].tolist() == [0, 1, 2, 3]


def test_first_epoch_after_steps_is_epoch_one(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Recorder(tmp_path / "run", model, opt) as rec:
        rec.step(one_step(model, opt, x, y))
        rec.epoch()
    run = read_run(tmp_path / "run")
    assert run.epochs["epoch"].tolist() == [1] and run.steps["epoch"].tolist() == [1]


def test_second_writer_is_refused(tmp_path):
    model = tiny()[0]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with (
        Recorder(tmp_path / "run", model, opt),
        pytest.raises(LandscapeError, match="being written by another process"),
    ):
        Recorder(tmp_path / "run", model, opt, resume=True)


def test_existing_run_refused_without_resume_or_overwrite(tmp_path):
    model = tiny()[0]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Recorder(tmp_path / "run", model, opt) as rec:
        rec.epoch()
    before = (tmp_path / "run" / "run.h5").read_bytes()
    with pytest.raises(LandscapeError, match="already holds this run"):
        Recorder(tmp_path / "run", model, opt)
    other = torch.optim.SGD(model.parameters(), lr=0.5)
    with pytest.raises(LandscapeError, match="different settings"):
        Recorder(tmp_path / "run", model, other, resume=True)
    assert (tmp_path / "run" / "run.h5").read_bytes() == before
    with Recorder(tmp_path / "run", model, other, overwrite=True) as rec:
        assert rec.epochs_done == -1
    assert read_run(tmp_path / "run").hparams["lr"] == 0.5


def test_resume_restores_state_and_drops_later_records(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    with Recorder(tmp_path / "run", model, opt, checkpoint_every=2, write_share=1.0) as rec:
        rec.epoch()
        for _ in range(3):
            rec.step(one_step(model, opt, x, y))
            rec.epoch()
    store_diagnosis(tmp_path / "run", Diagnosis((), ()))
    saved = torch.load(tmp_path / "run" / "checkpoints" / "epoch_0002.pt", weights_only=True)
    fresh, _, _ = tiny(seed=1)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.01)
    rec2 = Recorder(tmp_path / "run", fresh, fresh_opt, checkpoint_every=2, resume=True)
    assert (rec2.epochs_done, rec2.step_count) == (2, 2)
    for n, p in fresh.state_dict().items():
        assert torch.equal(p, saved["model"][n])
    assert fresh_opt.state_dict()["state"][0]["step"] == 2
    run = read_run(tmp_path / "run")
    assert run.epochs["epoch"].tolist() == [0, 1, 2] and run.steps["step"].tolist() == [1, 2]
    assert run.diagnosis is None  # epoch 3 was dropped, so was the diagnosis of it


def test_bad_arguments_and_misuse(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(LandscapeError, match="checkpoint_every"):
        Recorder(tmp_path / "a", model, opt, checkpoint_every=0)
    with pytest.raises(LandscapeError, match="probe_every"):
        Recorder(tmp_path / "b", model, opt, probe=lambda p, o: {}, probe_every=0)
    with pytest.raises(LandscapeError, match="write_share"):
        Recorder(tmp_path / "c", model, opt, write_share=0.0)
    with pytest.raises(LandscapeError, match="step_size_sample"):
        Recorder(tmp_path / "e", model, opt, step_size_sample=0)
    with Recorder(tmp_path / "d", model, opt) as rec:
        rec.step(one_step(model, opt, x, y))
        rec.epoch()
        with pytest.raises(LandscapeError, match="twice without a step"):
            rec.epoch()


def test_optimizer_hparams_json_friendly():
    p = nn.Parameter(torch.zeros(1))
    h = optimizer_hparams(torch.optim.Adam([p], lr=0.1, betas=(0.8, 0.99)))
    assert h["betas"] == [0.8, 0.99] and h["lr"] == 0.1 and "params" not in h


def assert_percentiles_equal_numpy(opt, p):
    """step_size_percentiles of ``p`` equal np.percentile of its full effective step size."""
    q = (0.0, 0.1, 0.5, 0.9, 1.0)
    np.testing.assert_allclose(
        step_size_percentiles(opt, [p], q)[:, 0],
        np.percentile(effective_step_size(opt, p).numpy(), [100 * v for v in q]),
        rtol=1e-12,
    )


@pytest.mark.parametrize("n", [1, 2, 7, 100, 10_001])
def test_step_size_percentiles_equal_numpy_for_any_size(n):
    torch.manual_seed(n)
    p = nn.Parameter(torch.randn(n, dtype=torch.float64))
    opt = torch.optim.Adam([p], lr=0.01)
    p.grad = torch.randn_like(p)
    opt.step()
    assert_percentiles_equal_numpy(opt, p)


def test_step_size_percentiles_per_parameter_with_nan_where_no_state():
    torch.manual_seed(0)
    a = nn.Parameter(torch.randn(50, dtype=torch.float64))
    b = nn.Parameter(torch.randn(3, 4, dtype=torch.float64))
    fresh = nn.Parameter(torch.randn(5, dtype=torch.float64))
    opt = torch.optim.RMSprop([a, b, fresh], lr=0.1)
    a.grad, b.grad = torch.randn_like(a), torch.randn_like(b)
    opt.step()
    q = (0.1, 0.5, 0.9)
    got = step_size_percentiles(opt, [a, fresh, b], q)
    assert got.shape == (3, 3) and np.isnan(got[:, 1]).all()
    for column, p in ((0, a), (2, b)):
        expected = np.percentile(effective_step_size(opt, p).numpy(), [10, 50, 90])
        np.testing.assert_allclose(got[:, column], expected, rtol=1e-12)


def test_step_size_percentiles_of_bfloat16_state():
    p = nn.Parameter(torch.ones(4, dtype=torch.bfloat16))
    opt = torch.optim.Adam([p], lr=0.1, eps=0.0)
    p.grad = torch.tensor([1.0, 2.0, 4.0, 8.0], dtype=torch.bfloat16)
    opt.step()
    got = step_size_percentiles(opt, [p], (0.0, 1.0))[:, 0]
    np.testing.assert_allclose(got, [0.1 / 8, 0.1 / 1], rtol=1e-2)


def test_recorder_refuses_a_model_without_trainable_parameters(tmp_path):
    model = nn.Linear(2, 1).requires_grad_(False)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(LandscapeError, match="no trainable parameters"):
        Recorder(tmp_path / "run", model, opt)
    assert not (tmp_path / "run" / "run.h5").exists()


def test_resume_from_init_when_no_recorded_epoch_has_a_checkpoint(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with Recorder(tmp_path / "run", model, opt, checkpoint_every=5, write_share=1.0) as rec:
        for _ in range(2):
            rec.step(one_step(model, opt, x, y))
            rec.epoch()
    fresh = tiny(seed=1)[0]
    fresh_opt = torch.optim.SGD(fresh.parameters(), lr=0.1)
    with Recorder(tmp_path / "run", fresh, fresh_opt, checkpoint_every=5, resume=True) as rec:
        assert (rec.epochs_done, rec.step_count) == (-1, 0)
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, start[k])
    run = read_run(tmp_path / "run")
    assert run.epochs["epoch"].size == 0 and run.steps["step"].size == 0


def test_gradient_norms_every_k_steps(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    rec = Recorder(tmp_path / "run", model, opt, grad_every=3)
    sq, totals = [], {}
    for step in range(1, 8):
        loss = one_step(model, opt, x, y)
        layer = [float(p.grad.double().norm()) ** 2 for p in model.parameters()]
        if step % 3 == 0:
            sq.append(layer)
            totals[step] = float(np.sqrt(sum(layer)))
        rec.step(loss)
    rec.epoch()
    rec.close()
    run = read_run(tmp_path / "run")
    assert run.grad_every == 3
    g = run.steps["grad_norm"]
    assert np.flatnonzero(np.isfinite(g)).tolist() == [2, 5]  # steps 3 and 6
    np.testing.assert_allclose(g[[2, 5]], [totals[3], totals[6]], rtol=1e-6)
    np.testing.assert_allclose(
        run.epochs["layer_grad_norm"][0], np.sqrt(np.mean(sq, axis=0)), rtol=1e-6
    )
    assert np.isfinite(run.steps["loss"]).all() and len(run.steps["loss"]) == 7
    names = [f.kind for f in diagnose(run).findings]
    assert "exploding gradients" not in names  # the unsampled steps' NaN is not an explosion


@pytest.mark.parametrize(
    "make",
    [
        lambda p: torch.optim.Adam([p], lr=0.1, amsgrad=True),
        lambda p: torch.optim.AdamW([p], lr=0.1, eps=1e-3),
        lambda p: torch.optim.RMSprop([p], lr=0.1, centered=True, momentum=0.5),
        lambda p: torch.optim.Adagrad([p], lr=0.1, lr_decay=0.1),
    ],
    ids=["adam-amsgrad", "adamw", "rmsprop-centered", "adagrad-decay"],
)
def test_step_size_percentiles_equal_numpy_on_the_full_tensor(make):
    torch.manual_seed(0)
    p = nn.Parameter(torch.randn(1001, dtype=torch.float64))
    opt = make(p)
    for _ in range(3):
        p.grad = torch.randn_like(p)
        opt.step()
    assert_percentiles_equal_numpy(opt, p)


def test_step_size_percentiles_of_a_sample_equal_numpy_on_the_sampled_entries():
    torch.manual_seed(0)
    p = nn.Parameter(torch.randn(50, 40, dtype=torch.float64))
    opt = torch.optim.Adam([p], lr=0.01)
    p.grad = torch.randn_like(p)
    opt.step()
    q = (0.1, 0.5, 0.9)
    positions = sample_positions(p.numel(), 300, p.device)
    assert positions.unique().numel() == 300 and int(positions.max()) < p.numel()
    assert torch.equal(positions, sample_positions(p.numel(), 300, p.device))
    sampled = effective_step_size(opt, p).reshape(-1)[positions].numpy()
    np.testing.assert_allclose(
        step_size_percentiles(opt, [p], q, sample=300)[:, 0],
        np.percentile(sampled, [10, 50, 90]),
        rtol=1e-12,
    )
    exact = np.percentile(effective_step_size(opt, p).numpy(), [10, 50, 90])
    np.testing.assert_allclose(step_size_percentiles(opt, [p], q, sample=2000)[:, 0], exact)


def test_recorder_samples_large_layers_and_says_so(tmp_path):
    model, x, y = tiny()  # layers of 20, 5, 15 and 3 entries
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    with Recorder(tmp_path / "run", model, opt, step_size_sample=10) as rec:
        rec.step(one_step(model, opt, x, y))
        rec.epoch()
    run = read_run(tmp_path / "run")
    assert run.step_size_sample == 10
    expected = step_size_percentiles(opt, list(model.parameters()), (0.1, 0.5, 0.9), sample=10)
    got = np.stack([run.epochs[f"eff_step_p{q}"][0] for q in (10, 50, 90)])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    exact = step_size_percentiles(opt, list(model.parameters()), (0.1, 0.5, 0.9))
    np.testing.assert_allclose(got[:, [1, 3]], exact[:, [1, 3]], rtol=1e-12)  # small: exact


def test_writes_keep_within_write_share_of_the_elapsed_time(tmp_path, monkeypatch):
    from landscape.io import run as run_io

    class Clock:  # every write lasts 1 s; training time passes only when told
        now = 0.0

        def monotonic(self):
            return self.now

    clock = Clock()
    real_update = run_io.atomic_update

    def slow_update(*args, **kwargs):
        clock.now += 1.0
        return real_update(*args, **kwargs)

    monkeypatch.setattr(run_io, "atomic_update", slow_update)
    model, x, y = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    written = []
    with Recorder(
        tmp_path / "run",
        model,
        opt,
        write_share=0.25,
        flush_seconds=100.0,
        clock=clock.monotonic,
    ) as rec:
        for epoch, train_seconds in enumerate([0.0, 2.0, 4.0, 1.0, 2.0]):
            clock.now += train_seconds
            if epoch:
                rec.step(one_step(model, opt, x, y))
            rec.epoch()
            written.append(len(read_run(tmp_path / "run").epochs.get("epoch", [])))
    # t=1 (after creating the file): the first write is free -> t=2, 1 s written.
    # t=4: 1 + 1 > 0.25 * 4, wait; t=8: 2 <= 2, write -> t=9;
    # t=10: 2 + 1 > 2.5, wait; t=12: 3 <= 3, write.
    assert written == [1, 1, 3, 3, 5]


def test_epoch_statistics_add_up_steps_written_before_the_epoch_ended(tmp_path):
    runs = {}
    for name, flush_seconds in (("each step", 0.0), ("at the end", 1e9)):
        model, x, y = tiny()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        losses, sq = [], []
        with Recorder(
            tmp_path / name, model, opt, grad_every=2, flush_seconds=flush_seconds, write_share=1.0
        ) as rec:
            for epoch_steps in (5, 3):
                for _ in range(epoch_steps):
                    loss = one_step(model, opt, x, y)
                    rec.step(loss)
                    if rec.step_count % 2 == 0:
                        sq.append([float(p.grad.double().norm()) ** 2 for p in model.parameters()])
                    losses.append(float(loss.detach()))
                rec.epoch()
        runs[name] = read_run(tmp_path / name).epochs
    ep = runs["each step"]
    np.testing.assert_allclose(ep["mean_step_loss"], [np.mean(losses[:5]), np.mean(losses[5:])])
    rms = [np.sqrt(np.mean(sq[:2], axis=0)), np.sqrt(np.mean(sq[2:], axis=0))]  # steps 2, 4 | 6, 8
    np.testing.assert_allclose(ep["layer_grad_norm"], rms, rtol=1e-6)
    for column in ("mean_step_loss", "grad_norm", "layer_grad_norm"):
        np.testing.assert_allclose(ep[column], runs["at the end"][column], rtol=1e-12)


def test_losses_given_as_floats_and_tensors(tmp_path):
    model, x, y = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Recorder(tmp_path / "run", model, opt) as rec:
        one_step(model, opt, x, y)
        rec.step(0.5)
        rec.step(one_step(model, opt, x, y).detach().new_tensor(0.25))
        rec.epoch()
    run = read_run(tmp_path / "run")
    assert run.steps["loss"].tolist() == [0.5, 0.25]
    assert run.epochs["mean_step_loss"].tolist() == [0.375]
