"""`onionref eval RUN`: exact-match accuracy of a trained run on every validation set."""
from __future__ import annotations

from pathlib import Path

import click

from onionref.cli import cli
from onionref.errors import UserError
from onionref.onion.evaluate import evaluate
from onionref.runs import to_json
from onionref.onion.train import load_run, predict_fn
from onionref.tasks.repeat import load_set, valid_sets


@cli.command("eval")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON line.")
def eval_cmd(run, as_json):
    """Exact-match accuracy of RUN on every validation set."""
    cfg, params = load_run(run)
    predict = predict_fn(cfg.backend)
    results = {}
    for name in valid_sets(cfg.symbols, cfg.min_len, cfg.max_len):
        try:
            tok, ln = load_set(name, cfg.symbols, cfg.min_len, cfg.max_len, cfg.n_train)
        except ValueError as e:
            raise UserError(str(e)) from None
        results[name] = evaluate(lambda b: predict(params, b), tok, ln, cfg.symbols, cfg.no_input)
    if as_json:
        click.echo(to_json({"run": str(run), "sets": results}))
        return
    click.echo(f"{'set':<26}{'n':>6}{'accuracy':>10}{'loss':>9}   per length")
    for name, r in results.items():
        per = " ".join(f"{L}:{a:.2f}" for L, a in r["per_length"].items())
        click.echo(f"{name:<26}{r['n']:>6}{r['accuracy']:>10.4f}{r['loss']:>9.4f}   {per}")
