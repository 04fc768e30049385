"""What every ``autocoder`` command imports before it does anything: not the NATS client,
which only a blueprint with a ``transport: nats`` binding needs (it was a tenth of the
start-up of every command, ``validate`` and ``run`` of a plain blueprint included)."""

from __future__ import annotations

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
print(sorted(name for name in sys.modules if name == "nats" or name.startswith("nats.")))
"""


def test_a_blueprint_without_nats_bindings_never_loads_the_nats_client() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
