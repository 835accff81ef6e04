"""The package's metadata is true: a LICENSE matching setup.cfg's license, one homepage for every
project URL, and trove classifiers that exist and agree with python_requires."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from trove_classifiers import classifiers as KNOWN_CLASSIFIERS

ROOT = Path(__file__).resolve().parents[1]


def metadata() -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser["metadata"]


def listed(value: str) -> list[str]:
    return [line.strip() for line in value.strip().splitlines() if line.strip()]


def test_license_file_is_the_license_setup_cfg_names():
    meta = metadata()
    assert meta["license"] == "BSD-3-Clause"
    text = (ROOT / meta["license_files"]).read_text()
    assert text.startswith("BSD 3-Clause License\n\nCopyright (c) LeakDB contributors\n")
    assert "Neither the name of the copyright holder nor the names of its" in text
    assert "License :: OSI Approved :: BSD License" in listed(meta["classifiers"])


def test_project_urls_share_one_homepage():
    meta = metadata()
    homepage = meta["url"]
    assert homepage == "https://github.com/leakdb/leakdb"
    urls = dict(line.split(" = ") for line in listed(meta["project_urls"]))
    assert set(urls) == {"Source", "Issues", "Documentation"}
    assert all(url.startswith(homepage) for url in urls.values()), urls


def test_classifiers_exist_and_agree_with_python_requires():
    meta = metadata()
    found = listed(meta["classifiers"])
    assert [name for name in found if name not in KNOWN_CLASSIFIERS] == []
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    minimum = tuple(int(part) for part in parser["options"]["python_requires"].removeprefix(">=").split("."))
    versions = [
        tuple(int(part) for part in match.group(1).split("."))
        for name in found
        if (match := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", name))
    ]
    assert versions and min(versions) == minimum
    # There is no "Framework :: Gevent" classifier (PyPI refuses unknown ones): gevent is a keyword.
    assert "Topic :: Database :: Database Engines/Servers" in found
    assert "gevent" in [word.strip() for word in meta["keywords"].split(",")]
    assert sum(name.startswith("Development Status ::") for name in found) == 1
    assert any(name.startswith("Operating System ::") for name in found)


def test_each_error_text_is_named_once():
    # A second assignment would silently change the reply of every command using the first.
    import ast

    import leakdb.errors

    tree = ast.parse(Path(leakdb.errors.__file__).read_text())
    names = [target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets]
    assert sorted({name for name in names if names.count(name) > 1}) == []
