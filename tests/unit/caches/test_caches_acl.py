"""The ACL of a shared cache directory: getfacl's output, and what is missing from it."""

import pytest

from trainserver.caches import acl

GID = 994
# getfacl --numeric --absolute-names of a cache as ts-caches apply leaves it (header kept:
# the parser must skip it too).
AS_APPLIED = """# file: /mnt/storage/cache/pip
# owner: 0
# group: 994
# flags: -s-
user::rwx
group::rwx
group:994:rwx
mask::rwx
other::r-x
default:user::rwx
default:group::rwx
default:group:994:rwx
default:mask::rwx
default:other::r-x

"""


def test_parse_reads_every_entry():
    entries = acl.parse(AS_APPLIED)
    assert len(entries) == 10
    assert acl.Entry(True, "group", "994", "rwx") in entries
    assert acl.Entry(False, "other", "", "r-x") in entries


def test_as_applied_nothing_is_missing():
    assert acl.missing(acl.parse(AS_APPLIED), GID) == []


def test_effective_comments_are_ignored():
    text = "user::rw-\ngroup::rwx\t#effective:rw-\ngroup:994:rwx\t#effective:rw-\nmask::rw-\n"
    assert acl.Entry(False, "group", "994", "rwx") in acl.parse(text)


def test_a_chmod_and_a_lost_default_acl_are_found():
    # what `chmod g-w` and `setfacl -k` leave
    text = ("user::rwx\ngroup::rwx\t#effective:r-x\ngroup:994:rwx\t#effective:r-x\n"
            "mask::r-x\nother::r-x\n")
    lacking = acl.missing(acl.parse(text), GID)
    assert acl.Entry(False, "mask", "", "rwx") in lacking
    assert acl.Entry(True, "group", "994", "rwx") in lacking
    assert acl.Entry(False, "group", "994", "rwx") not in lacking
    assert "default:group:mlusers:rwx" in acl.describe(acl.parse(text), "mlusers", GID)


def test_a_plain_directory_lacks_the_named_and_default_entries():
    lacking = acl.missing(acl.parse("user::rwx\ngroup::r-x\nother::r-x\n"), GID)
    assert len(lacking) == 8  # all but user:: and other::


def test_the_group_of_another_gid_does_not_count():
    assert acl.Entry(False, "group", "994", "rwx") in acl.missing(
        acl.parse(AS_APPLIED.replace("994", "1000")), GID)


def test_extra_entries_an_admin_added_are_fine():
    assert acl.missing(acl.parse(AS_APPLIED + "user:1000:rwx\n"), GID) == []


def test_setfacl_specs():
    assert acl.setfacl_spec(GID) == ("u::rwx,g::rwx,g:994:rwx,m::rwx,o::rx,"
                                     "d:u::rwx,d:g::rwx,d:g:994:rwx,d:m::rwx,d:o::rx")
    assert acl.default_only_spec(GID) == "d:u::rwx,d:g::rwx,d:g:994:rwx,d:m::rwx,d:o::rx"


@pytest.mark.parametrize("line", ["user:rwx", "owner::rwx", "user::rwz", "group::rw"])
def test_what_is_not_an_entry_is_an_error(line):
    with pytest.raises(acl.AclParseError):
        acl.parse(line)
