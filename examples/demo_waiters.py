"""The demo's Lambda side: the synthesized asset's handlers, run as the Provider framework would.

Run by ``examples/demo.py`` as its own process, so that ``ecr_image_waiter`` is the copy in
the cloud assembly's asset directory (the code CDK would upload), not the source tree::

    python examples/demo_waiters.py CONFIG.json

CONFIG names the asset directory and Handler strings, the local Provider-framework model
(``ecr_image_waiter/local/framework.py``, loaded by file path: it is not part of the asset),
the timings, and one CloudFormation Create request per waiter. The waiters run at the same
time, one thread each; their log lines are printed as a timeline. The responses
CloudFormation would receive are written to the result file named in CONFIG. Exit status:
0 when every waiter succeeded, 1 otherwise.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from examples.demo_timeline import Timeline  # noqa: E402

#: The package's logger (one JSON line per event and per look at ECR).
LOGGER_NAME = "ecr_image_waiter.custom_resource"


class TimelineHandler(logging.Handler):
    """The handlers' JSON log lines, retold as timeline lines."""

    def __init__(self, timeline: Timeline, labels: dict[str, str]) -> None:
        super().__init__(logging.INFO)
        self.timeline = timeline
        self.labels = labels

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = json.loads(record.getMessage())
        except ValueError:
            self.timeline.say("waiter", record.getMessage())
            return
        who = self.labels.get(str(fields.get("logicalResourceId")), "waiter")
        self.timeline.say(who, describe(fields))


def describe(fields: dict[str, Any]) -> str:
    """One log line of the handlers, in words."""
    event = fields.get("event")
    verdict = fields.get("verdict")
    image = f"{fields.get('repository')}:{fields.get('reference')}"
    if event == "on_event" and verdict == "started":
        return (
            f"on_event ({fields.get('requestType')}): wait for {image}, "
            f"deadline in {fields.get('remaining', 0):.0f} s"
        )
    if event == "attempt" and verdict == "ready":
        return f"is_complete: found it -> {fields.get('imageUri')}"
    if event == "attempt" and verdict == "not yet":
        return f"is_complete: not yet ({fields.get('code') or fields.get('message')})"
    if event == "attempt" and verdict == "not due":
        return "is_complete: not due yet"
    if event == "attempt" and verdict == "never":
        return f"is_complete: never ({fields.get('code')}: {fields.get('message')})"
    details = ", ".join(f"{key}={value}" for key, value in fields.items() if key != "event")
    return f"{event}: {details}"


def load_handlers(asset_dir: Path, on_event: str, is_complete: str) -> tuple[Any, Any, Path]:
    """The two entry points, imported from ``asset_dir`` as Lambda imports a Handler."""
    if any(name.split(".")[0] == "ecr_image_waiter" for name in sys.modules):
        raise RuntimeError("ecr_image_waiter was imported before the asset directory was set")
    sys.path.insert(0, str(asset_dir))
    loaded = []
    for handler in (on_event, is_complete):
        module_name, _, function = handler.rpartition(".")
        module = importlib.import_module(module_name)
        loaded.append((getattr(module, function), Path(str(module.__file__)).resolve()))
    return loaded[0][0], loaded[1][0], loaded[0][1]


def check_origin(asset_dir: Path) -> list[str]:
    """Every loaded ``ecr_image_waiter`` module that is NOT from the asset directory."""
    root = asset_dir.resolve()
    strays = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] != "ecr_image_waiter":
            continue
        path = Path(str(getattr(module, "__file__", "") or "")).resolve()
        if root not in path.parents:
            strays.append(f"{name} from {path}")
    return strays


def load_framework(path: Path) -> ModuleType:
    """The local Provider-framework model, by file path (it is not part of the asset)."""
    spec = importlib.util.spec_from_file_location("demo_provider_framework", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    timeline = Timeline(float(config["started"]))
    asset_dir = Path(config["asset_dir"])
    on_event, is_complete, handler_path = load_handlers(
        asset_dir, config["on_event"], config["is_complete"]
    )
    framework = load_framework(Path(config["framework_path"]))
    strays = check_origin(asset_dir)
    if strays:
        timeline.say("lambda", "ecr_image_waiter modules not from the asset: " + ", ".join(strays))
        return 1
    timeline.say("lambda", f"handler code loaded from {handler_path}")

    waiters = config["waiters"]
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(TimelineHandler(timeline, {w["logical_id"]: w["label"] for w in waiters}))
    logger.propagate = False

    results: dict[str, Any] = {}

    def run(waiter: dict[str, Any]) -> None:
        try:
            result = framework.run_custom_resource(
                waiter["request"],
                on_event=on_event,
                is_complete=is_complete,
                query_interval=float(config["query_interval"]),
                total_timeout=float(config["total_timeout"]),
                function_name=config["on_event_function"],
                is_complete_function_name=config["is_complete_function"],
            )
        except Exception as error:  # reported below, and the exit status says it
            results[waiter["logical_id"]] = {"Status": "ERROR", "Reason": repr(error)}
            timeline.say(waiter["label"], f"the local framework failed: {error!r}")
            return
        results[waiter["logical_id"]] = dict(result)
        first_line = str(result["Reason"]).splitlines()[0]
        timeline.say(
            waiter["label"],
            f"CloudFormation gets {result['Status']} after {result['elapsed_seconds']:.1f} s "
            f"({result['is_complete_calls']} is_complete calls)"
            + ("" if result["Status"] == "SUCCESS" else f": {first_line}"),
        )

    threads = [
        threading.Thread(target=run, args=(waiter,), name=waiter["label"]) for waiter in waiters
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    Path(config["result_path"]).write_text(json.dumps(results, indent=2), encoding="utf-8")
    ok = all(results.get(w["logical_id"], {}).get("Status") == "SUCCESS" for w in waiters)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
