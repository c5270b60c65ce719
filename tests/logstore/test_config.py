"""Store URLs, the credentials Secret, and the promise that no credential reaches a message or repr."""

from __future__ import annotations

import pickle
import socket
import traceback
from pathlib import Path

import pytest

from kuberun_operator.logstore import (
    Credentials,
    LogStore,
    LogStoreConfigError,
    LogStoreError,
    StoreOptions,
    UnsafePathError,
    paths,
)
from tests.harness import s3
from tests.logstore.conftest import write

SECRETS = (s3.FAKE_SECRET, s3.FAKE_KEY_ID, "session-token-DoNotLeak-42")


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {text[:200]!r}"


@pytest.mark.parametrize(
    ("url", "protocol", "shown"),
    [
        ("{tmp}/logs", "file", "file://{tmp}/logs"),
        ("file://{tmp}/logs", "file", "file://{tmp}/logs"),
        ("file://localhost{tmp}/logs/", "file", "file://{tmp}/logs"),
        ("s3://my-bucket", "s3", "s3://my-bucket"),
        ("s3://my-bucket/kuberun/prod/", "s3", "s3://my-bucket/kuberun/prod"),
    ],
)
def test_store_urls(url: str, protocol: str, shown: str, tmp_path: Path) -> None:
    store = LogStore.from_url(url.format(tmp=tmp_path), StoreOptions(environ={}))
    assert store.protocol == protocol
    assert store.url == shown.format(tmp=tmp_path)
    assert store.url_for("ns/e-12345678/t/0/log") == f"{store.url}/ns/e-12345678/t/0/log"


def test_a_relative_directory_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert LogStore.from_url("archive").url == f"file://{tmp_path}/archive"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "URL is empty"),
        ("gs://bucket/x", "scheme 'gs' is not supported"),
        ("s3://", "no bucket"),
        ("s3://AKIAKURUNTESTKEYID01:kuberun-test-secret@bucket/x", "credentials in the URL are refused"),
        ("s3://bucket/x?versionId=1", "query strings"),
        ("file://otherhost/x", "file URLs name no host"),
        ("s3://bucket/a/../b", "components are refused"),
    ],
)
def test_bad_urls_get_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(LogStoreConfigError if "components" not in message else UnsafePathError, match=message) as info:
        LogStore.from_url(url, StoreOptions(environ={}))
    assert_no_secret(str(info.value))
    assert "kuberun-test-secret" not in str(info.value)


def test_credentials_come_from_the_mounted_secret_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    write(secret / "AWS_ACCESS_KEY_ID", s3.FAKE_KEY_ID + "\n")
    write(secret / "AWS_SECRET_ACCESS_KEY", s3.FAKE_SECRET + "\n")
    write(secret / "AWS_SESSION_TOKEN", SECRETS[2])
    write(secret / "AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    write(secret / "AWS_REGION", "eu-west-1")
    environ = {"AWS_ACCESS_KEY_ID": "from-env", "AWS_SECRET_ACCESS_KEY": "from-env"}  # the files win
    creds = Credentials.load(StoreOptions(secret_dir=secret, environ=environ))
    assert creds.s3_options() == {
        "key": s3.FAKE_KEY_ID,
        "secret": s3.FAKE_SECRET,
        "token": SECRETS[2],
        "endpoint_url": "http://127.0.0.1:9",
        "client_kwargs": {"region_name": "eu-west-1"},
    }
    store = LogStore.from_url("s3://bucket/p", StoreOptions(secret_dir=secret))
    assert_no_secret(repr(creds), str(creds), repr(store), str(store), repr(store.options))
    assert "AWS_SECRET_ACCESS_KEY" in repr(creds) and "http://127.0.0.1:9" in repr(store)
    assert creds.scrub(f"signed with {s3.FAKE_SECRET} by {s3.FAKE_KEY_ID}") == "signed with *** by ***"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(creds)


def test_credentials_fall_back_to_the_environment() -> None:
    creds = Credentials.load(StoreOptions(environ={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "HOME": "/x"}))
    assert creds.source == "environment" and creds.s3_options() == {"key": "k", "secret": "s"}
    assert Credentials.load(StoreOptions(environ={})).s3_options() == {}  # the client's default chain


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"AWS_ACCESS_KEY_ID": "k"}, "go together"),
        ({"AWS_ENDPOINT_URL": "ftp://host"}, "expected http"),
        ({"AWS_ENDPOINT_URL": "http://user:pw@host"}, "credentials in the URL are refused"),
    ],
)
def test_a_bad_secret_gets_a_clear_error(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, value in files.items():
        write(tmp_path / name, value)
    with pytest.raises(LogStoreConfigError, match=message):
        Credentials.load(StoreOptions(secret_dir=tmp_path))
    with pytest.raises(LogStoreConfigError, match="does not exist"):
        Credentials.load(StoreOptions(secret_dir=tmp_path / "missing"))


def test_options_are_bounded() -> None:
    with pytest.raises(LogStoreConfigError, match="at least 5 MiB"):
        StoreOptions(part_size=1 << 20)
    with pytest.raises(LogStoreConfigError, match="chunk_size must be at least 1"):
        StoreOptions(chunk_size=0)


def every_text(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


async def test_no_credential_in_errors_from_an_unreachable_endpoint() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environ = {
        "AWS_ACCESS_KEY_ID": s3.FAKE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": s3.FAKE_SECRET,
        "AWS_SESSION_TOKEN": SECRETS[2],
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    store = LogStore.from_url("s3://bucket/p", StoreOptions(environ=environ, max_attempts=1, connect_timeout=2))
    for call in (store.put_bytes("a/log", b"x"), store.exists("a/log"), store.check()):
        with pytest.raises(LogStoreError) as info:
            await call
        assert "s3://bucket/p" in str(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__
        assert_no_secret(*every_text(info.value))


async def test_no_credential_in_errors_from_the_server(s3_server: s3.S3Server) -> None:
    environ = s3_server.environ(AWS_SESSION_TOKEN=SECRETS[2])
    store = LogStore.from_url("s3://no-such-bucket-here/p", StoreOptions(environ=environ, max_attempts=1))
    for call in (store.put_bytes("a/log", b"x" * 100), store.check(), store.open_log("a/log")):
        with pytest.raises(LogStoreError) as info:
            await call
        assert_no_secret(*every_text(info.value), repr(store), repr(store.options), repr(store._credentials))


def test_the_key_layout_and_what_it_refuses() -> None:
    uid = "0F3C9E2A-1111-4222-8333-444455556666"
    assert paths.log_key("ns", "exp.v2", uid, "train", 3) == "ns/exp.v2-0f3c9e2a/train/3/log"
    assert paths.artifacts_prefix("ns", "exp", uid, "train", 0) == "ns/exp-0f3c9e2a/train/0/artifacts"
    assert paths.manifest_key("ns/exp-0f3c9e2a/train/0/artifacts") == "ns/exp-0f3c9e2a/train/0/artifacts.manifest.json"
    for bad in [("NS", "e", uid, "t", 0), ("ns", "../e", uid, "t", 0), ("ns", "e", "zz", "t", 0),
                ("ns", "e", uid, "t/x", 0), ("ns", "e", uid, "t", -1), ("ns", "e", uid, "t", True)]:
        with pytest.raises(UnsafePathError):
            paths.log_key(*bad)
    with pytest.raises(UnsafePathError, match="more than 1024"):
        paths.parts("a/" * 600)
    assert paths.parts("weird name ?#*[x]/ünï.txt") == ("weird name ?#*[x]", "ünï.txt")


async def test_check_accepts_a_reachable_store_and_names_a_missing_bucket(s3_server: s3.S3Server, tmp_path: Path) -> None:
    await LogStore.from_url(str(tmp_path / "new" / "dir")).check()
    assert (tmp_path / "new" / "dir").is_dir()
    s3_server.create_bucket("check-ok")
    await LogStore.from_url("s3://check-ok/p", StoreOptions(environ=s3_server.environ())).check()
    with pytest.raises(LogStoreConfigError, match="bucket 'check-missing' does not exist"):
        await LogStore.from_url("s3://check-missing/p", StoreOptions(environ=s3_server.environ())).check()
