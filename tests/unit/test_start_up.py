"""What every ``autocoder`` command imports before it does anything: not the NATS client,
which only a blueprint with a ``transport: nats`` binding needs (it was a tenth of the
start-up of every command, ``validate`` and ``run`` of a plain blueprint included), nor the
OpenTelemetry SDK, which only a process that traces needs (``OTEL_TRACES_EXPORTER``)."""

from __future__ import annotations

import os
import subprocess
import sys

CHECK = """
import sys
import autocoder.cli
from autocoder.system import System
blueprint = '''
system:
  name: plain
  components:
    - {name: api, type: FastAPIEndpoint, config: {port: 0}}
    - {name: store, type: Store, config: {storage_type: memory}}
  bindings:
    - {from_component: api, to_component: store, stream_name: input}
'''
System.from_text(blueprint, "<plain>")
print(sorted(name for name in sys.modules if name.split(".")[0] == "nats"))
print(sorted(name for name in sys.modules if name.startswith("opentelemetry.sdk")))
"""


def test_a_plain_blueprint_loads_neither_the_nats_client_nor_the_tracing_sdk() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environ,
    )
    assert done.returncode == 0, done.stderr
    nats, sdk = done.stdout.splitlines()
    assert nats == "[]", nats
    assert sdk == "[]", sdk
