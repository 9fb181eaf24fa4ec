"""``landscape curvature-map``: Taylor model and λ_max/λ_min map over a stored surface."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
import numpy as np

from landscape.cli import logs
from landscape.cli.curvature_options import dtype_option, seed_option
from landscape.cli.limits import limit_options
from landscape.cli.options import (
    count_option,
    data_options,
    forwarded,
    model_options,
    overwrite_option,
    positive_option,
    task_options,
    verbosity_options,
)
from landscape.cli.threads import threads_option

if TYPE_CHECKING:
    from landscape.distributed import Context


@click.command("curvature-map")
@threads_option
@click.argument("surface", type=click.Path(exists=True, dir_okay=False))
@model_options
@data_options
@task_options
@positive_option(
    "--tol",
    1e-2,
    "Lanczos residual tolerance at each grid point, relative to each eigenvalue: "
    "||Hv - λv|| <= tol |λ| at both ends.",
)
@count_option("--max-iter", 100, "Most Lanczos steps per end.")
@click.option(
    "--taylor/--no-taylor",
    default=True,
    show_default=True,
    help="Store the second-order Taylor model and its residual.",
)
@click.option(
    "--map/--no-map",
    "do_map",
    default=True,
    show_default=True,
    help="Compute λ_max, λ_min, |λ_min/λ_max| per point.",
)
@overwrite_option("Replace a curvature map made with different settings.")
@seed_option
@dtype_option
@click.pass_context
@verbosity_options
@limit_options
def command(ctx: click.Context, context: Context, **kw: Any) -> None:
    """Curvature over an existing surface, stored in the same file.

    The quadratic model L + g·d + ½dᵀHd on the surface's grid goes to
    curvature/taylor (with its residual against train_loss); λ_max, λ_min
    and |λ_min/λ_max| (Li et al. 2018) at every grid point go to
    curvature/map, committed as they are computed. Re-running resumes.
    The checkpoint, data (after --max-samples) and loss must be those the
    surface was computed with.

    \b
    Example:
      landscape curvature-map surf.h5 --model mlp --checkpoint final.pt --data mnist1d
    """  # noqa: D301 (\b and \\ are click's no-rewrap mark and a shell line break)
    progress = logs.configure(ctx)
    from landscape.cli.curvature_options import setup_from
    from landscape.curvature.surface_map import check_same_inputs, curvature_map, taylor_model
    from landscape.io.curvature import write_taylor
    from landscape.io.surface import read_surface

    if not kw["taylor"] and not kw["do_map"]:
        raise click.UsageError("nothing to do: both --no-taylor and --no-map given")
    grid = read_surface(kw["surface"], with_vectors=True)
    main = context.is_main
    progress = progress and main
    setup = setup_from(kw, context)
    check_same_inputs(grid, setup.identity, setup.objective.split)
    config = {**setup.identity, "surface": kw["surface"]}
    if kw["taylor"]:
        model = taylor_model(setup.objective, setup.params, grid, context=context)
        if main:
            write_taylor(kw["surface"], model, config)
        if progress:
            worst = (
                float(np.nanmax(np.abs(model.residual)))
                if np.isfinite(model.residual).any()
                else np.nan
            )
            click.echo(f"taylor: largest |residual| {worst:.4g} (loss at origin {model.loss0:.4g})")
    if kw["do_map"]:
        result = curvature_map(
            setup.objective,
            setup.params,
            grid,
            **forwarded(kw, "tol max_iter seed overwrite"),
            out=kw["surface"],
            config=config,
            progress=progress,
            context=context,
        )
        if progress:
            click.echo(
                f"map: {int(result.done.sum())}/{result.done.size} points, "
                f"λ_max {float(np.nanmax(result.lambda_max)):.4g}, "
                f"max |λ_min/λ_max| {float(np.nanmax(result.ratio)):.3g}"
            )
    if main:
        parts = [name for name, on in (("taylor", kw["taylor"]), ("map", kw["do_map"])) if on]
        click.echo(f"{kw['surface']}: curvature/" + "+".join(parts), err=not progress)
