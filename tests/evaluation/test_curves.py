"""ema, read_metrics_csv and phase_changes."""

from __future__ import annotations

import math

import pytest

from transferlab.evaluation import ema, phase_changes, read_metrics_csv


def test_ema_by_hand_default_factor():
    # 10; 10*0.8 + 0*0.2 = 8; 8*0.8 = 6.4; 6.4*0.8 + 10*0.2 = 7.12
    assert ema([10, 0, 0, 10]) == pytest.approx([10.0, 8.0, 6.4, 7.12])


def test_ema_by_hand_named_factor():
    assert ema([1.0, 2.0, 3.0], factor=0.5) == pytest.approx([1.0, 1.5, 2.25])


def test_ema_factor_zero_is_identity_and_empty_is_empty():
    assert ema([3.0, -1.0, 7.0], factor=0.0) == [3.0, -1.0, 7.0]
    assert ema([]) == []


def test_ema_skips_nan_and_none_without_poisoning():
    out = ema([math.nan, 4.0, None, 0.0], factor=0.5)
    assert math.isnan(out[0]) and math.isnan(out[2])
    assert out[1] == 4.0
    assert out[3] == pytest.approx(2.0)


@pytest.mark.parametrize("factor", [1.0, -0.1, 1.5])
def test_ema_rejects_bad_factor(factor):
    with pytest.raises(ValueError):
        ema([1.0], factor=factor)


def test_read_metrics_csv_numeric_string_and_missing(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(
        "epoch,train_loss,train_acc,val_loss,val_acc,lr,phase,seconds,note\n"
        "1,0.9,0.6,0.8,0.65,0.001,head,3.5,warmup\n"
        "2,0.7,0.7,,0.70,0.001,head,3.1,\n"
        "\n"
        "3,0.5,0.8,0.6,0.75,1e-05,finetune,4.0\n",
        encoding="utf-8",
    )
    metrics = read_metrics_csv(path)
    assert list(metrics) == [
        "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "phase", "seconds", "note"
    ]
    assert metrics["epoch"] == [1.0, 2.0, 3.0]
    assert metrics["lr"] == pytest.approx([1e-3, 1e-3, 1e-5])
    assert metrics["val_loss"][0] == 0.8 and math.isnan(metrics["val_loss"][1])
    assert metrics["phase"] == ["head", "head", "finetune"]
    assert metrics["note"] == ["warmup", "", ""]  # short last row padded with ""


def test_read_metrics_csv_empty_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert read_metrics_csv(empty) == {}
    header = tmp_path / "header.csv"
    header.write_text("epoch,val_loss\n", encoding="utf-8")
    assert read_metrics_csv(header) == {"epoch": [], "val_loss": []}


def test_phase_changes():
    assert phase_changes(["head", "head", "ft", "ft", "head"]) == [2, 4]
    assert phase_changes(["head"]) == []
    assert phase_changes([]) == []
