"""The demo's model: an MLP trained on scikit-learn's bundled `load_digits` (no download),
exported to ONNX with its validation set. The tests and benchmarks use the same one.

Needs torch (the `distill` extra) and scikit-learn (the `demo` extra). A model is built into a
temporary folder and renamed into place in one step, under a file lock, so parallel processes
never see a half-written one.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DIGITS_VERSION = "digits-mlp-v1"
DIGITS_HIDDEN = (512, 256)


@dataclass(frozen=True)
class DigitsModel:
    """An ONNX classifier (`input` float32 [batch, 64] -> `logits` [batch, 10]) and its data.

    `train` and `val` are .npz files with `inputs` float32 [N, 64] and `labels` int64 [N].
    """

    model: Path
    train: Path
    val: Path


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def cached_build(target: Path, build: Callable[[Path], None]) -> Path:
    """Build `target` (a folder) once: into a temp folder, then rename it into place."""
    if target.is_dir():
        return target
    with _locked(target.parent / f".{target.name}.lock"):
        if target.is_dir():  # another process built it while we waited
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            build(staging)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def digits_mlp(data_dir: Path) -> DigitsModel:
    """A 64-512-256-10 ReLU MLP trained on load_digits (seeded, ~97% validation accuracy),
    built once into `data_dir/digits-mlp-v1/`."""
    folder = cached_build(data_dir / DIGITS_VERSION, _build_digits)
    return DigitsModel(
        model=folder / "model.onnx", train=folder / "train.npz", val=folder / "val.npz"
    )


def split_digits(out: Path, images: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """load_digits scaled to [0, 1] (rows [N, 64], or `images` [N, 1, 8, 8]), split 80/20
    (stratified, seeded) into out/train.npz and out/val.npz; returns the training part."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    if images:  # the channel axis added last (its strides matter to torch's conv kernels)
        inputs = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    else:
        inputs = (digits.data / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    x_train, x_val, y_train, y_val = train_test_split(
        inputs, labels, test_size=0.2, random_state=0, stratify=labels
    )
    np.savez(out / "train.npz", inputs=x_train, labels=y_train)
    np.savez(out / "val.npz", inputs=x_val, labels=y_val)
    return x_train, y_train


def fit(net: Any, optimizer: Any, inputs: np.ndarray, labels: np.ndarray, epochs: int) -> None:
    """Cross-entropy training in seeded shuffled minibatches of 64; leaves `net` in eval mode."""
    import torch

    features, targets = torch.from_numpy(inputs), torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(0)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(features), generator=generator)
        for start in range(0, len(order), 64):
            batch = order[start : start + 64]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(features[batch]), targets[batch])
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
    net.eval()


def _build_digits(out: Path) -> None:
    import torch

    x_train, y_train = split_digits(out)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    sizes = (64, *DIGITS_HIDDEN, 10)
    layers: list[torch.nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(sizes[:-1]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(sizes[-2], sizes[-1]))
    net = torch.nn.Sequential(*layers)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    fit(net, optimizer, x_train, y_train, epochs=40)
    export_onnx(
        net,
        (torch.zeros(1, 64),),
        out / "model.onnx",
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )


def export_onnx(
    module: Any,
    example: tuple[Any, ...],
    path: Path,
    *,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    **options: Any,
) -> None:
    """TorchScript-based export of a torch module: deterministic and without onnxscript.
    `options` go to torch.onnx.export (e.g. `training`, `do_constant_folding`)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            **{"opset_version": 17, "do_constant_folding": True, "dynamo": False, **options},
        )
