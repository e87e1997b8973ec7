"""The flow-log filter language, run against a real store: what rows each filter keeps."""

from __future__ import annotations

import pytest

from desktopviz.core.filterlang import (
    FilterError,
    canonical,
    combine,
    compile_filter,
    field_names,
    term,
    validate,
)
from desktopviz.core.flowlog import FlowLog, labels_field
from desktopviz.core.queries import count_rows, flow_rows
from desktopviz.core.store import FlowStore

T0 = 1_767_258_000  # 2026-01-01T09:00:00Z


def _log(n: int, **kw: object) -> FlowLog:
    base: dict[str, object] = dict(
        start_time=T0 + 15 * n,
        end_time=T0 + 15 * n + 15,
        source_ip=None,
        source_name="-",
        source_name_aggr="frontend-5d4f7b9c8-*",
        source_namespace="storefront",
        source_type="wep",
        source_port=None,
        source_labels=labels_field({"app": "frontend", "fw-zone": "dmz"}),
        dest_ip=None,
        dest_name="-",
        dest_name_aggr="backend-6cfbdd589f-*",
        dest_namespace="storefront",
        dest_type="wep",
        dest_port=80,
        dest_labels=labels_field({"app": "backend", "fw-zone": "restricted"}),
        proto="tcp",
        action="allow",
        reporter="dst",
        policies={
            "enforced_policies": [
                "0|security|security.pci-whitelist|pass|1",
                "1|default|storefront/default.restricted|allow|0",
            ],
            "pending_policies": [
                "0|security|security.pci-whitelist|pass|1",
                "1|default|storefront/default.staged:restricted|allow|0",
            ],
            "all_policies": [],
        },
        bytes_in=100,
        bytes_out=200,
        num_flows=1,
        host="node-1",
    )
    base.update(kw)
    return FlowLog(**base)  # type: ignore[arg-type]


ROGUE_DENY = {
    "enforced_policies": [
        "0|security|security.pci-whitelist|pass|1",
        "1|default|storefront/default.trusted|deny|2",
    ],
    "pending_policies": [
        "0|security|security.pci-whitelist|pass|1",
        "1|default|storefront/default.trusted|deny|2",
    ],
    "all_policies": [],
}

LOGS = [
    _log(0),  # 1 frontend -> backend allow dst
    _log(1, reporter="src", source_port=40123, source_ip="10.244.0.5"),  # 2
    _log(  # 3 rogue -> microservice1 denied at dst by default.trusted
        2,
        source_name_aggr="rogue-75d986bcfb-*",
        source_labels=labels_field({"app": "rogue"}),
        dest_name_aggr="microservice1-64c59c86bb-*",
        dest_labels=labels_field({"app": "microservice1", "fw-zone": "trusted"}),
        dest_port=8080,
        action="deny",
        policies=ROGUE_DENY,
        bytes_in=60,
        bytes_out=0,
    ),
    _log(  # 4 dns to kube-system over udp
        3,
        dest_namespace="kube-system",
        dest_name_aggr="coredns-576cbf47c7-*",
        dest_labels=labels_field({"k8s-app": "kube-dns"}),
        dest_port=53,
        proto="udp",
        dest_domains=["kube-dns.kube-system.svc"],
    ),
    _log(  # 5 to the public internet, no labels, no port (icmp)
        4,
        dest_namespace="-",
        dest_name_aggr="pub",
        dest_type="net",
        dest_labels=None,
        dest_port=None,
        proto="icmp",
        reporter="src",
        dest_domains=["api.twilio.com"],
        bytes_in=5000,
        bytes_out=7000,
    ),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FlowStore:
    s = FlowStore(tmp_path_factory.mktemp("filterlang") / "flows.db")
    s.insert(LOGS)
    yield s
    s.close()


def ids(store: FlowStore, text: str, now: int | None = None) -> list[int]:
    f = compile_filter(text, now=now)
    rows = flow_rows(store, f.sql, f.params, order_by="id", descending=False, limit=1000)
    assert count_rows(store, f.sql, f.params) == len(rows)
    return [r.id for r in rows]


# -- one test per operator --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [1, 2, 3, 4, 5]),
        ("action = deny", [3]),
        ("action == DENY", [3]),
        ("action != deny", [1, 2, 4, 5]),
        ("dest_port < 80", [4]),
        ("dest_port <= 80", [1, 2, 4]),
        ("dest_port > 80", [3]),
        ("dest_port >= 80", [1, 2, 3]),
        ("dest_name_aggr contains CoreDNS", [4]),
        ("dest_port in (53, 8080)", [3, 4]),
        ("dest_port exists", [1, 2, 3, 4]),
        ("source_port exists", [2]),
        ("source_name exists", []),  # "-" is Calico's "not included"
        ("source_name_aggr = rogue-75d986bcfb-*", [3]),
        ("bytes > 1000", [5]),
        ("port = 53 and protocol = UDP", [4]),
    ],
)
def test_each_operator(store: FlowStore, text: str, expected: list[int]) -> None:
    assert ids(store, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("action = allow and reporter = src", [2, 5]),
        ("action = deny or proto = udp", [3, 4]),
        ("not action = allow", [3]),
        ("not (action = deny or proto = udp)", [1, 2, 5]),
        ("reporter = src and (dest_port = 80 or dest_port not exists)", [2, 5]),
        ("reporter = dst and not dest_namespace = kube-system", [1, 3]),
        ("action = allow and reporter = dst or action = deny", [1, 3, 4]),  # and binds tighter
        ("dest_port not in (80, 8080)", [4, 5]),  # missing port counts as "not in"
        ("not dest_port = 80", [3, 4, 5]),  # so does "not ="
        ("dest_port != 80", [3, 4, 5]),
        ("not not action = deny", [3]),
        ("namespace = kube-system", [4]),
        ("not namespace = kube-system", [1, 2, 3, 5]),
        ("name = pub", [5]),
    ],
)
def test_combinations(store: FlowStore, text: str, expected: list[int]) -> None:
    assert ids(store, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('dest_labels.app = "frontend"', []),
        ("dest_labels.app = backend", [1, 2]),
        ("source_labels has fw-zone", [1, 2, 4, 5]),
        ("not source_labels has fw-zone", [3]),
        ("dest_labels.fw-zone exists", [1, 2, 3]),
        ("dest_labels.app in (microservice1, backend)", [1, 2, 3]),
        ("dest_labels.app != backend", [3, 4, 5]),
        ('source_labels = "app=rogue"', [3]),
        ("dest_labels contains kube", [4]),
        ("dest_labels.fw-zone contains TRUST", [3]),
        ("dest_labels exists", [1, 2, 3, 4]),
        ("labels.app = rogue", [3]),
        ("dest_domains = api.twilio.com", [5]),
        ("dest_domains contains TWILIO", [5]),
        ("dest_domains exists", [4, 5]),
    ],
)
def test_labels_and_lists(store: FlowStore, text: str, expected: list[int]) -> None:
    assert ids(store, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('policy = "storefront/default.trusted"', [3]),
        ("tier = security", [1, 2, 3, 4, 5]),
        ("policy_action = deny", [3]),
        ("rule = 2", [3]),
        ("rule = 2 and tier = security", []),  # one trace entry cannot be both
        ("rule = 2 and not tier = default", []),
        ("policy = storefront/default.trusted and policy_action = deny", [3]),
        ("policy = storefront/default.restricted and policy_action = deny", []),
        ("pending_policy = storefront/default.staged:restricted", [1, 2, 4, 5]),
        ("enforced_policy = storefront/default.staged:restricted", []),
        ("policy = storefront/default.staged:restricted and trace = pending", [1, 2, 4, 5]),
        ("policy != storefront/default.trusted", [1, 2, 4, 5]),
        ("policy contains TRUSTED", [3]),
        ("policies contains default.trusted", [3]),
        ("policy_namespace = storefront and policy_action = allow", [1, 2, 4, 5]),
        # policy tests mixed with column tests, in either order (parameters bound in SQL order)
        ("reporter = dst and policy = storefront/default.trusted", [3]),
        ("policy = storefront/default.trusted and reporter = src", []),
        ("action = allow and tier = security and not reporter = dst and dest_port = 80", [2]),
        ("rule = 1 and not policy_action = deny and action = allow", [1, 2, 4, 5]),
    ],
)
def test_policy_tests(store: FlowStore, text: str, expected: list[int]) -> None:
    assert ids(store, text) == expected


def test_times_absolute_and_relative(store: FlowStore) -> None:
    assert ids(store, "start_time >= 2026-01-01T09:00:30Z") == [3, 4, 5]
    assert ids(store, f"start_time < {T0 + 30}") == [1, 2]
    now = T0 + 75  # end of the newest log
    assert ids(store, "start_time >= now-30s", now=now) == [4, 5]
    assert ids(store, "start_time >= -1m", now=now) == [2, 3, 4, 5]
    assert ids(store, 'end_time <= "2026-01-01 09:00:15"') == [1]


def test_canonical_form_round_trips() -> None:
    for text in [
        "action=deny and not(dest_port in (80,443) or proto=UDP)",
        'dest_labels.app = "front end"',
        "source_labels has fw-zone",
        "host = 'node 1'",
    ]:
        c = canonical(text)
        assert canonical(c) == c
        assert compile_filter(c, now=0) == compile_filter(text, now=0)


def test_term_and_combine_build_valid_filters(store: FlowStore) -> None:
    assert term("source_namespace", "storefront") == "source_namespace = storefront"
    assert term("dest_port", None) == "not dest_port exists"
    assert term("action", "deny", negate=True) == "not action = deny"
    assert term("host", 'a "quoted" value') == 'host = "a \\"quoted\\" value"'
    both = combine(["action = deny or proto = udp", term("reporter", "dst")])
    assert both == "(action = deny or proto = udp) and reporter = dst"
    assert ids(store, both) == [3, 4]
    assert combine([]) == ""
    assert "policy" in field_names() and "source_namespace" in field_names()


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("sourc_namespace = storefront", 0, "did you mean source_namespace"),
        ("action = ", 9, "expected a value"),
        ('action = "deny', 9, "unterminated"),
        ("(action = deny", 0, "unbalanced"),
        ("action = deny)", 13, "unexpected ')'"),
        ("action deny", 7, "expected an operator"),
        ("dest_port = http", 12, "whole number"),
        ("start_time > yesterday", 13, "needs a time"),
        ("source_labels < 3", 0, "=, !=, in, contains or exists"),
        ("action = deny and", 17, "expected a test"),
        ("action = deny storefront", 14, "join tests with and/or"),
        ("! action = deny", 0, "use != or not"),
        ("dest_port in 80", 13, "expected '('"),
        ("dest_port in (80 443)", 17, "expected ',' or ')'"),
        ("action.x = 1", 0, "no sub-fields"),
        ("bytes contains 1", 0, "is a number"),
    ],
)
def test_errors_name_the_column(text: str, column: int, words: str) -> None:
    err = validate(text)
    assert isinstance(err, FilterError)
    assert err.column == column, err
    assert words in err.message
    assert err.pointer().splitlines()[1].index("^") == column
    with pytest.raises(FilterError):
        compile_filter(text)


def test_limits_are_filter_errors() -> None:
    with pytest.raises(FilterError, match="too long"):
        compile_filter("action = " + "x" * 20_000)
    with pytest.raises(FilterError, match="nested"):
        compile_filter("(" * 40 + "action = deny" + ")" * 40)
    with pytest.raises(FilterError, match="too many tests"):
        compile_filter(" or ".join(["action = deny"] * 300))


# -- key and data fields together (schema 3: key tests run on flow_keys, the rest on the logs) --
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dest_port = 80 and bytes_in > 50", [1, 2]),
        ("not (dest_port = 80 and bytes_in > 50)", [3, 4, 5]),  # 5 has no port: still not "80 and …"
        ("dest_port != 80 or bytes_in > 1000", [3, 4, 5]),
        ("not (dest_port < 100 or bytes_in > 1000)", [3]),
        ("reporter = src and not dest_port exists", [5]),
        ("(action = deny or bytes_in >= 5000) and dest_namespace = storefront", [3]),
        ('not (policy = "storefront/default.trusted" and bytes_in < 100)', [1, 2, 4, 5]),
        ("namespace = kube-system or id = 5", [4, 5]),
        ("not (namespace = kube-system or id = 5) and start_time >= 1767258015", [2, 3]),
    ],
)
def test_key_and_data_fields_together(store: FlowStore, text: str, expected: list[int]) -> None:
    assert ids(store, text) == expected
    f = compile_filter(text)  # the same SQL runs on the flow_logs view (exports, the browser)
    sql = f"SELECT id FROM flow_logs WHERE {f.sql} ORDER BY id"
    assert [r[0] for r in store.conn.execute(sql, f.params)] == expected
