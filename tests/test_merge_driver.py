"""The merge driver: three-way merges of record files, field by field, on their own and
through real `git merge`s of two branches; and what `crm check` finds after a merge."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import BILLING
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from crm.store import yamlio
from crm.store.merge3 import merge_files
from helpers import invoice_with_lines, load, no_traceback, run_process

BASE = """\
title: Acme redesign   # the big one
company: acme
contact: ada
value: "4500.00"
stage: proposal
close_date: 2026-03-01
tags:
  - web
  - design
address:
  city: Berlin
  country: DE
history:
  - at: 2026-02-05T16:20:00Z
    stage: lead
created: 2026-02-05T16:20:00Z
updated: 2026-02-05T16:20:00Z
"""


def merged(base: str, ours: str, theirs: str, path: str = "deals/acme.yaml"):
    result = merge_files(base.encode(), ours.encode(), theirs.encode(), path)
    return result, result.data.decode()


def edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


# -- the merge on its own ---------------------------------------------------------------------


def test_disjoint_changes_merge_and_keep_our_comments_and_order():
    ours = edit(BASE, ('value: "4500.00"', 'value: "5000.00"  # raised in March'))
    theirs = edit(
        BASE,
        ("stage: proposal", "stage: won"),
        ("close_date: 2026-03-01", "close_date: 2026-04-01"),
    )
    result, text = merged(BASE, ours, theirs)
    assert result.clean and not result.as_text
    assert text == edit(
        ours,
        ("stage: proposal", "stage: won"),
        ("close_date: 2026-03-01", "close_date: 2026-04-01"),
    )


def test_the_same_change_on_both_sides_is_no_conflict():
    both = edit(BASE, ("stage: proposal", "stage: won"))
    result, text = merged(BASE, both, both)
    assert result.clean and text == both


def test_a_field_added_or_removed_on_one_side_follows_that_side():
    ours = edit(BASE, ("close_date: 2026-03-01\n", ""))  # removed by us
    theirs = edit(BASE, ("stage: proposal\n", "stage: proposal\nprobability: 60\n"))  # added
    result, text = merged(BASE, ours, theirs)
    assert result.clean
    data = yaml.safe_load(text)
    assert "close_date" not in data and data["probability"] == 60
    # the new field goes where the schema puts it: after the stage
    assert "stage: proposal\nprobability: 60\n" in text


def test_nested_mappings_merge_key_by_key():
    ours = edit(BASE, ("  city: Berlin", "  city: Hamburg"))
    theirs = edit(BASE, ("  country: DE", "  country: DE\n  postcode: '20095'"))
    result, text = merged(BASE, ours, theirs)
    assert result.clean
    assert yaml.safe_load(text)["address"] == {
        "city": "Hamburg",
        "country": "DE",
        "postcode": "20095",
    }


def test_set_like_lists_merge_both_sides_additions_and_removals_in_our_order():
    ours = edit(BASE, ("  - design\n", "  - design\n  - urgent\n"))
    theirs = edit(BASE, ("  - web\n", ""), ("  - design\n", "  - design\n  - retainer\n"))
    result, text = merged(BASE, ours, theirs)
    assert result.clean
    assert yaml.safe_load(text)["tags"] == ["design", "urgent", "retainer"]


def test_the_same_tag_added_on_both_sides_is_kept_once():
    ours = edit(BASE, ("  - design\n", "  - design\n  - urgent\n  - a\n"))
    theirs = edit(BASE, ("  - design\n", "  - design\n  - b\n  - urgent\n"))
    result, text = merged(BASE, ours, theirs)
    assert result.clean
    assert yaml.safe_load(text)["tags"] == ["web", "design", "urgent", "a", "b"]


def test_refs_lists_of_a_task_merge_as_sets():
    base = "title: Call\ncontacts:\n  - ada\n  - bob\n"
    ours = "title: Call\ncontacts:\n  - ada\n  - bob\n  - cy\n"
    theirs = "title: Call\ncontacts:\n  - bob\n"
    result, text = merged(base, ours, theirs, "tasks/call.yaml")
    assert result.clean
    assert yaml.safe_load(text)["contacts"] == ["bob", "cy"]


def test_append_only_lists_keep_base_then_our_then_their_new_entries():
    entry = "  - at: 2026-02-0{d}T09:00:00Z\n    stage: {s}\n"
    ours = edit(BASE, ("    stage: lead\n", "    stage: lead\n" + entry.format(d=6, s="qualified")))
    theirs = edit(
        BASE,
        (
            "    stage: lead\n",
            "    stage: lead\n" + entry.format(d=6, s="qualified") + entry.format(d=7, s="won"),
        ),
    )
    result, text = merged(BASE, ours, theirs)
    assert result.clean
    history = yaml.safe_load(text)["history"]
    assert [h["stage"] for h in history] == ["lead", "qualified", "won"]  # the shared one once
    # dates stay dates, unquoted, as crm writes them
    assert "  - at: 2026-02-07T09:00:00Z\n    stage: won\n" in text


def test_payments_of_both_sides_are_all_kept():
    base = 'title: Site\nnumber: "2026-0001"\nstatus: issued\n'
    ours = base + 'payments:\n  - date: 2026-03-01\n    amount: "100.00"\n'
    theirs = base + 'payments:\n  - date: 2026-03-02\n    amount: "50.00"\n    method: cash\n'
    result, text = merged(base, ours, theirs, "invoices/site.yaml")
    assert result.clean
    assert yaml.safe_load(text)["payments"] == [
        {"date": dt.date(2026, 3, 1), "amount": "100.00"},
        {"date": dt.date(2026, 3, 2), "amount": "50.00", "method": "cash"},
    ]


INVOICE = """\
title: Site
number: "2026-0001"
status: issued
payments:
  - date: 2026-03-01
    amount: "100.00"
updated: 2026-03-01T09:00:00Z
"""
SECOND = '  - date: 2026-03-05\n    amount: "50.00"\n'


def amounts(text: str) -> list[str]:
    return [p["amount"] for p in yaml.safe_load(text).get("payments", [])]


def test_a_payment_corrected_on_one_side_and_added_on_the_other_is_counted_once():
    theirs = edit(INVOICE, ('"100.00"', '"10.00"'))
    ours = edit(INVOICE, ("updated:", SECOND + "updated:"))
    result, text = merged(INVOICE, ours, theirs, "invoices/x.yaml")
    assert result.clean
    assert amounts(text) == ["10.00", "50.00"]  # the correction in place, the new one kept
    result, text = merged(INVOICE, theirs, ours, "invoices/x.yaml")  # the sides swapped
    assert result.clean and amounts(text) == ["10.00", "50.00"]


def test_a_payment_removed_on_one_side_is_removed_whatever_the_other_added():
    theirs = edit(INVOICE, ('payments:\n  - date: 2026-03-01\n    amount: "100.00"\n', ""))
    ours = edit(INVOICE, ("updated:", SECOND + "updated:"))
    result, text = merged(INVOICE, ours, theirs, "invoices/x.yaml")
    assert result.clean and amounts(text) == ["50.00"]
    result, text = merged(INVOICE, theirs, ours, "invoices/x.yaml")
    assert result.clean and amounts(text) == ["50.00"]


def test_a_payment_removed_on_both_sides_and_new_ones_on_each_are_all_merged():
    gone = ('  - date: 2026-03-01\n    amount: "100.00"\n', "")
    ours = edit(INVOICE, gone, ("updated:", SECOND + "updated:"))
    theirs = edit(INVOICE, gone, ("updated:", SECOND.replace("50.00", "70.00") + "updated:"))
    result, text = merged(INVOICE, ours, theirs, "invoices/x.yaml")
    assert result.clean and amounts(text) == ["50.00", "70.00"]


def test_one_payment_changed_both_ways_is_a_conflict_on_that_payment():
    ours = edit(INVOICE, ('"100.00"', '"90.00"'), ("updated:", SECOND + "updated:"))
    theirs = edit(INVOICE, ('"100.00"', '"10.00"'))
    result, text = merged(INVOICE, ours, theirs, "invoices/x.yaml")
    assert result.conflicts == ("payments",)
    assert '<<<<<<< ours\n    amount: "90.00"\n=======\n    amount: "10.00"\n>>>>>>> theirs\n' in (
        text
    )
    assert text.count('amount: "50.00"') == 1 and "100.00" not in text


def test_a_payment_removed_on_one_side_and_changed_on_the_other_is_a_conflict():
    ours = edit(INVOICE, ('payments:\n  - date: 2026-03-01\n    amount: "100.00"\n', ""))
    theirs = edit(INVOICE, ('"100.00"', '"10.00"'))
    result, text = merged(INVOICE, ours, theirs, "invoices/x.yaml")
    assert result.conflicts == ("payments",)
    assert "<<<<<<< ours\n" in text and 'amount: "10.00"\n>>>>>>> theirs' in text


def test_history_reminders_and_periods_merge_removals_and_changes_too():
    base = "title: Big\nstage: won\nhistory:\n  - at: 2026-02-01T09:00:00Z\n    stage: lead\n"
    base += "  - at: 2026-02-03T09:00:00Z\n    stage: won\n"
    ours = base + "  - at: 2026-02-04T09:00:00Z\n    stage: lost\n"
    theirs = base.replace("  - at: 2026-02-03T09:00:00Z\n    stage: won\n", "")  # undone
    result, text = merged(base, ours, theirs)
    assert result.clean
    assert [h["stage"] for h in yaml.safe_load(text)["history"]] == ["lead", "lost"]
    base = 'title: S\nnumber: "2026-0001"\nstatus: issued\nreminders:\n  - date: 2026-04-01\n'
    base += "    level: 1\n"
    ours = base + "  - date: 2026-04-15\n    level: 2\n"
    theirs = base.replace("level: 1", "level: 1\n    note: by post")
    result, text = merged(base, ours, theirs, "invoices/s.yaml")
    assert result.clean
    assert yaml.safe_load(text)["reminders"] == [
        {"date": dt.date(2026, 4, 1), "level": 1, "note": "by post"},
        {"date": dt.date(2026, 4, 15), "level": 2},
    ]
    base = "title: Hosting\ninvoiced:\n  - period: 2026-01\n    invoice: a\n"
    ours = base + "  - period: 2026-02\n    invoice: b\n"
    theirs = "title: Hosting\ninvoiced:\n  - period: 2026-01\n    invoice: c\n"
    result, text = merged(base, ours, theirs, "recurring/hosting.yaml")
    assert result.clean
    assert yaml.safe_load(text)["invoiced"] == [
        {"period": "2026-01", "invoice": "c"},
        {"period": "2026-02", "invoice": "b"},
    ]


FATES = st.sampled_from(["keep", "remove", "correct"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(0, 4),
    ours=st.lists(FATES, min_size=4, max_size=4),
    theirs=st.lists(FATES, min_size=4, max_size=4),
    ours_new=st.integers(0, 2),
    theirs_new=st.integers(0, 2),
)
def test_payments_merge_like_sets_of_payments_whatever_each_side_did(
    count, ours, theirs, ours_new, theirs_new
):
    """Each payment as each side left it: taken back or corrected on one side is so in the
    merge, new on either side is in it, and taken two ways is a conflict, never both."""
    base = [{"amount": f"{i}.00", "reference": f"r{i}"} for i in range(count)]

    def side(fates: list[str], tag: str, new: int) -> list[dict]:
        out = []
        for i, entry in enumerate(base):
            if fates[i] == "correct":
                out.append({**entry, "amount": f"{tag}{i}.50"})
            elif fates[i] == "keep":
                out.append(entry)
        return out + [{"amount": f"{tag}0{j}.00", "reference": f"{tag}-{j}"} for j in range(new)]

    def text(payments: list[dict]) -> str:
        return yamlio.dump_new({"title": "Site", "status": "issued", "payments": payments})

    result = merge_files(
        text(base).encode(),
        text(side(ours, "1", ours_new)).encode(),
        text(side(theirs, "2", theirs_new)).encode(),
        "invoices/site.yaml",
    )
    assert not result.as_text
    both = [i for i in range(count) if ours[i] != "keep" and theirs[i] != "keep"]
    if any(ours[i] == "correct" or theirs[i] == "correct" for i in both):
        assert result.conflicts == ("payments",)
        assert "<<<<<<< ours" in result.data.decode()
        return
    assert result.clean
    wanted = []
    for i, entry in enumerate(base):
        fates = {ours[i], theirs[i]}
        if "remove" in fates:
            continue
        tag = "1" if ours[i] == "correct" else "2" if theirs[i] == "correct" else ""
        wanted.append({**entry, "amount": f"{tag}{i}.50"} if tag else entry)
    wanted += side(["remove"] * 4, "1", ours_new) + side(["remove"] * 4, "2", theirs_new)
    got = yaml.safe_load(result.data.decode()).get("payments", [])
    assert sorted(got, key=lambda p: p["reference"]) == sorted(wanted, key=lambda p: p["reference"])


def test_a_tag_renamed_differently_on_both_sides_is_a_conflict_not_two_tags():
    ours = edit(BASE, ("  - design\n", "  - branding\n"))
    theirs = edit(BASE, ("  - design\n", "  - print\n"))
    result, text = merged(BASE, ours, theirs)
    assert result.conflicts == ("tags",)
    assert "<<<<<<< ours\n  - branding\n=======\n  - print\n>>>>>>> theirs\n" in text


def test_an_identical_payment_added_by_one_side_is_kept_beside_the_same_one_in_base():
    # two payments of the same amount on the same day are two payments
    theirs = edit(INVOICE, ("updated:", '  - date: 2026-03-01\n    amount: "100.00"\nupdated:'))
    ours = edit(INVOICE, ("status: issued", "status: sent"))
    result, text = merged(INVOICE, ours, theirs, "invoices/x.yaml")
    assert result.clean and amounts(text) == ["100.00", "100.00"]


def test_our_comments_beside_a_payment_taken_back_are_kept():
    ours = edit(
        INVOICE,
        ('    amount: "100.00"\n', '    amount: "100.00"  # by card\n# paid in two parts\n'),
        ("updated:", SECOND + "updated:"),
    )
    theirs = edit(INVOICE, ('"100.00"', '"10.00"'))
    result, text = merged(INVOICE, ours, theirs, "invoices/x.yaml")
    assert result.clean and amounts(text) == ["10.00", "50.00"]
    assert re.search(
        r'    amount: "10.00" +# by card\n# paid in two parts\n  - date: 2026-03-05\n', text
    )
    theirs = edit(INVOICE, ('payments:\n  - date: 2026-03-01\n    amount: "100.00"\n', ""))
    result, text = merged(INVOICE, ours, theirs, "invoices/x.yaml")
    assert result.clean and amounts(text) == ["50.00"]
    assert "# paid in two parts" in text and "by card" not in text


def test_updated_takes_the_later_time_and_never_conflicts():
    ours = edit(BASE, ("updated: 2026-02-05T16:20:00Z", "updated: 2026-02-09T10:00:00Z"))
    theirs = edit(
        BASE,
        ("updated: 2026-02-05T16:20:00Z", "updated: 2026-02-08T10:00:00Z"),
        ("stage: proposal", "stage: won"),
    )
    result, text = merged(BASE, ours, theirs)
    assert result.clean
    assert "updated: 2026-02-09T10:00:00Z\n" in text and "stage: won\n" in text
    result, text = merged(BASE, theirs, ours)
    assert result.clean and "updated: 2026-02-09T10:00:00Z\n" in text


def test_a_rule_fired_on_both_sides_keeps_the_earlier_time_and_both_rules():
    base = "title: Call\n"
    ours = "title: Call\nfired:\n  overdue: 2026-03-02T08:00:00Z\n"
    theirs = "title: Call\nfired:\n  overdue: 2026-03-01T08:00:00Z\n  nudge: 2026-03-01T08:00:00Z\n"
    result, text = merged(base, ours, theirs, "tasks/call.yaml")
    assert result.clean
    assert text == (
        "title: Call\nfired:\n  overdue: 2026-03-01T08:00:00Z\n  nudge: 2026-03-01T08:00:00Z\n"
    )


def test_a_field_changed_both_ways_is_marked_alone_and_the_rest_merged():
    ours = edit(BASE, ("stage: proposal", "stage: lost"), ("  city: Berlin", "  city: Munich"))
    theirs = edit(
        BASE,
        ("stage: proposal", "stage: won"),
        ("  city: Berlin", "  city: Hamburg"),
        ("contact: ada", "contact: bob"),
    )
    result, text = merged(BASE, ours, theirs)
    assert result.conflicts == ("stage", "address.city")
    assert text == edit(
        BASE,
        ("contact: ada", "contact: bob"),
        ("stage: proposal\n", "<<<<<<< ours\nstage: lost\n=======\nstage: won\n>>>>>>> theirs\n"),
        (
            "  city: Berlin\n",
            "<<<<<<< ours\n  city: Munich\n=======\n  city: Hamburg\n>>>>>>> theirs\n",
        ),
    )


def test_a_field_we_removed_and_they_changed_conflicts():
    ours = edit(BASE, ("close_date: 2026-03-01\n", ""))
    theirs = edit(BASE, ("close_date: 2026-03-01", "close_date: 2026-05-01"))
    result, text = merged(BASE, ours, theirs)
    assert result.conflicts == ("close_date",)
    assert "<<<<<<< ours\n=======\nclose_date: 2026-05-01\n>>>>>>> theirs\n" in text


def test_a_multi_line_note_changed_both_ways_keeps_both_texts():
    base = "title: X\nnotes: |\n  first\n  second\n"
    ours = "title: X\nnotes: |\n  first\n  second, ours\n"
    theirs = "title: X\nnotes: |\n  first\n  second, theirs\n"
    result, text = merged(base, ours, theirs)
    assert result.conflicts == ("notes",)
    assert "second, ours" in text and "second, theirs" in text
    assert text.startswith("title: X\n")


def test_both_sides_adding_one_file_merge_from_an_empty_base():
    ours = "name: Ada\nemails:\n  - ada@x.example\n"
    theirs = "name: Ada\nphones:\n  - '+49 40 1'\n"
    result, text = merged("", ours, theirs, "contacts/ada.yaml")
    assert result.clean
    assert yaml.safe_load(text) == {
        "name": "Ada",
        "emails": ["ada@x.example"],
        "phones": ["+49 40 1"],
    }


def test_yes_and_numbers_keep_their_meaning_when_taken_from_theirs():
    base = "name: Ada\ncustom:\n  newsletter: no\n  code: '0123'\n"
    ours = "name: Ada Lovelace\ncustom:\n  newsletter: no\n  code: '0123'\n"
    theirs = "name: Ada\ncustom:\n  newsletter: yes\n  code: '0124'\n"
    result, text = merged(base, ours, theirs, "contacts/ada.yaml")
    assert result.clean
    assert yaml.safe_load(text) == {
        "name": "Ada Lovelace",
        "custom": {"newsletter": True, "code": "0124"},
    }


CONTACT = """\
name: Ada Lovelace
title: CTO
company: acme
phones:
  - "+49 30 1"
updated: 2026-01-01T09:00:00Z
"""


def test_their_new_comments_arrive_where_they_wrote_them():
    ours = edit(
        CONTACT,
        ("title: CTO", "title: CEO"),
        ("updated: 2026-01-01T09:00:00Z", "updated: 2026-01-03T09:00:00Z"),
    )
    theirs = "# Call her only after 5pm\n" + edit(
        CONTACT,
        ('  - "+49 30 1"\n', '  - "+49 30 1"  # her desk\n  - "+49 170 2"\n'),
        ("updated: 2026-01-01T09:00:00Z", "updated: 2026-01-02T09:00:00Z"),
    )
    result, text = merged(CONTACT, ours, theirs, "contacts/ada.yaml")
    assert result.clean, text
    assert text == (
        "# Call her only after 5pm\n"
        "name: Ada Lovelace\ntitle: CEO\ncompany: acme\n"
        'phones:\n  - "+49 30 1"  # her desk\n  - "+49 170 2"\n'
        "updated: 2026-01-03T09:00:00Z\n"
    )


def test_their_comment_beside_a_field_we_changed_is_marked_for_the_user():
    ours = edit(CONTACT, ("title: CTO", "title: CEO"))
    theirs = "# Call her only after 5pm\n" + edit(
        CONTACT, ("title: CTO\n", "title: CTO  # since May\n# not the founder\n")
    )
    result, text = merged(CONTACT, ours, theirs, "contacts/ada.yaml")
    assert not result.clean and result.conflicts == ()
    assert result.comments == ("# since May", "# not the founder")
    assert text == (
        "# Call her only after 5pm\n"
        "name: Ada Lovelace\ntitle: CEO\n"
        "<<<<<<< ours\n=======\n# since May\n# not the founder\n>>>>>>> theirs\n"
        'company: acme\nphones:\n  - "+49 30 1"\nupdated: 2026-01-01T09:00:00Z\n'
    )
    # keeping their lines and deleting the markers gives the merged record
    kept = text.replace("<<<<<<< ours\n=======\n", "").replace(">>>>>>> theirs\n", "")
    assert yaml.safe_load(kept) == yaml.safe_load(ours)


def test_their_comments_in_a_merge_with_a_conflict_are_on_their_side():
    ours = edit(CONTACT, ("title: CTO", "title: CEO"))
    theirs = edit(
        CONTACT, ("title: CTO", "title: COO  # acting"), ("acme\n", "acme\n# met in May\n")
    )
    result, text = merged(CONTACT, ours, theirs, "contacts/ada.yaml")
    assert result.conflicts == ("title",) and result.comments == ("# met in May",)
    assert text == (
        "name: Ada Lovelace\n"
        "<<<<<<< ours\ntitle: CEO\n=======\ntitle: COO  # acting\n>>>>>>> theirs\n"
        "company: acme\n<<<<<<< ours\n=======\n# met in May\n>>>>>>> theirs\n"
        'phones:\n  - "+49 30 1"\nupdated: 2026-01-01T09:00:00Z\n'
    )


def test_their_comments_on_lines_both_sides_left_alone_merge_clean():
    ours = edit(CONTACT, ("company: acme", "company: globex"))
    theirs = edit(CONTACT, ("name: Ada Lovelace", "name: Ada Lovelace  # née Byron"))
    result, text = merged(CONTACT, ours, theirs, "contacts/ada.yaml")
    assert result.clean
    assert text == edit(ours, ("name: Ada Lovelace", "name: Ada Lovelace  # née Byron"))


def test_a_comment_we_also_added_or_they_removed_is_no_conflict():
    ours = edit(CONTACT, ("title: CTO", "title: CEO  # promoted"))
    theirs = edit(CONTACT, ("title: CTO", "title: CEO  # promoted"), ("acme", "globex"))
    result, text = merged(CONTACT, ours, theirs, "contacts/ada.yaml")
    assert result.clean and text.count("# promoted") == 1 and "globex" in text
    base = "# old note\n" + CONTACT
    result, text = merged(base, base.replace("CTO", "CEO"), CONTACT, "contacts/ada.yaml")
    assert result.clean and text == base.replace("CTO", "CEO")  # ours is the text kept


def test_our_line_ends_and_byte_order_mark_are_kept():
    def crlf(text: str) -> bytes:
        return ("\ufeff" + text).replace("\n", "\r\n").encode()

    ours = edit(BASE, ("stage: proposal", "stage: won"))
    theirs = edit(BASE, ("contact: ada", "contact: bob"))
    result = merge_files(crlf(BASE), crlf(ours), theirs.encode(), "deals/acme.yaml")
    assert result.clean
    assert result.data == crlf(edit(ours, ("contact: ada", "contact: bob")))
    theirs = edit(theirs, ("stage: proposal", "stage: lost"))
    result = merge_files(crlf(BASE), crlf(ours), theirs.encode(), "deals/acme.yaml")
    assert result.conflicts == ("stage",)
    assert result.data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n<<<<<<< ours\r\nstage: won\r\n=======\r\nstage: lost\r\n>>>>>>> theirs\r\n" in (
        result.data
    )
    assert result.data.count(b"\n") == result.data.count(b"\r\n")


def test_a_file_without_a_last_line_break_marks_only_the_conflict():
    base = 'title: S\nstage: a\nvalue: "1.00"'
    ours = 'title: S\nstage: b\nvalue: "1.00"'  # value left alone, and no line break after it
    theirs = 'title: S\nstage: c\nvalue: "1.00"\n'
    result, text = merged(base, ours, theirs)
    assert result.conflicts == ("stage",)
    assert text == (
        'title: S\n<<<<<<< ours\nstage: b\n=======\nstage: c\n>>>>>>> theirs\nvalue: "1.00"\n'
    )


ODD = """\
title:   Acme redesign    # spaced
stage: proposal
value:    "4500.00"
tags: [web,   design]
notes: "one
  two"
lost_reason: ~
updated: 2026-02-05T16:20:00Z
"""


def test_lines_of_fields_that_did_not_change_stay_as_we_wrote_them():
    ours = edit(ODD, ("stage: proposal", "stage: won"))
    theirs = edit(ODD, ("updated: 2026-02-05T16:20:00Z", "updated: 2026-02-06T16:20:00Z"))
    result, text = merged(ODD, ours, theirs)
    assert result.clean
    assert text == edit(ours, ("2026-02-05T16:20:00Z", "2026-02-06T16:20:00Z"))
    theirs = edit(theirs, ("stage: proposal", "stage: lost"))
    result, text = merged(ODD, ours, theirs)
    assert result.conflicts == ("stage",)
    assert text == edit(
        ours,
        ("stage: won\n", "<<<<<<< ours\nstage: won\n=======\nstage: lost\n>>>>>>> theirs\n"),
        ("2026-02-05T16:20:00Z", "2026-02-06T16:20:00Z"),
    )


def test_a_side_that_is_not_yaml_is_merged_line_by_line():
    broken = "title: X\nstage: [oops\n"
    result, text = merged("title: X\nstage: a\n", broken, "title: Y\nstage: a\n")
    assert result.as_text and "invalid YAML" in result.reason
    assert result.conflicts
    assert "<<<<<<< ours" in text and "title: Y" in text and "stage: [oops" in text


def test_a_side_that_is_not_a_mapping_is_merged_line_by_line():
    result, text = merged("- a\n", "- a\n- b\n", "- a\n")
    assert result.as_text and result.clean and text == "- a\n- b\n"


NASTY = st.one_of(
    st.sampled_from(["no", "yes", "2024-01-01", "[bold]", "=SUM(A1)", "😀", "a\nb", "0123", ""]),
    st.text(max_size=12),
    st.integers(),
    st.booleans(),
)
KEYS = ("title", "company", "notes", "lost_reason", "source", "x_own")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.fixed_dictionaries({k: NASTY for k in KEYS}),
    ours=st.dictionaries(st.sampled_from(KEYS[:3]), NASTY),
    theirs=st.dictionaries(st.sampled_from(KEYS[3:]), NASTY),
)
@example(base=dict.fromkeys(KEYS, "no"), ours={"title": "yes"}, theirs={"x_own": "2024-01-01"})
def test_disjoint_changes_of_any_values_merge_to_both(base, ours, theirs):
    """Whatever the values, what each side changed arrives, and reads back as that side wrote."""
    texts = [yamlio.dump_new(d) for d in (base, {**base, **ours}, {**base, **theirs})]
    result = merge_files(*(t.encode() for t in texts), "deals/d.yaml")
    assert result.clean and not result.as_text
    expected = yamlio.parse(yamlio.dump_new({**base, **ours, **theirs}), "d").data
    assert yamlio.parse(result.data.decode(), "d").data == expected


# -- the command ------------------------------------------------------------------------------


def test_merge_file_writes_over_ours_and_exits_1_on_a_conflict(crm, tmp_path: Path):
    files = {}
    for name, text in (
        ("base", BASE),
        ("ours", edit(BASE, ("stage: proposal", "stage: lost"))),
        ("theirs", edit(BASE, ("stage: proposal", "stage: won"), ("contact: ada", "contact: bob"))),
    ):
        files[name] = tmp_path / f"{name}.yaml"
        files[name].write_text(text)
    args = [str(files[n]) for n in ("base", "ours", "theirs")]
    result = crm("merge-file", *args, "deals/acme.yaml")
    no_traceback(result)
    assert result.exit_code == 1
    assert "deals/acme.yaml: both sides changed stage" in result.stderr
    text = files["ours"].read_text()
    assert "contact: bob\n" in text and "<<<<<<< ours\nstage: lost\n=======\n" in text
    files["ours"].write_text(edit(BASE, ('value: "4500.00"', 'value: "1.00"')))
    result = crm("merge-file", *args, "deals/acme.yaml")
    assert result.exit_code == 0 and result.stderr == ""
    assert load(files["ours"])["value"] == "1.00"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ours=st.dictionaries(
        st.sampled_from(["title", "company", "phones"]), st.sampled_from(["x", "y"])
    ),
    theirs=st.dictionaries(
        st.sampled_from(["source", "notes", "tags"]), st.sampled_from(["x", "y"])
    ),
    comments=st.lists(st.tuples(st.integers(0, 12), st.booleans()), min_size=1, max_size=4),
)
def test_their_comments_are_never_dropped_silently(ours, theirs, comments):
    base = {
        "name": "Ada",
        "title": "CTO",
        "company": "acme",
        "phones": ["+49 30 1"],
        "source": "web",
        "notes": "one\ntwo",
        "tags": ["a", "b"],
    }

    def changed(values: dict) -> dict:
        return {**base, **{k: [v] if isinstance(base[k], list) else v for k, v in values.items()}}

    texts = [yamlio.dump_new(d) for d in (base, changed(ours), changed(theirs))]
    lines = texts[2].splitlines(keepends=True)
    for n, (at, whole) in enumerate(sorted(comments, reverse=True)):
        at = min(at, len(lines))
        if whole or at == 0:
            lines.insert(at, f"# note {n}\n")
        else:
            lines[at - 1] = lines[at - 1].rstrip("\n") + f"  # note {n}\n"
    their_text = "".join(lines)
    try:
        assume(yaml.safe_load(their_text) == yaml.safe_load(texts[2]))  # comments, not text
    except yaml.YAMLError:
        assume(False)
    result = merge_files(
        texts[0].encode(), texts[1].encode(), their_text.encode(), "contacts/a.yaml"
    )
    text = result.data.decode()
    for n in range(len(comments)):
        assert f"# note {n}" in text
    expected = yamlio.parse(yamlio.dump_new(changed({**ours, **theirs})), "a").data
    if result.clean:
        assert yamlio.parse(text, "a").data == expected
    else:
        assert result.comments and not result.conflicts
        kept = "".join(
            line
            for line in text.splitlines(keepends=True)
            if line[:7] not in ("<" * 7, "=" * 7, ">" * 7)
        )
        assert yamlio.parse(kept, "a").data == expected


def test_merge_file_exits_1_when_their_comments_are_marked(crm, tmp_path: Path):
    paths = []
    for name, text in (
        ("base", CONTACT),
        ("ours", edit(CONTACT, ("title: CTO", "title: CEO"))),
        ("theirs", edit(CONTACT, ("title: CTO", "title: CTO  # since May"))),
    ):
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(text)
    result = crm("merge-file", *map(str, paths), "contacts/ada.yaml")
    no_traceback(result)
    assert result.exit_code == 1
    assert result.stderr == (
        "contacts/ada.yaml: their comments could not be placed beside our changes: "
        "marked, to keep or delete\n"
    )
    assert "=======\n# since May\n>>>>>>> theirs\n" in paths[1].read_text()


# -- real merges of two branches --------------------------------------------------------------


def git(root: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if ok:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


@pytest.fixture
def shared(crm, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CRM folder made with git (autocommit on), hooks and merge driver installed, with
    billing settings, a customer, a contact and a deal."""
    assert crm("init", "--name", "Test Studio").ok
    config = isolated / "crm.yaml"
    text = config.read_text()
    config.write_text(text[: text.index("# Quotes and invoices")] + BILLING)
    git(isolated, "commit", "-q", "-m", "billing settings", "--", "crm.yaml")
    installed = crm("hooks", "install")
    assert installed.ok, installed.stderr
    monkeypatch.setenv("CRM_NOW", "2026-11-23T10:00:00")
    for args in (
        ("company", "add", "Acme GmbH", "--street", "Hauptstr. 1", "--postcode", "10115"),
        ("contact", "add", "Ada Lovelace", "--email", "ada@acme.example", "--company", "acme"),
        ("product", "add", "Design", "--price", "95", "--unit", "hour", "--id", "design"),
        ("deal", "add", "Acme redesign", "--company", "acme", "--value", "4500"),
    ):
        result = crm(*args)
        assert result.ok, (args, result.stderr)
    deal = isolated / "deals" / "acme-redesign.yaml"
    deal.write_text("# Our biggest deal this year.\n" + deal.read_text())
    git(isolated, "commit", "-q", "-m", "a comment", "--", "deals/acme-redesign.yaml")
    assert git(isolated, "status", "--porcelain").stdout == ""
    return isolated


def branches(root: Path, theirs, ours) -> subprocess.CompletedProcess[str]:
    """`theirs()` on a branch, `ours()` on the first, then `git merge` of the branch into it."""
    first = git(root, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    git(root, "checkout", "-q", "-b", "theirs")
    theirs()
    git(root, "checkout", "-q", first)
    ours()
    return git(root, "merge", "--no-edit", "theirs", ok=False)


def ran(crm, *args: str) -> None:
    result = crm(*args)
    assert result.ok, (args, result.stderr)


def test_git_merges_disjoint_field_changes_to_one_record_cleanly(crm, shared: Path):
    merge = branches(
        shared,
        lambda: ran(crm, "deal", "set", "acme-redesign", "value=5200", "close_date=2027-01-15"),
        lambda: ran(crm, "deal", "set", "acme-redesign", "contact=ada-lovelace", "tags=web"),
    )
    assert merge.returncode == 0, merge.stdout + merge.stderr
    text = (shared / "deals" / "acme-redesign.yaml").read_text()
    assert text.startswith("# Our biggest deal this year.\n")
    assert "<<<<<<<" not in text
    data = load(shared / "deals" / "acme-redesign.yaml")
    assert data["value"] == "5200.00" and str(data["close_date"]) == "2027-01-15"
    assert data["contact"] == "ada-lovelace" and data["tags"] == ["web"]
    assert git(shared, "status", "--porcelain").stdout == ""
    assert len(git(shared, "log", "-1", "--format=%P").stdout.split()) == 2  # a merge commit
    checked = crm("check")
    assert checked.ok, checked.stdout


def test_git_merge_of_one_field_changed_both_ways_conflicts_on_that_field(crm, shared: Path):
    merge = branches(
        shared,
        lambda: ran(crm, "deal", "set", "acme-redesign", "value=6000", "tags=web"),
        lambda: ran(crm, "deal", "set", "acme-redesign", "value=5000", "contact=ada-lovelace"),
    )
    assert merge.returncode == 1
    assert "CONFLICT" in merge.stdout and "deals/acme-redesign.yaml" in merge.stdout
    path = shared / "deals" / "acme-redesign.yaml"
    text = path.read_text()
    assert text.startswith("# Our biggest deal this year.\n")
    assert '<<<<<<< ours\nvalue: "5000.00"\n=======\nvalue: "6000.00"\n>>>>>>> theirs\n' in text
    assert text.count("<<<<<<<") == 1
    assert "contact: ada-lovelace\n" in text and "tags:\n  - web\n" in text  # both merged
    start = text.splitlines().index("<<<<<<< ours") + 1
    checked = crm("check")
    assert checked.exit_code == 1
    assert (
        f"deals/acme-redesign.yaml:{start}: unresolved merge conflict "
        f"(lines {start}-{start + 4}: keep the right lines" in checked.stdout
    )
    assert "invalid YAML" not in checked.stdout
    # Committing the markers is refused by the pre-commit hook ...
    git(shared, "add", "deals/acme-redesign.yaml")
    refused = git(shared, "commit", "--no-edit", ok=False)
    assert refused.returncode != 0
    assert "unresolved merge conflict" in refused.stdout + refused.stderr
    # ... and resolving them as docs/git.md says is accepted.
    path.write_text(
        text.replace('<<<<<<< ours\nvalue: "5000.00"\n=======\n', "").replace(
            ">>>>>>> theirs\n", ""
        )
    )
    assert crm("check").ok
    git(shared, "add", "deals/acme-redesign.yaml")
    git(shared, "commit", "--no-edit")
    assert load(path)["value"] == "6000.00"


def test_two_branches_issuing_invoices_merge_clean_and_check_finds_the_number_twice(
    crm, shared: Path
):
    def issue(title: str) -> None:
        rid = invoice_with_lines(crm, ["--product", "design", "--qty", "2"], title=title)
        ran(crm, "invoice", "issue", rid)

    merge = branches(shared, lambda: issue("Hosting"), lambda: issue("Website"))
    assert merge.returncode == 0, merge.stdout + merge.stderr
    numbers = {p.name: load(p)["number"] for p in (shared / "invoices").glob("*.yaml")}
    assert len(numbers) == 2 and len(set(numbers.values())) == 1
    checked = crm("check")
    assert checked.exit_code == 1
    number = next(iter(numbers.values()))
    assert f"invoices/website.yaml: number {number} is also on invoices/hosting.yaml" in (
        checked.stdout
    )


def test_a_contact_removed_on_one_branch_and_named_on_the_other_dangles(crm, shared: Path):
    merge = branches(
        shared,
        lambda: ran(crm, "contact", "rm", "ada-lovelace", "--yes"),
        lambda: ran(crm, "deal", "set", "acme-redesign", "contact=ada-lovelace"),
    )
    assert merge.returncode == 0, merge.stdout + merge.stderr
    checked = crm("check")
    assert checked.exit_code == 1
    assert "deals/acme-redesign.yaml:" in checked.stdout
    assert "contact: no contact 'ada-lovelace' (dangling reference)" in checked.stdout


def test_one_email_added_on_two_branches_is_found_after_the_merge(crm, shared: Path):
    merge = branches(
        shared,
        lambda: ran(crm, "contact", "add", "Grace Hopper", "--email", "grace@navy.example"),
        lambda: ran(crm, "contact", "add", "G. Hopper", "--email", "Grace@navy.example"),
    )
    assert merge.returncode == 0, merge.stdout + merge.stderr
    checked = crm("check")
    assert checked.exit_code == 1
    assert (
        "is also on contacts/" in checked.stdout and "grace@navy.example" in checked.stdout.lower()
    )


def test_the_driver_runs_as_git_configured_it(shared: Path):
    driver = git(shared, "config", "merge.crm.driver").stdout
    assert "-m crm merge-file %O %A %B %P" in driver
    # the same command line git runs, as a real process
    (shared / "b.yaml").write_text("title: A\nstage: x\n")
    (shared / "o.yaml").write_text("title: B\nstage: x\n")
    (shared / "t.yaml").write_text("title: A\nstage: y\n")
    result = run_process("merge-file", "b.yaml", "o.yaml", "t.yaml", "deals/d.yaml", cwd=shared)
    assert result.returncode == 0, result.stderr
    assert (shared / "o.yaml").read_text() == "title: B\nstage: y\n"


@pytest.mark.parametrize("how", ["merge", "rebase"])
def test_a_payment_taken_back_on_one_branch_stays_taken_back(crm, shared: Path, how: str):
    rid = invoice_with_lines(crm, ["--product", "design", "--qty", "2"])
    ran(crm, "invoice", "issue", rid)
    ran(crm, "invoice", "pay", rid, "--amount", "100", "--date", "2026-11-20")
    first = git(shared, "rev-parse", "--abbrev-ref", "HEAD").stdout.strip()
    git(shared, "checkout", "-q", "-b", "mine")
    ran(crm, "undo", "--yes")  # the payment was a mistake
    git(shared, "checkout", "-q", first)
    ran(crm, "invoice", "pay", rid, "--amount", "50", "--date", "2026-11-21")
    if how == "merge":
        result = git(shared, "merge", "--no-edit", "mine", ok=False)
    else:  # as `crm sync` does: my own commit replayed onto theirs
        git(shared, "checkout", "-q", "mine")
        result = git(shared, "rebase", first, ok=False)
    assert result.returncode == 0, result.stdout + result.stderr
    payments = load(shared / "invoices" / f"{rid}.yaml")["payments"]
    assert [p["amount"] for p in payments] == ["50.00"]
    assert crm("check").ok
