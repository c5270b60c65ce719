"""One unpack of a code package per node: ranks racing on one node read and unpack it once, and share the tree.

The ranks are real processes started together (``multiprocessing`` with ``spawn``), each calling
``nodecache.install`` as the runner does; every one records whether it read the package, so the
count of reads is the count of downloads.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from kuberun.packaging import Entry, PackageIntegrityError, UnsafeArchiveError, build_package, nodecache
from kuberun.runner import BadTaskError, install_code

PACKAGE = build_package([Entry("lib.py", data=b"X = 1\n"), Entry("data/big.bin", data=bytes(range(256)) * 4096)])


def _rank(root: str, node: str, reads: str, start: object, out: object) -> None:
    import os

    os.environ["SLURMD_NODENAME"] = node
    start.wait(30)  # type: ignore[attr-defined]  # every rank asks at the same moment

    def read() -> bytes:
        with open(reads, "a") as f:
            f.write(f"{node}\n")
        return PACKAGE.data

    tree, fresh = nodecache.install(Path(root), PACKAGE.sha256, read)
    out.put((node, str(tree), fresh, (tree / "lib.py").read_text()))  # type: ignore[attr-defined]


def test_racing_ranks_read_and_unpack_once_per_node_and_share_its_tree(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    reads = tmp_path / "reads.log"
    nodes = ["n1", "n1", "n1", "n2", "n2", "n2"]
    start, out = ctx.Barrier(len(nodes)), ctx.Queue()
    ranks = [ctx.Process(target=_rank, args=(str(tmp_path / "cache"), n, str(reads), start, out)) for n in nodes]
    for rank in ranks:
        rank.start()
    results = [out.get(timeout=60) for _ in ranks]
    for rank in ranks:
        rank.join(30)
        assert rank.exitcode == 0
    assert sorted(reads.read_text().split()) == ["n1", "n2"]  # one read (download) per node, not per rank
    trees = {node: {tree for n, tree, _, _ in results if n == node} for node in ("n1", "n2")}
    assert trees == {n: {str(tmp_path / "cache" / n / PACKAGE.sha256)} for n in ("n1", "n2")}
    assert sorted(fresh for _, _, fresh, _ in results) == [False] * 4 + [True] * 2
    assert {text for *_, text in results} == {"X = 1\n"}
    # No staging directory is left beside the trees.
    assert sorted(p.name for p in (tmp_path / "cache" / "n1").iterdir()) == [PACKAGE.sha256, f"{PACKAGE.sha256}.lock"]


def test_wrong_bytes_leave_no_tree_and_the_next_rank_tries_again(tmp_path):
    with pytest.raises(PackageIntegrityError):
        nodecache.install(tmp_path, PACKAGE.sha256, lambda: PACKAGE.data[:-1])
    assert not (tmp_path / nodecache.node_name() / PACKAGE.sha256).exists()
    tree, fresh = nodecache.install(tmp_path, PACKAGE.sha256, lambda: PACKAGE.data)
    assert fresh and (tree / "lib.py").is_file()


def test_a_rank_that_cannot_get_the_lock_in_time_unpacks_a_private_copy(tmp_path, capsys, monkeypatch):
    import fcntl
    import os

    monkeypatch.setenv("SLURMD_NODENAME", "busy")
    (tmp_path / "busy").mkdir()
    holder = os.open(tmp_path / "busy" / f"{PACKAGE.sha256}.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another open file description: flock conflicts within one process too
    try:
        tree, fresh = nodecache.install(tmp_path, PACKAGE.sha256, lambda: PACKAGE.data, wait=0.2)
    finally:
        os.close(holder)
    assert fresh and (tree / "lib.py").is_file() and not str(tree).startswith(str(tmp_path))
    assert "was not ready after 0.2 s; unpacking a private one" in capsys.readouterr().err


def test_a_node_name_or_digest_cannot_leave_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURMD_NODENAME", "../../etc")
    assert nodecache.node_name() == ".._.._etc"
    monkeypatch.setenv("SLURMD_NODENAME", "..")
    assert nodecache.node_name() == "node"
    with pytest.raises(UnsafeArchiveError, match="64 lowercase hex digits"):
        nodecache.install(tmp_path, "../" + "a" * 61, lambda: b"")


def test_the_runner_uses_the_nodes_copy_when_the_cache_is_set(tmp_path, monkeypatch):
    chunk = tmp_path / "code.tar.gz"
    chunk.write_bytes(PACKAGE.data)
    monkeypatch.delenv("KUBERUN_CODE_DIR", raising=False)
    monkeypatch.setenv(nodecache.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("SLURMD_NODENAME", "n1")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    monkeypatch.setenv("PYTHONPATH", "")
    code = {"sha256": PACKAGE.sha256, "files": [str(chunk)]}
    first = install_code(code)
    chunk.unlink()  # a second rank of the node never reads the package: it is not even there any more
    assert install_code(code) == first == tmp_path / "cache" / "n1" / PACKAGE.sha256
    with pytest.raises(BadTaskError, match="code package unavailable"):
        monkeypatch.setenv("SLURMD_NODENAME", "n2")
        install_code(code)
