"""The embedded AWS emulation: moto's server on 127.0.0.1, the doubles for moto's gaps, and the provisioned stack."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import urllib.request
import warnings
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from replicator.aws import sessions

from . import doubles
from .provision import (
    LocalCoordinator,
    LocalForwarder,
    LocalStack,
    provision,
    provision_coordinator,
    provision_forwarder,
)

SOURCE_ACCOUNT = "123456789012"  # moto's default account: the replicator's own
HOME_REGION = "us-east-1"
LOCAL_EXTERNAL_ID = "replicator-local"  # the stack's ExternalId parameter in local runs
TARGET_ROLE_NAME = "rds-snapshot-replicator-target"  # target-account-role.yaml's RoleName in local runs

_LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105 - moto's fake credentials, for the local emulation only
    "AWS_SESSION_TOKEN": "testing",  # nosec B105 - as above
    "AWS_DEFAULT_REGION": HOME_REGION,
    "AWS_REGION": HOME_REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


def _quiet_libraries() -> None:
    """The emulation's own chatter stays out of the user's terminal: no line per emulated request, none for each
    resource type moto's CloudFormation skips (alarms, queue policies: the doubles stand in where it matters)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)


def _function_logs_to_stderr(level: str) -> None:
    """The functions run in this process: their logs go to stderr at the stack's LogLevel, so that stdout carries
    only the command's results (the Logger was made, at INFO on stdout, when the CLI first imported the package)."""
    from replicator.observability import logger

    logger.setLevel(level)
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler) and not isinstance(handler.stream, _CurrentStderr):
        handler.setStream(_CurrentStderr())


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written (a test runner swaps it per command; a stream kept from one
    command would be closed by the next)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def find_root(start: Path | None = None) -> Path:
    """The project folder (the one holding template.yaml): from the current folder up, else beside this package."""
    for base in (start or Path.cwd(), Path(__file__).resolve()):
        for folder in (base, *base.parents):
            if (folder / "template.yaml").is_file() and (folder / "functions").is_dir():
                return folder
    raise FileNotFoundError("template.yaml not found: run from the replicator's project folder")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCloud:
    """Start with `with LocalCloud() as cloud:`; `cloud.stack` is the provisioned application."""

    def __init__(
        self,
        root: Path | None = None,
        copy_seconds: float = 2.0,
        poll_seconds: int = 1,
        log_level: str = "WARNING",
        mapping_cache_seconds: int = 60,
        parameters: dict[str, str] | None = None,
        port: int | None = None,
        coordinator_account: str | None = None,
        coordinator_parameters: dict[str, str] | None = None,
    ):
        self.root = root or find_root()
        self.mapping_cache_seconds = mapping_cache_seconds
        self.parameters = parameters or {}  # more stack parameter overrides
        self.log_level = log_level
        self.copy_seconds = copy_seconds
        self.poll_seconds = poll_seconds
        self.port = port or _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._saved_env: dict[str, str | None] = {}
        self.coordinator_account = coordinator_account
        self.coordinator_parameters = coordinator_parameters or {}
        self.coordinator: LocalCoordinator | None = None  # coordinator.yaml in the vault, with a shared pool
        self.stack: LocalStack
        self.doubles: doubles.Doubles

    def _setenv(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def __enter__(self) -> LocalCloud:
        _quiet_libraries()
        self.server.start()
        self._setenv({**_LOCAL_ENV, "AWS_ENDPOINT_URL": self.endpoint, "MOTO_PORT": str(self.port)})
        self._post("/moto-api/reset", {})  # moto's state is per process: start from nothing
        self._post(
            "/moto-api/config", {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
        )
        sessions.reset_cache()
        self.doubles = doubles.install(copy_seconds=self.copy_seconds)
        # the emulated copies take seconds, not hours: the stack's parameters make it poll accordingly
        parameters = {
            "PollFloorSeconds": str(self.poll_seconds),
            "PollCeilingSeconds": str(self.poll_seconds),
            "LogLevel": self.log_level,
            "MappingCacheSeconds": str(self.mapping_cache_seconds),
            "ExternalId": LOCAL_EXTERNAL_ID,
            **self.parameters,
        }
        coordinator_env: dict[str, str] = {}
        if self.coordinator_account:
            # first: the stack and the vault's role are configured with its table
            self.coordinator = provision_coordinator(
                self.root, self.coordinator_account, HOME_REGION, self.coordinator_parameters
            )
            parameters["SharedSlotPoolTableArn"] = self.coordinator.table_arn
            parameters["SharedSlotPoolRoleArn"] = f"arn:aws:iam::{self.coordinator_account}:role/{TARGET_ROLE_NAME}"
            for function in self.coordinator.functions.values():
                coordinator_env.update(function.environment)
        self.stack = provision(self.root, region=HOME_REGION, parameters=parameters)
        env: dict[str, str] = {}
        for function in self.stack.functions.values():
            env.update(function.environment)  # the functions' environment, as the template resolved it
        # the emulation runs every function in this process, with one environment: the coordinator's own variables
        # (POOL_*, PER_ACCOUNT_CAP) are added, those it shares with the replicator's (Powertools') are the stack's
        self._setenv({**{k: v for k, v in coordinator_env.items() if k not in env}, **env})
        _function_logs_to_stderr(self.log_level)
        self.doubles.lambda_dispatcher.register(self.stack.functions.values())
        if self.coordinator is not None:
            self.doubles.lambda_dispatcher.register(self.coordinator.functions.values())
        from replicator.settings import get_settings

        get_settings.cache_clear()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.doubles.wait_idle(timeout=30)
        self.stop_executions()
        self.doubles.uninstall()
        self.server.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        sessions.reset_cache()

    def add_stack(self, account: str, stack_name: str, parameters: dict[str, str] | None = None) -> LocalStack:
        """A second replicator stack, template.yaml itself in another (workload) account, with the emulation's local
        timings: its functions act in that account and read their own settings, as they would in its Lambda."""
        local = {
            "PollFloorSeconds": str(self.poll_seconds),
            "PollCeilingSeconds": str(self.poll_seconds),
            "LogLevel": self.log_level,
            "MappingCacheSeconds": str(self.mapping_cache_seconds),
            "ExternalId": LOCAL_EXTERNAL_ID,
        }
        stack = provision(self.root, stack_name, HOME_REGION, {**local, **(parameters or {})}, account)
        for function in stack.functions.values():
            function.own_settings = True
        self.doubles.lambda_dispatcher.register(stack.functions.values())
        return stack

    def add_forwarder(self, region: str, home_event_bus_arn: str | None = None) -> LocalForwarder:
        """forwarder.yaml in a source region, sending to the stack's HomeEventBusArn output (or the bus given)."""
        bus = home_event_bus_arn or self.stack.outputs["HomeEventBusArn"]
        return provision_forwarder(self.root, region, bus)

    def stop_executions(self, timeout: float = 10.0) -> None:
        """Stop executions still running, so that none outlives the emulation (moto may block stopping one that
        waits for a task token: give up after `timeout` seconds rather than hang)."""

        def stop() -> None:
            sfn = boto3.client("stepfunctions")
            running = sfn.list_executions(stateMachineArn=self.stack.state_machine_arn, statusFilter="RUNNING")
            for execution in running["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"], cause="local emulation stopped")

        stopper = threading.Thread(target=stop, name="stop-executions", daemon=True)
        stopper.start()
        stopper.join(timeout)

    def _post(self, path: str, body: dict) -> None:
        request = urllib.request.Request(  # noqa: S310 (loopback only)
            self.endpoint + path, data=json.dumps(body).encode(), method="POST"
        )
        # nosec B310 - the emulation's own http endpoint on 127.0.0.1, never a user-given URL
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # nosec B310
            response.read()
