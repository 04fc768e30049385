"""What a reload changes: ``plan_reload`` compares the running blueprint with the new one."""

from __future__ import annotations

import pytest

from autocoder.blueprint.loader import LoadedBlueprint, load_blueprint_text
from autocoder.errors import ReloadRefused
from autocoder.reload import Plan, plan_reload

ECHO = "tests.unit.components_for_tests:Echo"


def loaded(components: str, bindings: str = "", nats: str = "", name: str = "s") -> LoadedBlueprint:
    text = f"system:\n  name: {name}\n{nats}  components:\n{components}"
    if bindings:
        text += f"  bindings:\n{bindings}"
    return load_blueprint_text(text, "bp.yaml")


STORE = "    - {name: store, type: Store, config: {storage_type: memory}}\n"
API = "    - {name: api, type: FastAPIEndpoint, config: {port: 8001}}\n"
API2 = "    - {name: api2, type: FastAPIEndpoint, config: {port: 8002}}\n"
ECHOER = f"    - {{name: echo, type: '{ECHO}'}}\n"
TO_STORE = "    - {from_component: api, to_component: store, stream_name: requests}\n"
API2_TO_STORE = "    - {from_component: api2, to_component: store, stream_name: requests}\n"


def test_the_same_blueprint_changes_nothing() -> None:
    running = loaded(STORE + API, TO_STORE)
    assert plan_reload(running, loaded(STORE + API, TO_STORE)) == Plan(
        added=(), changed=(), removed=(), kept=("store", "api")
    )


def test_a_new_sender_on_an_existing_stream_leaves_its_receiver_and_the_others_alone() -> None:
    running = loaded(STORE + API, TO_STORE)
    plan = plan_reload(running, loaded(STORE + API + API2, TO_STORE + API2_TO_STORE))
    assert plan == Plan(added=("api2",), changed=(), removed=(), kept=("store", "api"))


def test_a_new_input_stream_or_buffer_size_changes_the_receiver() -> None:
    running = loaded(STORE + API + API2, TO_STORE + API2_TO_STORE)
    other_stream = API2_TO_STORE.replace("requests", "more")
    assert plan_reload(running, loaded(STORE + API + API2, TO_STORE + other_stream)).changed == (
        "store",
        "api",
        "api2",
    )
    bigger = TO_STORE.replace("}", ", buffer_size: 500}")
    assert (
        "store" in plan_reload(running, loaded(STORE + API + API2, bigger + API2_TO_STORE)).changed
    )


def test_a_changed_config_or_restart_policy_changes_the_component() -> None:
    running = loaded(STORE + ECHOER)
    config = ECHOER.replace("}", ", config: {}}")
    assert plan_reload(running, loaded(STORE + config)).changed == ()  # the same, spelt out
    restart = ECHOER.replace("}", ", restart: {max_restarts: 9}}")
    assert plan_reload(running, loaded(STORE + restart)).changed == ("echo",)
    table = STORE.replace("memory}", "memory, table_name: notes}")
    assert plan_reload(running, loaded(table + ECHOER)).changed == ("store",)


def test_an_endpoint_is_replaced_with_the_store_it_describes() -> None:
    running = loaded(STORE + API, TO_STORE)
    table = STORE.replace("memory}", "memory, table_name: notes}")
    plan = plan_reload(running, loaded(table + API, TO_STORE))
    assert (plan.changed, plan.kept) == (("store", "api"), ())


def test_a_sender_that_does_not_describe_its_receivers_is_rebound_not_replaced() -> None:
    changes = "    - {from_component: store, to_component: echo, stream_name: changes}\n"
    running = loaded(STORE + ECHOER, changes)
    restart = ECHOER.replace("}", ", restart: {max_restarts: 9}}")
    plan = plan_reload(running, loaded(STORE + restart, changes))
    assert (plan.changed, plan.kept) == (("echo",), ("store",))


def test_added_and_removed_components_in_blueprint_order() -> None:
    running = loaded(STORE + API + ECHOER, TO_STORE)
    plan = plan_reload(running, loaded(API2 + STORE + API, TO_STORE + API2_TO_STORE))
    assert plan == Plan(added=("api2",), changed=(), removed=("echo",), kept=("store", "api"))


def test_a_new_system_name_is_refused() -> None:
    with pytest.raises(ReloadRefused, match="system name changed from 's' to 't'"):
        plan_reload(loaded(STORE), loaded(STORE, name="t"))


NATS = "  nats: {url: 'nats://127.0.0.1:4222'}\n"
OVER_NATS = "    - {from_component: echo, to_component: store, stream_name: in, transport: nats}\n"


def test_changes_to_nats_bindings_are_refused_with_the_reason() -> None:
    running = loaded(STORE + ECHOER, OVER_NATS, NATS)
    with pytest.raises(ReloadRefused, match="the nats bindings changed; nats bindings are made"):
        plan_reload(
            running, loaded(STORE + ECHOER, OVER_NATS.replace("}", ", partitions: 2}"), NATS)
        )
    restart = ECHOER.replace("}", ", restart: {max_restarts: 9}}")
    with pytest.raises(ReloadRefused, match="'echo' would change, and is bound over nats"):
        plan_reload(running, loaded(STORE + restart, OVER_NATS, NATS))
    other = NATS.replace("4222", "4223")
    with pytest.raises(ReloadRefused, match=r"system\.nats changed"):
        plan_reload(running, loaded(STORE + ECHOER, OVER_NATS, other))
    # What is not bound over nats may still change beside it.
    assert plan_reload(running, loaded(STORE + ECHOER + API2, OVER_NATS, NATS)).added == ("api2",)
