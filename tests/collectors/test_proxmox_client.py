"""The HTTP layer's pure parts: call order over nodes, TLS settings, error names, log parsing shape."""

from __future__ import annotations

from collectors.proxmox.client import Call, _cause, _tls_options
from collectors.proxmox.context import _across_nodes
from collectors.proxmox.parse import vzdump_results


def test_calls_go_round_robin_over_nodes_keeping_each_nodes_order() -> None:
    calls = [Call("/nodes/{node}/x", {"node": n}, key=(n, i)) for n in ("a", "b", "c") for i in range(3)]
    calls.append(Call("/cluster/x", key=("cluster", 0)))
    order = [c.key for c in _across_nodes(calls)]
    assert order[:4] == [("a", 0), ("b", 0), ("c", 0), ("cluster", 0)]
    assert sorted(order) == sorted(c.key for c in calls)
    for node in "abc":
        assert [k for k in order if k[0] == node] == [(node, 0), (node, 1), (node, 2)]
    one = [Call("/nodes/{node}/x", {"node": "a"}, key=i) for i in range(3)]
    assert _across_nodes(one) is one


def test_tls_options_follow_verify_tls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert _tls_options(False) == {"cert_reqs": "CERT_NONE", "assert_hostname": False}
    assert _tls_options(True)["cert_reqs"] == "CERT_REQUIRED" and _tls_options(True)["ca_certs"]
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert _tls_options(str(ca)) == {"cert_reqs": "CERT_REQUIRED", "ca_certs": str(ca)}
    assert _tls_options(str(tmp_path)) == {"cert_reqs": "CERT_REQUIRED", "ca_cert_dir": str(tmp_path)}


def test_error_names_come_from_the_wrapped_socket_error() -> None:
    from urllib3.exceptions import IncompleteRead, ProtocolError

    assert _cause(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))) == "ConnectionResetError"
    assert _cause(ProtocolError("Connection broken", IncompleteRead(5, 10))) == "IncompleteRead"
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except OSError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as exc:
        assert _cause(exc) == "ConnectionRefusedError"


def test_vzdump_log_in_either_shape() -> None:
    lines = ["INFO: starting new backup job", "INFO: Starting Backup of VM 101 (qemu)",
             "INFO: Finished Backup of VM 101 (00:00:05)", "INFO: Starting Backup of VM 102 (qemu)",
             "ERROR: Backup of VM 102 failed - storage full", "INFO: Starting Backup of VM 103 (lxc)"]
    expected = {101: {"result": "ok", "message": None}, 102: {"result": "failed", "message": "storage full"},
                103: {"result": "unknown", "message": None}}
    assert vzdump_results([{"n": i, "t": t} for i, t in enumerate(lines)]) == expected
    assert vzdump_results(lines) == expected
    assert vzdump_results([{"n": 1}, {"n": 2, "t": lines[1]}, 7]) == {101: {"result": "unknown", "message": None}}
