"""What only the local adapter promises: its layout, read-only files, renames instead of copies."""

from __future__ import annotations

import errno
import hashlib
import os
import stat

import pytest

from multiverse.blobs import LocalBlobStore
from multiverse.errors import Corrupt


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def local(tmp_path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_layout_and_read_only_files(local):
    digest = local.put_bytes(b"hello")
    path = local.root / "sha256" / digest[:2] / digest[2:4] / digest
    assert local.path_of(digest) == path
    assert path.read_bytes() == b"hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert os.listdir(local.root / "tmp") == []
    assert "blobs" in local.describe()


def test_move_on_the_same_filesystem_renames(local, tmp_path):
    path = tmp_path / "state"
    path.write_bytes(b"x" * 100_000)
    inode = path.stat().st_ino
    digest = local.put_file(path, sha(b"x" * 100_000), move=True)
    assert not path.exists()
    assert local.path_of(digest).stat().st_ino == inode  # renamed, not copied
    assert stat.S_IMODE(local.path_of(digest).stat().st_mode) == 0o444


def test_move_with_a_wrong_digest_gives_the_file_back(local, tmp_path):
    path = tmp_path / "state"
    path.write_bytes(b"payload")
    path.chmod(0o640)
    with pytest.raises(Corrupt):
        local.put_file(path, sha(b"other"), move=True)
    assert path.read_bytes() == b"payload"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert list(local.digests()) == []
    assert os.listdir(local.root / "tmp") == []


def test_move_from_another_filesystem_copies(local):
    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(local.root).st_dev:
        pytest.skip("needs a second filesystem (/dev/shm)")
    path = os.path.join(shm, f"multiverse-test-{os.getpid()}")
    with open(path, "wb") as f:
        f.write(b"from tmpfs")
    try:
        assert local.put_file(path, move=True) == sha(b"from tmpfs")
        assert not os.path.exists(path)
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_publishes_where_hard_links_are_not_supported(local, monkeypatch):
    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    digest = local.put_bytes(b"on a filesystem without hard links")
    assert local.read(digest) == b"on a filesystem without hard links"
    assert os.listdir(local.root / "tmp") == []


def test_a_failed_publish_leaves_no_staging_file(local, monkeypatch):
    def broken(src, dst):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "link", broken)
    with pytest.raises(OSError):
        local.put_bytes(b"doomed")
    assert os.listdir(local.root / "tmp") == []
    assert list(local.digests()) == []


def test_reopening_a_store_sees_its_blobs(local):
    digest = local.put_bytes(b"persisted")
    again = LocalBlobStore(local.root)
    assert again.read(digest) == b"persisted"
    assert list(again.digests()) == [digest]


def test_digests_ignores_foreign_files(local):
    digest = local.put_bytes(b"real")
    (local.root / "sha256" / digest[:2] / digest[2:4] / "notes.txt").write_text("not a blob")
    (local.root / "sha256" / "zz").mkdir()
    assert list(local.digests()) == [digest]
