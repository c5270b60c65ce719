"""Code packaging: git archive / pattern / hybrid packagers, determinism, policies, limits, ConfigMap chunks.

Repositories are real (git in tmp dirs); the end-to-end test unpacks a two-module project in a fresh
interpreter that has nothing else on sys.path and calls the task function from the sibling module.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from kuberun import packaging
from kuberun.gitinfo import strip_credentials
from kuberun.packaging import (
    GitArchivePackager,
    PackagingError,
    UncommittedChangesError,
    UncommittedChangesWarning,
    UnsafeArchiveError,
)
from kuberun.resource.code import CodeStorage
from tests.helpers.gitrepo import commit, git, make_repo


def names(package: packaging.CodePackage) -> list[str]:
    import io

    with tarfile.open(fileobj=io.BytesIO(package.data), mode="r:gz") as tar:
        return tar.getnames()


def contents(package: packaging.CodePackage, tmp_path: Path) -> dict[str, str]:
    dest = packaging.unpack(package.data, tmp_path / f"out-{package.sha256[:8]}", sha256=package.sha256)
    return {p.relative_to(dest).as_posix(): p.read_text() for p in sorted(dest.rglob("*")) if p.is_file() and not p.is_symlink()}


# -- end to end -------------------------------------------------------------------------------------

def test_two_module_project_unpacked_elsewhere_runs_in_a_fresh_interpreter(tmp_path):
    repo = make_repo(tmp_path / "proj")
    package = GitArchivePackager(basepath=str(repo), subpath="src").package()
    archive = package.write(tmp_path)
    # Only the stdlib (-S: no site-packages, -I: no PYTHONPATH, no cwd) plus the unpacked dir.
    code = (
        "import hashlib, io, os, sys, tarfile\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "assert hashlib.sha256(data).hexdigest() == sys.argv[2]\n"
        "tarfile.open(fileobj=io.BytesIO(data), mode='r:gz').extractall(sys.argv[3], filter='data')\n"
        "sys.path[:] = [sys.argv[3]] + [p for p in sys.path if 'site-packages' not in p]\n"
        "import tasks\n"
        "print(tasks.run(20), tasks.__file__.startswith(sys.argv[3]))\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(archive), package.sha256, str(tmp_path / "code")],
                          cwd=elsewhere, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["41", "True"]


def test_activate_makes_the_package_the_cwd_and_first_import_path_for_children_too(tmp_path):
    repo = make_repo(tmp_path / "proj")
    package = GitArchivePackager(basepath=str(repo), subpath="src").package()
    archive = package.write(tmp_path)
    code = (
        "import os, subprocess, sys\n"
        "from kuberun.packaging import unpack, activate\n"
        "root = activate(unpack(open(sys.argv[1], 'rb').read(), sys.argv[3], sha256=sys.argv[2]))\n"
        "import tasks\n"
        "child = subprocess.run([sys.executable, '-c', 'import tasks; print(tasks.run(1))'], cwd='/', capture_output=True, text=True)\n"
        "print(tasks.run(1), os.getcwd() == str(root), sys.path[0] == str(root), child.stdout.strip())\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(archive), package.sha256, str(tmp_path / "unpacked")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "True", "True", "3"]


# -- determinism --------------------------------------------------------------------------------------

def test_identical_content_gives_an_identical_digest_wherever_and_whenever_it_is_packaged(tmp_path):
    repo = make_repo(tmp_path / "a")
    first = GitArchivePackager(basepath=str(repo)).package()
    os.utime(repo / "src" / "tasks.py", (1, 1))
    again = GitArchivePackager(basepath=str(repo / "src")).package()
    clone = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    cloned = GitArchivePackager(basepath=str(clone)).package()
    assert first.sha256 == again.sha256 == cloned.sha256
    assert first.data == cloned.data and first.files == 3


def test_a_changed_file_changes_the_digest(tmp_path):
    repo = make_repo(tmp_path / "a")
    before = GitArchivePackager(basepath=str(repo)).package()
    (repo / "src" / "helpers.py").write_text("def double(x):\n    return x + x\n")
    commit(repo, "change")
    after = GitArchivePackager(basepath=str(repo)).package()
    assert before.sha256 != after.sha256
    assert before.git.revision != after.git.revision


def test_members_are_sorted_with_fixed_metadata_and_no_directories(tmp_path):
    repo = make_repo(tmp_path / "a", {"z.py": "", "a/b.py": "", "run.sh": "#!/bin/sh\n"})
    (repo / "run.sh").chmod(0o755)
    commit(repo, "exec")
    import io

    package = GitArchivePackager(basepath=str(repo)).package()
    with tarfile.open(fileobj=io.BytesIO(package.data), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["a/b.py", "run.sh", "z.py"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(315532800, 0, 0, "", "")}
    assert {m.name: m.mode for m in members} == {"a/b.py": 0o644, "run.sh": 0o755, "z.py": 0o644}
    assert package.data[4:8] == b"\0\0\0\0"  # the gzip header's mtime


# -- uncommitted changes ---------------------------------------------------------------------------------

def dirty_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "proj", {"src/tasks.py": "X = 1\n", "src/helpers.py": "", ".gitignore": "*.log\n", "docs/a.md": ""})
    (repo / "src" / "tasks.py").write_text("X = 2\n")
    (repo / "src" / "new.py").write_text("NEW = True\n")
    (repo / "src" / "debug.log").write_text("ignored\n")
    return repo


def test_refuse_is_the_default_and_lists_every_change(tmp_path):
    repo = dirty_repo(tmp_path)
    with pytest.raises(UncommittedChangesError) as info:
        GitArchivePackager(basepath=str(repo)).package()
    assert info.value.changed == ["?? src/new.py", "M src/tasks.py"]
    assert "uncommitted='include'" in str(info.value) and "debug.log" not in str(info.value)


def test_warn_ships_head_and_records_it_clean(tmp_path):
    repo = dirty_repo(tmp_path)
    with pytest.warns(UncommittedChangesWarning, match="2 uncommitted change"):
        package = GitArchivePackager(basepath=str(repo), uncommitted="warn").package()
    assert contents(package, tmp_path)["src/tasks.py"] == "X = 1\n" and "src/new.py" not in names(package)
    assert package.git.dirty is False


def test_include_ships_the_working_tree_without_ignored_files_and_records_dirty(tmp_path):
    repo = dirty_repo(tmp_path)
    (repo / "docs" / "a.md").unlink()
    package = GitArchivePackager(basepath=str(repo), uncommitted="include").package()
    files = contents(package, tmp_path)
    assert files["src/tasks.py"] == "X = 2\n" and files["src/new.py"] == "NEW = True\n"
    assert "src/debug.log" not in files and "docs/a.md" not in files
    assert package.git.dirty is True and len(package.git.revision) == 40


def test_changes_outside_the_subpath_do_not_block_it(tmp_path):
    repo = dirty_repo(tmp_path)
    (repo / "src" / "tasks.py").write_text("X = 1\n")
    (repo / "src" / "new.py").unlink()
    (repo / "docs" / "a.md").write_text("edited\n")
    package = GitArchivePackager(basepath=str(repo), subpath="src").package()
    assert names(package) == ["helpers.py", "tasks.py"]


def test_an_explicit_older_ref_ships_that_commit(tmp_path):
    repo = make_repo(tmp_path / "a", {"v.py": "V = 1\n"})
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "v.py").write_text("V = 2\n")
    commit(repo, "two")
    (repo / "v.py").write_text("V = 3 (uncommitted)\n")
    package = GitArchivePackager(basepath=str(repo), ref=first).package()
    assert contents(package, tmp_path) == {"v.py": "V = 1\n"} and package.git.revision == first


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"ref": "no-such-branch"}, "ref 'no-such-branch' is not a commit", id="bad-ref"),
    pytest.param({"subpath": "absent"}, "nothing to package", id="empty-subpath"),
    pytest.param({"subpath": "../x"}, "contains '..'", id="escaping-subpath"),
    pytest.param({"uncommitted": "ignore"}, "expected one of refuse, warn, include", id="bad-policy"),
])
def test_git_packager_errors_are_clear(tmp_path, kwargs, message):
    repo = make_repo(tmp_path / "a")
    with pytest.raises((PackagingError, UnsafeArchiveError), match=message):
        GitArchivePackager(basepath=str(repo), **kwargs).package()


def test_outside_a_checkout_is_a_clear_error(tmp_path):
    with pytest.raises(PackagingError, match="is not inside a git checkout"):
        GitArchivePackager(basepath=str(tmp_path)).package()


# -- submodules, symlinks, remotes ----------------------------------------------------------------

def with_submodule(tmp_path: Path) -> tuple[Path, Path]:
    lib = make_repo(tmp_path / "lib", {"libmod.py": "LIB = 1\n"})
    repo = make_repo(tmp_path / "proj", {"main.py": "import libmod\n"})
    git(repo, "submodule", "add", "-q", str(lib), "vendor/lib")
    commit(repo, "add submodule")
    return repo, lib


def test_submodules_are_archived_at_the_recorded_commit(tmp_path):
    repo, lib = with_submodule(tmp_path)
    (lib / "libmod.py").write_text("LIB = 2\n")
    commit(lib, "upstream moved on")
    package = GitArchivePackager(basepath=str(repo)).package()
    files = contents(package, tmp_path)
    assert files["vendor/lib/libmod.py"] == "LIB = 1\n" and files["main.py"] == "import libmod\n"
    assert "vendor/lib/libmod.py" not in names(GitArchivePackager(basepath=str(repo), include_submodules=False).package())


def test_uncommitted_changes_inside_a_submodule_are_refused(tmp_path):
    repo, _ = with_submodule(tmp_path)
    (repo / "vendor" / "lib" / "libmod.py").write_text("LIB = 99\n")
    with pytest.raises(UncommittedChangesError, match="vendor/lib"):
        GitArchivePackager(basepath=str(repo)).package()
    assert GitArchivePackager(basepath=str(repo), include_submodules=False).package().files == 2


def test_a_submodule_not_checked_out_is_a_clear_error(tmp_path):
    repo, _ = with_submodule(tmp_path)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    with pytest.raises(PackagingError, match="submodule vendor/lib is not checked out"):
        GitArchivePackager(basepath=str(clone)).package()


def test_symlinks_inside_are_kept_and_escaping_ones_refused(tmp_path):
    repo = make_repo(tmp_path / "a", {"pkg/real.py": "R = 1\n"})
    (repo / "alias.py").symlink_to("pkg/real.py")
    commit(repo, "link")
    package = GitArchivePackager(basepath=str(repo)).package()
    dest = packaging.unpack(package.data, tmp_path / "out", sha256=package.sha256)
    assert (dest / "alias.py").is_symlink() and (dest / "alias.py").read_text() == "R = 1\n"
    (repo / "secret").symlink_to("../../etc/passwd")
    commit(repo, "escape")
    with pytest.raises(UnsafeArchiveError, match=re.escape("symlink secret -> ../../etc/passwd: points outside")):
        GitArchivePackager(basepath=str(repo)).package()


def test_a_symlink_leaving_the_subpath_is_refused(tmp_path):
    repo = make_repo(tmp_path / "a", {"shared.py": "", "src/x.py": ""})
    (repo / "src" / "shared.py").symlink_to("../shared.py")
    commit(repo, "link up")
    with pytest.raises(UnsafeArchiveError, match="points outside"):
        GitArchivePackager(basepath=str(repo), subpath="src").package()


@pytest.mark.parametrize(("url", "recorded"), [
    pytest.param("https://user:ghp_secret@github.com/org/repo.git", "https://github.com/org/repo.git", id="https-token"),
    pytest.param("https://oauth2:tok@gitlab.example.com:8443/g/r?x=1", "https://gitlab.example.com:8443/g/r", id="port-and-query"),
    pytest.param("ssh://git@host/org/repo.git", "ssh://git@host/org/repo.git", id="ssh-user-kept"),
    pytest.param("ssh://git:pw@host/org/repo.git", "ssh://host/org/repo.git", id="ssh-password-dropped"),
    pytest.param("git@github.com:org/repo.git", "git@github.com:org/repo.git", id="scp-like"),
    pytest.param("me:pw@host:org/repo.git", "host:org/repo.git", id="scp-like-password"),
    pytest.param("/srv/git/repo.git", "/srv/git/repo.git", id="local-path"),
])
def test_remotes_are_recorded_without_credentials(url, recorded):
    assert strip_credentials(url) == recorded


def test_the_recorded_remote_is_stripped(tmp_path):
    repo = make_repo(tmp_path / "a")
    git(repo, "remote", "add", "origin", "https://x-access-token:s3cret@example.com/org/repo.git")
    package = GitArchivePackager(basepath=str(repo)).package()
    assert package.git.remote == "https://example.com/org/repo.git"
    assert "s3cret" not in str(package.to_code_ref(CodeStorage(url="s3://bucket/x")).to_dict())


def test_the_recorded_source_of_an_experiment_never_carries_the_remote_token(tmp_path: Path) -> None:
    from kuberun.gitinfo import capture_source

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin",
                    "https://ghp_SECRET123@git.example/team/proj.git"], check=True)
    source = capture_source(tmp_path)
    assert source is not None and source.remote == "https://git.example/team/proj.git"
    assert "SECRET" not in source.model_dump_json()
