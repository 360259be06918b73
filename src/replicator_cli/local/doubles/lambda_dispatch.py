"""Lambda's invocation of a function's code: the handler runs, with Lambda's error contract (the LambdaDispatcher)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from unittest.mock import patch

import boto3
from botocore.endpoint import Endpoint
from moto.awslambda_simple.models import LambdaSimpleBackend

from replicator.aws import sessions

from ..provision import LocalFunction


@dataclass
class LocalContext:
    """The parts of a Lambda context that Powertools reads."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class LambdaProcessCrash(BaseException):
    """The emulated Lambda process died (raised from a botocore hook, so no `except Exception` in a handler sees it)."""


class LambdaDispatcher:
    """AWS Lambda runs the function's code when it is invoked: moto 5.2.5 without Docker echoes the payload instead.

    This runs the real handler of a provisioned function, in-process, with Lambda's error contract (FunctionError +
    errorType), synchronously or asynchronously (an asynchronous invocation that fails is retried twice, as Lambda
    does). For fault tests it can make an invocation time out after the handler ran (Sandbox.Timedout: the work is
    done, the result lost), or crash the function just before a chosen AWS call (Runtime.ExitError: the calls before
    it happened, the ones after did not). It also notes each AWS call a handler makes (least privilege is checked on
    them). Invocations of functions it does not know go to moto.
    """

    def __init__(self) -> None:
        self.functions: dict[str, LocalFunction] = {}
        self._modules: dict[str, ModuleType] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.invocations: list[tuple[str, str]] = []  # (function logical id, "ok" | error type)
        self.async_errors: list[str] = []
        self.timeouts: dict[str, int] = {}  # function logical id -> how many invocations time out after running
        self.crashes: dict[str, int] = {}  # botocore event (e.g. before-call.sfn.StartExecution) -> how many crashes
        self._in_lambda = threading.local()
        self.async_retries = 2
        self.async_retry_delay = 0.5  # Lambda waits minutes; the emulation half a second
        # (function logical id, IAM action, made through an assumed role?) of every AWS call a handler made
        self.calls: set[tuple[str, str, bool]] = set()

    def install(self, patches: ExitStack) -> None:
        """Lambda's Invoke runs the function's handler (moto's LambdaSimpleBackend.invoke, for the functions known)."""
        dispatcher = self
        original = LambdaSimpleBackend.invoke

        def invoke(backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any):
            if not dispatcher.knows(function_name):
                return original(backend, function_name, qualifier, body, headers, response_headers)
            payload = json.loads(body) if body else {}
            if headers.get("X-Amz-Invocation-Type") == "Event":
                dispatcher.invoke_async(function_name, payload)
                return b""
            result, error = dispatcher.invoke(function_name, payload)
            if error:
                response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(result, default=str).encode()

        patches.enter_context(patch.object(LambdaSimpleBackend, "invoke", invoke))

        # every client's requests, whatever session made it (Powertools' providers make their own)
        original_send = Endpoint._send

        def send(endpoint: Endpoint, request: Any) -> Any:
            dispatcher._in_own_account(request)
            return original_send(endpoint, request)

        patches.enter_context(patch.object(Endpoint, "_send", send))

        # ...and knows its own account (REPLICATOR_ACCOUNT_ID in its own Lambda; the process's environment is the
        # first stack's): the account its target-role sessions are tagged with (aws/sessions.py)
        original_account = sessions.own_account

        def own_account() -> str:
            in_lambda = dispatcher._in_lambda
            account = getattr(in_lambda, "account", "") if getattr(in_lambda, "active", False) else ""
            return account or original_account()

        patches.enter_context(patch.object(sessions, "own_account", own_account))

    def register(self, functions: Iterable[LocalFunction]) -> None:
        for function in functions:
            self.functions[function.name] = function

    def _handler(self, function: LocalFunction) -> Callable[[dict, Any], Any]:
        with self._lock:
            module = self._modules.get(function.name)
            if module is None:
                module_file, _handler_name = function.handler.rsplit(".", 1)
                unique = f"_replicator_fn_{function.name.replace('-', '_')}"  # one per function: two stacks, two
                spec = importlib.util.spec_from_file_location(unique, function.code_dir / f"{module_file}.py")
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load the handler of {function.name} from {function.code_dir}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[unique] = module
                spec.loader.exec_module(module)
                if function.own_settings and hasattr(module, "get_settings"):
                    # the process's environment is the first stack's: this one reads its own, as in its own Lambda
                    from replicator.settings import settings_from

                    own = settings_from(function.environment)
                    module.get_settings = lambda own=own: own  # type: ignore[attr-defined]
                self._modules[function.name] = module
        return getattr(module, function.handler.rsplit(".", 1)[1])

    def invoke(self, function_name: str, payload: Any) -> tuple[Any, str | None]:
        """(result, error type) of one invocation; an exception becomes Lambda's error payload."""
        function = self.functions[function_name.split(":function:")[-1].split(":")[0]]
        account = function.account or "123456789012"
        context = LocalContext(function.name, f"arn:aws:lambda:us-east-1:{account}:function:{function.name}")
        self._in_lambda.active = True
        self._in_lambda.function = function.logical_id
        self._in_lambda.account = function.account
        try:
            result = self._handler(function)(payload, context)
        except LambdaProcessCrash as crash:
            self.invocations.append((function.logical_id, "Runtime.ExitError"))
            return {"errorType": "Runtime.ExitError", "errorMessage": f"process exited: {crash}"}, "Runtime.ExitError"
        except Exception as error:
            self.invocations.append((function.logical_id, type(error).__name__))
            return {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error),
            }, type(error).__name__
        finally:
            self._in_lambda.active = False
        with self._lock:
            timed_out = self.timeouts.get(function.logical_id, 0) > 0
            if timed_out:
                self.timeouts[function.logical_id] -= 1
        if timed_out:
            self.invocations.append((function.logical_id, "Sandbox.Timedout"))
            message = f"{context.aws_request_id} Task timed out after 60.00 seconds"
            return {"errorType": "Sandbox.Timedout", "errorMessage": message}, "Sandbox.Timedout"
        self.invocations.append((function.logical_id, "ok"))
        return result, None

    def invoke_async(self, function_name: str, payload: Any) -> None:
        def run() -> None:
            for attempt in range(1 + self.async_retries):
                _, error = self.invoke(function_name, payload)
                if not error:
                    return
                if attempt < self.async_retries:
                    time.sleep(self.async_retry_delay)
            self.async_errors.append(f"{function_name}: {error}")

        thread = threading.Thread(target=run, name=f"lambda-{function_name}", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def track(self, thread: threading.Thread) -> None:
        """A thread of another double that invokes functions: wait_idle waits for it too."""
        with self._lock:
            self._threads.append(thread)

    def record_calls(self) -> None:
        """Note each AWS call a handler makes, as the IAM action(s) it needs (least privilege is checked on them)."""
        boto3._get_default_session()._session.register("before-call", self._note_call, unique_id="record-calls")

    def unregister_hooks(self) -> None:
        """Take this dispatcher's hooks off boto3's default session (it outlives the emulation: a hook left there
        would keep a later emulation's calls going to this dispatcher, and botocore ignores a second registration
        under the same id)."""
        session = boto3._get_default_session()._session
        session.unregister("before-call", unique_id="record-calls")
        for event_name in list(self.crashes):
            session.unregister(event_name, unique_id=f"crash-{event_name}")

    def _note_call(self, model: Any, params: Any, request_signer: Any = None, **_: Any) -> None:
        if not getattr(self._in_lambda, "active", False):
            return
        credentials = getattr(request_signer, "_credentials", None)
        access_key = getattr(credentials, "access_key", None)
        assumed = access_key is not None and access_key != os.environ.get("AWS_ACCESS_KEY_ID")
        prefix = model.service_model.signing_name
        if model.name == "TransactWriteItems":  # IAM checks each item's own action
            names = {next(iter(item)) for item in params.get("TransactItems", [])}
            actions = {f"{prefix}:{'ConditionCheckItem' if n == 'ConditionCheck' else n + 'Item'}" for n in names}
        else:
            actions = {f"{prefix}:{model.name}"}
        with self._lock:
            self.calls.update((self._in_lambda.function, action, assumed) for action in actions)

    def _in_own_account(self, request: Any) -> None:
        """A function deployed in another account (a vault's coordinator, a second stack) acts in that account, as
        its execution role would: its requests made with the emulation's own credentials carry moto's account
        header (an assumed role's keys name their account already)."""
        account = getattr(self._in_lambda, "account", "") if getattr(self._in_lambda, "active", False) else ""
        if not account:
            return
        authorization = str(request.headers.get("Authorization", ""))
        if f"Credential={os.environ.get('AWS_ACCESS_KEY_ID')}/" in authorization:
            request.headers["x-moto-account-id"] = account

    def crash_before(self, event_name: str, times: int = 1) -> None:
        """Crash a function the next `times` times it is about to make this AWS call."""
        with self._lock:
            self.crashes[event_name] = times
        sessions.reset_cache()  # a client copies the session's hooks when it is made: cached ones would miss this
        # the hook is on boto3's default session, whose clients the handlers create: it fires inside them only
        session = boto3._get_default_session()
        session._session.register(event_name, self._maybe_crash, unique_id=f"crash-{event_name}")

    def _maybe_crash(self, event_name: str, **_: Any) -> None:
        if not getattr(self._in_lambda, "active", False):
            return
        with self._lock:
            if self.crashes.get(event_name, 0) <= 0:
                return
            self.crashes[event_name] -= 1
        raise LambdaProcessCrash(f"crashed before {event_name}")

    def knows(self, function_name: str) -> bool:
        return function_name.split(":function:")[-1].split(":")[0] in self.functions

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
                self._threads = alive
            if not alive:
                return True
            if time.monotonic() > deadline:
                return False
            alive[0].join(timeout=0.05)
