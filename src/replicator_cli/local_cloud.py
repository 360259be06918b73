"""`replicator local start | stop | env`: a local cloud (the emulation with the stack provisioned) to try every
command on: `eval "$(replicator local start)"`, then `replicator mappings list`, `status`, `coverage`..."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from replicator.aws import cloudformation

from .context import AwsError, CliError, get_context
from .local import server

PORT = typer.Option("--port", min=1024, max=65535, help="Port on 127.0.0.1")


def start(
    ctx: typer.Context,
    port: Annotated[int, PORT] = 5000,
    with_samples: Annotated[
        bool, typer.Option("--with-samples", help="Seed the demo's databases, snapshots, keys and mappings")
    ] = False,
    copy_seconds: Annotated[float, typer.Option("--copy-seconds", min=0.1, help="How long each copy takes")] = 2.0,
) -> None:
    """Start a local cloud on 127.0.0.1 (moto, the doubles, the stack from template.yaml) in the background and print
    the `export` lines that point the AWS CLI and `replicator` at it.

    Example: eval "$(replicator local start --with-samples)"
    """
    cli = get_context(ctx)
    state = server.read_state(port)
    if state is not None:
        cli.err.print(f"a local cloud already runs on port {port} (pid {state['pid']}): its settings are")
    else:
        cli.err.print(f"starting a local cloud on 127.0.0.1:{port} (about 15 s)...")
        try:
            state = server.spawn(port, with_samples, copy_seconds, cli.log_level)
        except RuntimeError as error:
            raise CliError(str(error)) from error
        cli.err.print(
            f"local cloud up (pid {state['pid']}); stack {server.STACK_NAME} provisioned"
            + (", the demo's samples seeded" if with_samples else "")
            + f"; `replicator local stop --port {port}` ends it"
        )
        cli.err.print(f"the functions' logs ({state['log_level']} and above; -v or --debug for more): {state['log']}")
    _print_env(ctx, state)


def stop(ctx: typer.Context, port: Annotated[int, PORT] = 5000) -> None:
    """Stop the local cloud started by `replicator local start` on this port."""
    cli = get_context(ctx)
    state = server.read_state(port)
    if state is None:
        raise CliError(f"no local cloud runs on port {port} (`replicator local start --port {port}` starts one)")
    if not server.terminate(state):
        raise CliError(f"the local cloud (pid {state['pid']}) did not stop within 30 s")
    cli.err.print(f"local cloud on port {port} stopped (pid {state['pid']}); unset AWS_ENDPOINT_URL in your shell")


def env(
    ctx: typer.Context,
    port: Annotated[int, PORT] = 5000,
    sam_env: Annotated[
        Path | None,
        typer.Option(
            "--sam-env",
            dir_okay=False,
            help="Also write the local stack's function environments for `sam local invoke --env-vars FILE`",
        ),
    ] = None,
) -> None:
    """Print the `export` lines of the local cloud running on this port.

    Example: replicator local env --sam-env env.local.json
    """
    state = server.read_state(port)
    if state is None:
        raise CliError(f"no local cloud runs on port {port} (`replicator local start --port {port}` starts one)")
    if sam_env is not None:
        environments = _function_environments(state)
        try:
            sam_env.write_text(json.dumps(environments, indent=2) + "\n")
        except OSError as error:
            raise AwsError(f"cannot write {sam_env}: {error.strerror or error}") from error
        get_context(ctx).err.print(f"wrote the environment of {len(environments)} functions to {sam_env}")
    _print_env(ctx, state)


def _function_environments(state: dict) -> dict[str, dict[str, str]]:
    """Each function of the local stack (by logical id, as `sam local invoke --env-vars` takes them): its
    environment as the stack resolved it."""
    env = state["env"]
    return cloudformation.function_environments(server.STACK_NAME, env["AWS_DEFAULT_REGION"], env, state["endpoint"])


def _print_env(ctx: typer.Context, state: dict) -> None:
    cli = get_context(ctx)
    cli.emit(state["env"], table=lambda out: typer.echo("\n".join(server.export_lines(state))))
