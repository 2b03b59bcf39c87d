"""`onionref bench`: ms per training step (or, with --analyses, per stage-2 step of every intervention and probe)
of the numba, numpy and (if installed) torch backends, in one run."""
from __future__ import annotations

import os

import click

from onionref.cli import cli
from onionref.errors import UserError
from onionref.runs import to_json

DEFAULT_HIDDEN = "48,64,128,256,512,1024"
DEFAULT_HIDDEN_ANALYSES = "48,128,512"


def parse_hidden(text: str) -> list[int]:
    """'48,64' -> [48, 64]; anything but positive integers up to 4096 is a UserError."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= 4096:
            raise UserError(f"--hidden takes comma-separated integers in 1..4096, got {text!r}")
        out.append(int(part))
    return out


@cli.command("bench")
@click.option("--hidden", default=None, help=f"Hidden sizes, comma-separated [default: {DEFAULT_HIDDEN}; "
                                             f"with --analyses {DEFAULT_HIDDEN_ANALYSES}].")
@click.option("--steps", type=int, default=20, show_default=True, help="Timed steps per backend and size.")
@click.option("--threads", type=int, default=None,
              help="Threads for every backend [default: all CPUs; with --analyses both 1 and all CPUs].")
@click.option("--backends", default="numba,numpy,torch", show_default=True,
              help="Backends to time (torch is skipped when it cannot be imported).")
@click.option("--max-seconds", type=float, default=30.0, show_default=True,
              help="Stop timing a backend at one size after this many seconds (at least 3 steps).")
@click.option("--analyses", is_flag=True, help="Time stage-2 steps (every intervention and probe), not training.")
@click.option("--methods", default=None,
              help="With --analyses: the analyses to time, comma-separated [default: all].")
@click.option("--alrnn", is_flag=True, help="Time the AL-RNN training step instead (M 50, T 100, batch 128).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON line.")
def bench_cmd(hidden, steps, threads, backends, max_seconds, analyses, methods, alrnn, as_json):
    """Milliseconds per training step (batch 256, L 9, AdamW) of each backend, with speed-ups and GFLOP/s;
    with --analyses, per stage-2 step of each intervention and probe, with one thread and with all;
    with --alrnn, per AL-RNN training step."""
    from onionref import bench, bench_analyses

    if alrnn:
        if analyses or methods is not None or hidden is not None:
            raise UserError("--alrnn takes none of --analyses, --methods, --hidden")
        return _bench_alrnn(steps, threads, backends, as_json)
    hiddens = parse_hidden(hidden or (DEFAULT_HIDDEN_ANALYSES if analyses else DEFAULT_HIDDEN))
    if steps < 1:
        raise UserError(f"--steps must be >= 1, got {steps}")
    if threads is not None and not 1 <= threads <= 4 * (os.cpu_count() or 1):
        raise UserError(f"--threads must be in 1..{4 * (os.cpu_count() or 1)}, got {threads}")
    names = [b.strip() for b in backends.split(",") if b.strip()]
    unknown = [b for b in names if b not in bench.BACKENDS]
    if not names or unknown:
        raise UserError(f"--backends takes a comma-separated subset of {','.join(bench.BACKENDS)}, got {backends!r}")
    if not max_seconds > 0:
        raise UserError(f"--max-seconds must be positive, got {max_seconds}")
    if methods is not None and not analyses:
        raise UserError("--methods only applies with --analyses")
    which = [m.strip() for m in (methods or ",".join(bench_analyses.ANALYSES)).split(",") if m.strip()]
    if not which or any(m not in bench_analyses.ANALYSES for m in which):
        raise UserError(f"--methods takes a comma-separated subset of {','.join(bench_analyses.ANALYSES)}, "
                        f"got {methods!r}")
    progress = None if as_json else (lambda msg: click.echo(f"timing {msg} ...", err=True))
    if analyses:
        res = bench_analyses.run(hiddens, which, [threads] if threads else None, steps=steps, backends=names,
                                 max_seconds=max_seconds, progress=progress)
        click.echo(to_json(res) if as_json else bench_analyses.format_table(res))
        return
    res = bench.run(hiddens, steps=steps, threads=threads, backends=names, max_seconds=max_seconds,
                    progress=progress)
    click.echo(to_json(res) if as_json else bench.format_table(res))


def _bench_alrnn(steps, threads, backends, as_json):
    from onionref.alrnn import bench as alrnn_bench

    names = [b.strip() for b in backends.split(",") if b.strip()]
    if steps < 1 or threads is not None and not 1 <= threads <= 4 * (os.cpu_count() or 1):
        raise UserError(f"--steps must be >= 1 and --threads in 1..{4 * (os.cpu_count() or 1)}")
    if not names or any(b not in alrnn_bench.BACKENDS for b in names):
        raise UserError(f"--backends takes a comma-separated subset of {','.join(alrnn_bench.BACKENDS)}, "
                        f"got {backends!r}")
    progress = None if as_json else (lambda msg: click.echo(f"timing {msg} ...", err=True))
    res = alrnn_bench.run(threads=threads, steps=steps, backends=names, progress=progress)
    click.echo(to_json(res) if as_json else alrnn_bench.format_table(res))
