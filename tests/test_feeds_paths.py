"""Every path finews writes is made of plain names, none of them a symlink, so it stays inside its folder."""

from __future__ import annotations

import pytest

from feeds.paths import UnsafePathError, inside


@pytest.mark.parametrize("names", [("..",), (".",), ("",), ("a/b",), ("..", "x"), (".hidden",), ("x\x00",),
                                   ("-rf",), ("a" * 256,), ("rss.xml", "..")])
def test_a_name_that_is_not_a_plain_file_name_is_refused(tmp_path, names):
    with pytest.raises(UnsafePathError):
        inside(tmp_path, *names)


def test_a_symlink_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "linked").symlink_to(tmp_path / "out", target_is_directory=True)
    with pytest.raises(UnsafePathError, match="outside"):
        inside(tmp_path / "site", "linked", "rss.xml")


def test_plain_names_give_the_path_inside_the_folder(tmp_path):
    assert inside(tmp_path, "all", "rss.xml") == tmp_path / "all" / "rss.xml"
    assert inside(tmp_path, "2021-12-21-NW202112212221504115.md") == tmp_path / "2021-12-21-NW202112212221504115.md"


def test_a_symlink_is_refused_even_when_it_points_inside_the_folder(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "real" / "rss.xml").symlink_to(tmp_path / "real" / "atom.xml")
    for names in (("alias", "rss.xml"), ("real", "rss.xml")):
        with pytest.raises(UnsafePathError, match="symlink"):
            inside(tmp_path, *names)
