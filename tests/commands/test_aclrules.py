"""The ACL rule model alone (leakdb/commands/aclrules.py): rules, descriptions and checks, no server."""

from __future__ import annotations

import hashlib

import pytest

from leakdb.commands import aclrules
from leakdb.commands.aclrules import READ, WRITE, Request, RuleError

UNIVERSE = aclrules.redis_universe()


def user_with(*rules: str) -> aclrules.User:
    user = aclrules.new_user("u")
    for rule in aclrules.merge_selectors(list(rules)):
        user.apply(rule, UNIVERSE)
    return user


def test_passwords_are_sha256_hex():
    user = user_with(">secret", "on")
    assert user.passwords == [hashlib.sha256(b"secret").hexdigest()]
    assert user.password_matches(b"secret")
    assert not user.password_matches(b"other")
    user.apply("<secret", UNIVERSE)
    assert user.passwords == []
    with pytest.raises(RuleError, match="does not exist"):
        user.apply("<secret", UNIVERSE)


def test_nopass_matches_anything_and_resetpass_clears_it():
    user = user_with("nopass")
    assert user.password_matches(b"whatever")
    user.apply("resetpass", UNIVERSE)
    assert not user.password_matches(b"whatever")


@pytest.mark.parametrize(
    ("rules", "described"),
    [
        (["+get", "+@read"], "-@all +@read"),
        (["+@all", "-@dangerous", "+get"], "+@all -@dangerous"),
        (["+@all", "-get", "+get"], "+@all"),
        (["+@read", "+@write"], "-@all +@write +@read"),
        (["+client", "-client|kill"], "-@all +client -client|kill"),
        (["+select|0"], "-@all +select|0"),
    ],
)
def test_commands_are_described_as_redis_rebuilds_them(rules, described):
    assert user_with(*rules).root.describe_commands(UNIVERSE) == described


def test_command_check_with_subcommands_and_first_args():
    user = user_with("+@all", "-config|set", "-select", "+select|0", "~*", "&*")
    assert user.check(Request("config|get", [b"config", b"get", b"x"]))[0] == aclrules.OK
    assert user.check(Request("config|set", [b"config", b"set"]))[0] == aclrules.DENIED_COMMAND
    assert user.check(Request("select", [b"select", b"0"], first="0"))[0] == aclrules.OK
    assert user.check(Request("select", [b"select", b"1"], first="1"))[0] == aclrules.DENIED_COMMAND


def test_key_patterns_with_read_and_write_flags():
    user = user_with("+@all", "%R~r*", "%W~w*", "~both*")
    args = [b"cmd", b"r1", b"w1", b"both1"]
    assert user.check(Request("get", args, keys=[(1, READ)]))[0] == aclrules.OK
    assert user.check(Request("set", args, keys=[(1, WRITE)])) == (aclrules.DENIED_KEY, 1)
    assert user.check(Request("set", args, keys=[(2, WRITE)]))[0] == aclrules.OK
    assert user.check(Request("incr", args, keys=[(2, READ | WRITE)])) == (aclrules.DENIED_KEY, 2)
    assert user.check(Request("incr", args, keys=[(3, READ | WRITE)]))[0] == aclrules.OK


def test_channels_and_literal_patterns():
    user = user_with("+@all", "&news.*")
    assert user.check(Request("publish", [b"publish", b"news.1"], channels=[(1, False)]))[0] == aclrules.OK
    assert (
        user.check(Request("publish", [b"publish", b"x"], channels=[(1, False)]))[0]
        == aclrules.DENIED_CHANNEL
    )
    assert user.check(Request("psubscribe", [b"p", b"news.*"], channels=[(1, True)]))[0] == aclrules.OK
    assert (
        user.check(Request("psubscribe", [b"p", b"news*"], channels=[(1, True)]))[0]
        == aclrules.DENIED_CHANNEL
    )


def test_selectors_add_permissions_and_the_most_specific_refusal_wins():
    user = user_with("+get", "~a*", "(+set ~b*)")
    assert user.check(Request("set", [b"set", b"b1"], keys=[(1, WRITE)]))[0] == aclrules.OK
    assert user.check(Request("set", [b"set", b"a1"], keys=[(1, WRITE)])) == (aclrules.DENIED_KEY, 1)
    assert user.describe(UNIVERSE) == "user u off ~a* resetchannels -@all +get (~b* resetchannels -@all +set)"


def test_unrestricted_only_with_everything():
    assert aclrules.default_user(UNIVERSE).unrestricted(UNIVERSE)
    assert not user_with("+@all", "~*").unrestricted(UNIVERSE)
    assert not user_with("+@all", "-get", "~*", "&*").unrestricted(UNIVERSE)


@pytest.mark.parametrize(
    ("rule", "message"),
    [("foo", "Syntax error"), ("+nosuch", "Unknown command"), ("#abc", "exactly 64"), ("%X~a", "Syntax")],
)
def test_refused_rules(rule, message):
    with pytest.raises(RuleError, match=message):
        user_with(rule)


def test_unclosed_selector():
    with pytest.raises(RuleError, match="Unmatched parenthesis in acl selector starting at '\\(\\+get'"):
        aclrules.merge_selectors(["(+get", "~x"])
