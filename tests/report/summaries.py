"""Run summaries with known properties, for the explanation, figure and io tests."""

from landscape.dynamics.diagnose import Finding
from landscape.dynamics.summary import EdgeTime
from landscape.records import RunSummary

NAN = float("nan")


def summary(name: str, **kw: object) -> RunSummary:
    """A run summary named ``name`` with middling defaults; ``kw`` sets the fields a test is about."""
    base = dict(
        name=name,
        label=name,
        optimizer="sgd",
        lr=0.1,
        epochs=10,
        steps=100,
        epochs_to_train_target=None,
        steps_to_train_target=None,
        epochs_to_val_target=None,
        steps_to_val_target=None,
        final_train_loss=1.0,
        final_train_acc=0.5,
        final_val_loss=1.2,
        final_val_acc=0.4,
        loss_gap=0.2,
        acc_gap=0.1,
        best_val_loss=1.2,
        best_val_epoch=10,
        distance_travelled=5.0,
        distance_from_init=4.0,
        lambda_max=10.0,
        precond_lambda_max=NAN,
        trace=100.0,
        trace_stderr=1.0,
        threshold=20.0,
        stability_ratio=0.5,
        max_stability_ratio=0.5,
        edge_epoch=None,
        profile_rise=0.1,
    )
    base.update(kw)
    return RunSummary(**base)


FAST_FLAT = summary(
    "fast",
    label="Adam",
    epochs_to_val_target=2,
    steps_to_val_target=20,
    epochs_to_train_target=3,
    steps_to_train_target=30,
    lambda_max=5.0,
    final_val_loss=0.8,
    final_val_acc=0.75,
    loss_gap=0.6,
    distance_from_init=9.0,
    distance_travelled=12.0,
    findings=(Finding("overfitting", 4, None, "validation loss rose from 0.7 to 0.8"),),
)
SLOW_SHARP = summary(
    "slow",
    label="SGD",
    epochs_to_val_target=8,
    steps_to_val_target=80,
    epochs_to_train_target=9,
    steps_to_train_target=90,
    lambda_max=50.0,
    final_val_loss=1.1,
    final_val_acc=0.6,
    loss_gap=0.05,
    distance_from_init=2.0,
    **EdgeTime(5, 9, steps=40, epochs=4.0, share=0.4, median_ratio=1.01).summary_fields(),
    max_stability_ratio=1.1,
    findings=(Finding("divergence", 6, None, "loss left its initial 2.3 for good"),),
)
