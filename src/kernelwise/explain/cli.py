"""The ``explain`` command: argument parsing only; the explanations live in the topic modules.

``add_explain_parser(subparsers)`` registers ``explain`` with one sub-command per topic on an argparse
subparsers object; each sets ``run`` to a function of the parsed arguments that prints the explanation
(or its ``--json``) and writes ``--png``/``--gif``/``--html`` files, returning the exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    from .settings import LayerSettings

PADDING_WORDS = ("valid", "same", "full")
TEXT_STEPS = 12  # equations a section shows in the terminal and --json unless --max-steps says otherwise


def size_arg(text: str) -> int | tuple[int, ...]:
    """``4`` -> 4 (square), ``4,5`` or ``4x5`` -> (4, 5).

    Example:
        >>> size_arg("3"), size_arg("4x5"), size_arg("2,1")
        (3, (4, 5), (2, 1))
    """
    parts = text.lower().replace("x", ",").replace("×", ",").split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer or H,W") from None
    return values[0] if len(values) == 1 else values


def padding_arg(text: str) -> Any:
    """An int, ``H,W``, or one of 'valid', 'same', 'full'."""
    return text if text in PADDING_WORDS else size_arg(text)


def _layer_options(p: argparse.ArgumentParser, stride: Any = 1, channels: bool = True, dilation: bool = True) -> None:
    p.add_argument("--input-size", type=size_arg, metavar="N|H,W", help="input size (an int is square in 2-D)")
    p.add_argument("--kernel-size", type=size_arg, metavar="K|KH,KW")
    p.add_argument(
        "--stride", type=size_arg, default=stride, metavar="S", help=f"default {stride or 'the kernel size'}"
    )
    p.add_argument(
        "--padding", type=padding_arg, default=0, metavar="P", help="int, H,W, or valid/same/full (default 0)"
    )
    if dilation:
        p.add_argument("--dilation", type=size_arg, default=1, metavar="D", help="default 1")
    p.add_argument("--in-channels", type=int, metavar="C")
    if channels:
        p.add_argument("--out-channels", type=int, metavar="O", help="number of filters")
    p.add_argument("--dims", type=int, choices=(1, 2), help="1-D or 2-D (default 2, or 1 for 1-D --values)")


def _output_options(p: argparse.ArgumentParser, values_help: str | None) -> None:
    if values_help:
        p.add_argument("--values", metavar="V", help=values_help)
    p.add_argument(
        "--max-steps",
        type=int,
        metavar="N",
        help="equations shown per section (default 12) and frames of --gif (default all, at most 64); 0: all",
    )
    p.add_argument("--json", action="store_true", help="print the same content as JSON")
    p.add_argument("--png", metavar="FILE", help="write a figure")
    p.add_argument("--gif", metavar="FILE", help="write an animation, one frame per step")
    p.add_argument("--html", metavar="FILE", help="write one self-contained interactive page")
    p.add_argument("--step", type=int, default=1, metavar="N", help="the step --png shows (1-based, default 1)")
    p.add_argument("--section", type=int, metavar="N", help="the section --png/--gif draw (1-based)")
    p.add_argument("--width", type=int, default=100, metavar="COLS", help="terminal width (default 100)")


VALUES = "symbols, random[:SEED], a preset ({}), or key=array;... e.g. 'input=1,2/3,4;kernel=1,0/0,1'"


def add_explain_parser(subparsers: Any) -> None:
    """Register ``explain`` and its topics on ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    explain = subparsers.add_parser(
        "explain",
        help="the recitation's worked examples for any layer: equations, figures, a web page",
        description="Worked examples of convolution, pooling and backpropagation, every number from the engine "
        "and every written-out formula checked against it.",
    )
    topics = explain.add_subparsers(dest="topic", metavar="TOPIC", parser_class=type(explain))
    topics.required = True

    p = topics.add_parser("conv", help="the sliding window, every output written out")
    _layer_options(p)
    p.add_argument("--no-bias", action="store_true", help="leave out the bias B")
    _output_options(p, VALUES.format("edge") + " (default symbols)")
    p.set_defaults(run=_run, build=_conv)

    p = topics.add_parser("stride", help="a strided output as the stride-1 output with the intermediates dropped")
    _layer_options(p, stride=2)
    _output_options(p, VALUES.format("edge") + " (default random)")
    p.set_defaults(run=_run, build=_stride)

    p = topics.add_parser("pool", help="max, mean and min pooling, and where each gradient goes")
    _layer_options(p, stride=None, channels=False)
    p.add_argument("--mode", default="max,mean,min", help="which of max,mean,min (default all three)")
    _output_options(p, VALUES.format("recitation") + " (default recitation: the 4×4 example)")
    p.set_defaults(run=_run, build=_pool)

    p = topics.add_parser("backward", help="the chain rule, then every gradient of a convolution as a sum")
    _layer_options(p)
    _output_options(p, VALUES.format("chain") + "; x=..;y=..;z=.. set the chain rule's numbers (default symbols)")
    p.set_defaults(run=_run, build=_backward)

    p = topics.add_parser("transpose", help="transposed convolution as zero insertion + convolution, and as a gradient")
    _layer_options(p, stride=2)
    p.add_argument("--output-padding", type=size_arg, default=0, metavar="OP")
    _output_options(p, "symbols, random[:SEED] or input=...;kernel=... (kernel: C_in, C_out, k..; default random)")
    p.set_defaults(run=_run, build=_transpose)

    p = topics.add_parser("scan", help="MLP vs CNN: a scanning MLP is a Conv1d with the MLP's weights")
    p.add_argument("--input-size", type=int, metavar="L", help="length of the 1-D input (default 8)")
    p.add_argument("--kernel-size", type=int, metavar="K", help="the MLP's window (default 3)")
    p.add_argument("--stride", type=int, default=1, metavar="S")
    p.add_argument("--in-channels", type=int, metavar="C")
    p.add_argument("--out-channels", type=int, metavar="H", help="hidden units = filters (default 2)")
    p.add_argument("--second-kernel", type=int, default=2, metavar="K2", help="window of the second MLP (default 2)")
    _output_options(p, "random[:SEED] (default) or input=... (a vector; channels separated by //)")
    p.set_defaults(run=_run, build=_scan)

    p = topics.add_parser("image", help="what is an image: the intensity matrix and its channels")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--crop", metavar="x,y,w,h", help="the pixels to show (column, row, width, height)")
    p.add_argument("--grayscale", action="store_true", help="convert to one channel first")
    _output_options(p, None)
    p.set_defaults(run=_run, build=_image)

    p = topics.add_parser(
        "model",
        help="a trained model's (or an ONNX file's) layers, output sizes, feature maps and filters",
        description="A run directory's model layer by layer, or an ONNX file's graph node by node.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR|MODEL.onnx")
    p.add_argument(
        "--image",
        metavar="FILE",
        action="append",
        help="image to run through it (default: the first of RUN_DIR/samples; for an ONNX file: zeros, no maps); "
        "repeat it for several images, which --html switches between (the text and --png show the first)",
    )
    _output_options(p, None)
    p.set_defaults(run=_run, build=_model)


# --------------------------------------------------------------------------- builders
def _settings(a: argparse.Namespace) -> LayerSettings:
    """The layer settings ``_layer_options`` read (each option's dest is the field's name)."""
    from dataclasses import fields

    from .settings import LayerSettings

    return LayerSettings(**{f.name: getattr(a, f.name) for f in fields(LayerSettings) if hasattr(a, f.name)})


def _conv(a: argparse.Namespace) -> Any:
    from .conv import explain_conv

    return explain_conv(_settings(a), values=a.values, bias=not a.no_bias)


def _stride(a: argparse.Namespace) -> Any:
    from .stride import explain_stride

    return explain_stride(_settings(a), values=a.values)


def _pool(a: argparse.Namespace) -> Any:
    from .pool import explain_pool

    modes = tuple(m.strip() for m in a.mode.split(",") if m.strip())
    return explain_pool(_settings(a), values=a.values, modes=modes)


def _backward(a: argparse.Namespace) -> Any:
    from .backward import explain_backward

    return explain_backward(_settings(a), values=a.values)


def _transpose(a: argparse.Namespace) -> Any:
    from .transpose import explain_transpose

    return explain_transpose(_settings(a), values=a.values, output_padding=a.output_padding)


def _scan(a: argparse.Namespace) -> Any:
    from .scan import explain_scan

    return explain_scan(a.input_size, a.kernel_size, a.stride, a.in_channels, a.out_channels, a.second_kernel, a.values)


def _image(a: argparse.Namespace) -> Any:
    from .image import explain_image

    return explain_image(a.file, a.crop, a.grayscale)


def _model(a: argparse.Namespace) -> Any:
    from .model import explain_model, explain_onnx

    image = a.image[0] if a.image else None
    if a.run_dir.endswith(".onnx") or os.path.isfile(a.run_dir):
        explanation = explain_onnx(a.run_dir, image)
    else:
        explanation = explain_model(a.run_dir, image)
    if a.html:  # the page runs every image forward and backward: only when asked for
        from .model_page import model_page

        explanation.page = model_page(a.run_dir, a.image)
    return explanation


# --------------------------------------------------------------------------- output
def _run(a: argparse.Namespace) -> int:
    """Build the explanation, print it (text or JSON) and write the files asked for."""
    from .render_text import render_json, render_text

    if a.max_steps is not None and a.max_steps < 0:
        raise UsageError(f"--max-steps must be >= 0 (0 shows all), got {a.max_steps}")
    if a.step < 1:
        raise UsageError(f"--step is 1-based, got {a.step}")
    if a.width < 1:
        raise UsageError(f"--width must be a positive number of columns, got {a.width}")
    import numpy as np

    with np.errstate(invalid="ignore"):  # inf - inf from infinite --values: engine.check reports the NaN as a mistake
        explanation = a.build(a)
    max_steps = TEXT_STEPS if a.max_steps is None else a.max_steps or None
    print(
        render_json(explanation, max_steps) if a.json else render_text(explanation, max_steps, a.width),
        end="\n" if a.json else "",
    )
    section = None if a.section is None else a.section - 1
    written = []
    if a.png:
        from .render_png import render_png

        render_png(explanation, a.png, a.step - 1, section)
        written.append(a.png)
    if a.gif:
        from .render_png import GIF_MAX_STEPS, render_gif

        render_gif(explanation, a.gif, GIF_MAX_STEPS if a.max_steps is None else a.max_steps or None, section)
        written.append(a.gif)
    if a.html:
        from .render_html import render_html

        render_html(explanation, a.html)
        written.append(a.html)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0
