"""ID numbers are masked whatever text surrounds them, CJK included (issue 14): explicit
look-arounds instead of ``\\b``. Property-tested over random surrounding text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nhicard.core.masking import mask_ids_in_text
from nhicard.web.redact import Redactor

# text that may surround an ID: CJK, punctuation, spaces, full-width forms, emoji — anything
# but ASCII letters and digits glued to it (which would make it part of a longer token)
AROUND = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    ),
    max_size=12,
)
IDS = st.builds(
    lambda first, second, digits: f"{first}{second}{digits}",
    st.sampled_from("ABCDEFGHJKLMNPQRSTUVXYWZIO"),
    st.sampled_from("12ABCD89"),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
)


def test_id_next_to_cjk_is_masked() -> None:
    assert mask_ids_in_text("身分證字號A123456789號") == "身分證字號A12****789號"
    assert mask_ids_in_text("統一證號:AC01234567。") == "統一證號:AC0****567。"


def test_longer_tokens_are_left_alone() -> None:
    assert mask_ids_in_text("xA123456789") == "xA123456789"
    assert mask_ids_in_text("A1234567890") == "A1234567890"


@settings(max_examples=300)
@given(before=AROUND, ident=IDS, after=AROUND)
def test_any_surrounding_text_masks_the_id(before: str, ident: str, after: str) -> None:
    masked = mask_ids_in_text(before + ident + after)
    assert ident not in masked
    assert masked == before + ident[:3] + "****" + ident[-3:] + after


def test_trace_shows_only_the_length_of_aspnet_state() -> None:
    redactor = Redactor()
    for name in ("__VIEWSTATE", "__EVENTVALIDATION", "__VIEWSTATEGENERATOR"):
        assert redactor.field_value(name, "dDwtMTA4NzM2") == "[12 chars]"
    assert redactor.field_value("txtCity", "台北市") == "台北市"
