"""Storage URLs: parsing, defaults, TLS, and the password never shown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.errors import ConfigError
from sinks.url import StorageUrl, connect


def test_server_url_with_credentials_and_options() -> None:
    u = StorageUrl.parse("clickhouse://rw:p%40ss@db.local:9001/riskwatch?connect_timeout=3&verify=false")
    assert (u.scheme, u.host, u.port, u.user, u.password, u.database) == (
        "clickhouse", "db.local", 9001, "rw", "p@ss", "riskwatch")
    assert u.options == {"connect_timeout": "3", "verify": "false"}
    assert not u.secure


def test_tls_scheme_is_secure_with_its_default_port() -> None:
    u = StorageUrl.parse("clickhouses://db.local/riskwatch")
    assert u.secure and u.port == 9440 and u.user == "default"


def test_chdb_url_splits_directory_and_database() -> None:
    u = StorageUrl.parse("chdb:///var/lib/riskwatch/rw")
    assert (u.scheme, u.path, u.database) == ("chdb", "/var/lib/riskwatch", "rw")
    assert u.redacted == "chdb:///var/lib/riskwatch/rw"


@pytest.mark.parametrize(("url", "match"), [
    ("postgres://h/db", "scheme"),
    ("chdb://relative/db", "absolute"),
    ("chdb:///db", "absolute"),
    ("clickhouse://h/bad-name", "database"),
    ("clickhouse:///db", "no host"),
    ("clickhouse://h/db?password=x", "unknown option"),
    ("clickhouse://u:secret@h:99999/db", "cannot parse"),
])
def test_bad_urls_are_config_errors(url: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        StorageUrl.parse(url)
    assert "secret" not in str(info.value)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30))
def test_password_never_appears_in_repr_or_redacted_form(password: str) -> None:
    from urllib.parse import quote

    u = StorageUrl.parse(f"clickhouse://rw:{quote(password, safe='')}@h:9000/db")
    assert u.password == password
    assert u.redacted == str(u) == "clickhouse://rw:***@h:9000/db"
    assert repr(u) == ("StorageUrl(scheme='clickhouse', database='db', host='h', port=9000, user='rw', "
                       "path='', options={})")


def test_connect_to_a_down_server_is_lazy_and_redacted() -> None:
    b = connect("clickhouse://rw:topsecret@127.0.0.1:1/db?connect_timeout=0.2")
    assert "topsecret" not in repr(b) and b.url == "clickhouse://rw:***@127.0.0.1:1/db"
    assert b.ping() is False
    b.close()
