"""An HTML form that fills in and encodes exactly as a browser would.

Which controls are sent with which values (the entry list) is :mod:`nhicard.web.formdata`;
here: ``formaction`` / ``formmethod`` of the button override the form's; ``action`` is
resolved against the page URL; GET forms put the encoded pairs into the query.

Controls are found by name, by id, or by their visible label text: ``<label for>``, a wrapping
``<label>``, or the table layout of the NHI site where the label sits in a neighbouring
``<th>``/``<td>`` of the same row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup, NavigableString, Tag

from nhicard.core.i18n import T
from nhicard.web.encoding import urlencode_pairs
from nhicard.web.errors import (
    ChoiceRejected,
    ControlAmbiguous,
    ControlNotFound,
    UnsupportedForm,
)
from nhicard.web.formdata import (
    LINE_INPUT_TYPES,
    SUBMITTABLE,
    Option,
    Submission,
    attr_of,
    control_type,
    entry_list,
    inside,
    is_button,
    is_disabled,
    is_submit_button,
    nearest,
    option_disabled,
    option_value,
    select_options,
    select_state,
)
from nhicard.web.text import label_variants, normalize, normalize_label

_ADJACENT_TEXT_MAX = 40
_PLACEHOLDER_PREFIXES = ("請選擇", "請選取", "select", "choose", "--")


class ControlRef(Protocol):
    """What a site profile says about one control: its known names/ids and visible labels."""

    @property
    def names(self) -> tuple[str, ...]: ...

    @property
    def labels(self) -> tuple[str, ...]: ...


Key = str | ControlRef


@dataclass(frozen=True)
class ControlInfo:
    """A read-only description of one control, for listings and error messages."""

    tag: str
    type: str
    name: str
    id: str
    disabled: bool
    labels: tuple[str, ...]
    value: str
    options: tuple[Option, ...] = ()


def element_text(el: Tag) -> str:
    """Visible text of an element, pieces joined by single spaces."""
    return " ".join(el.get_text(" ", strip=True).split())


_INDEX_ATTR = "_nhicard_form_index"


class _FormIndex:
    """What the lookups of a page's forms need, computed once per parsed document instead of
    once per control and lookup: the controls in document order and their owner forms, the
    ``<label for>`` and ``id`` maps, each form's elements and each control's label texts.

    Kept on the document itself, so every :class:`Form` of the page (and its ``scoped``
    copies) shares it; a change of the tree that can alter them — a field added, a textarea's
    text replaced — drops it (:func:`_drop_index`)."""

    def __init__(self, document: Tag) -> None:
        self.controls: list[Tag] = document.find_all(SUBMITTABLE)
        self.labels_for: dict[str, list[Tag]] = {}
        for lab in document.find_all("label"):
            target = lab.get("for")
            if isinstance(target, str):
                self.labels_for.setdefault(target, []).append(lab)
        self.by_id: dict[str, Tag] = {}
        for el in document.find_all(id=True):
            ident = el.get("id")
            if isinstance(ident, str):
                self.by_id.setdefault(ident, el)
        self.elements: dict[int, list[Tag]] = {}  # id(form element) -> its controls
        self.labels: dict[int, tuple[list[str], list[str]]] = {}  # id(control) -> labels


def _index(document: Tag) -> _FormIndex:
    index = document.__dict__.get(_INDEX_ATTR)  # not getattr: a Tag's attributes find tags
    if not isinstance(index, _FormIndex):
        index = _FormIndex(document)
        setattr(document, _INDEX_ATTR, index)
    return index


def _drop_index(document: Tag) -> None:
    document.__dict__.pop(_INDEX_ATTR, None)


def _ref_names(key: Key) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if isinstance(key, str):
        return (key,), (key,)
    return tuple(key.names), tuple(key.labels)


def _describe(key: Key) -> str:
    names, labels = _ref_names(key)
    parts = list(dict.fromkeys([*names, *labels]))
    return " / ".join(parts) if parts else "?"


class Form:
    """A form of a page. Set values with ``form[key] = value``; build the request with
    :meth:`submission`. ``key`` is a name, an id, a visible label, or a :class:`ControlRef`."""

    def __init__(
        self,
        element: Tag,
        *,
        page_url: str,
        page_serial: int | None = None,
        scope: Tag | None = None,
    ) -> None:
        self.element = element
        self.page_url = page_url
        self.page_serial = page_serial
        self.scope = scope
        root = element
        while isinstance(root.parent, Tag):
            root = root.parent
        self.document: Tag = root

    def scoped(self, region: Tag) -> Form:
        """The same form (same values, same submission) whose lookups only see the controls
        inside ``region`` — e.g. the NHI-card column of eCPA's four login columns."""
        return Form(
            self.element, page_url=self.page_url, page_serial=self.page_serial, scope=region
        )

    # -- structure ---------------------------------------------------------------------
    def _owner(self, el: Tag) -> Tag | None:
        form_id = attr_of(el, "form")
        if form_id:
            return self.document.find("form", id=form_id)
        return nearest(el, "form")

    def elements(self) -> list[Tag]:
        """Every control owned by this form, in document order (``form=`` attribute honoured)."""
        index = _index(self.document)
        found = index.elements.get(id(self.element))
        if found is None:
            found = [el for el in index.controls if self._owner(el) is self.element]
            index.elements[id(self.element)] = found
        return list(found)

    def controls(self) -> list[ControlInfo]:
        """A description of every control (for listings, diagnostics and error messages)."""
        out = []
        for el in self.elements():
            strong, weak = self._labels(el)
            options: tuple[Option, ...] = ()
            if el.name == "select":
                options = tuple(select_state(el))
            out.append(
                ControlInfo(
                    tag=el.name or "",
                    type=control_type(el),
                    name=attr_of(el, "name"),
                    id=attr_of(el, "id"),
                    disabled=is_disabled(el),
                    labels=tuple(dict.fromkeys(strong + weak)),
                    value=self._display_value(el),
                    options=options,
                )
            )
        return out

    @property
    def method(self) -> str:
        return "POST" if attr_of(self.element, "method").strip().lower() == "post" else "GET"

    @property
    def action(self) -> str:
        return self._resolve_url(attr_of(self.element, "action"))

    def _resolve_url(self, target: str) -> str:
        base = self.page_url
        base_el = self.document.find("base", href=True)
        if isinstance(base_el, Tag):
            base = urljoin(self.page_url, attr_of(base_el, "href").strip())
        target = target.strip()
        if not target:
            return self.page_url
        return urljoin(base, target)

    # -- labels ------------------------------------------------------------------------
    def _text_outside(self, container: Tag, el: Tag) -> str:
        pieces = [str(s) for s in container.strings if not inside(s, el)]
        return " ".join(" ".join(pieces).split())

    def _row_label(self, el: Tag) -> str | None:
        cell = nearest(el, "td", "th")
        if cell is None or not isinstance(cell.parent, Tag) or cell.parent.name != "tr":
            return None
        cells = [c for c in cell.parent.find_all(["td", "th"], recursive=False)]
        index = next((i for i, c in enumerate(cells) if c is cell), None)
        if index is None:
            return None
        for candidate in reversed(cells[:index]):
            if candidate.find(SUBMITTABLE) is not None:
                continue
            text = element_text(candidate)
            if text:
                return text
        return None

    def _labels(self, el: Tag) -> tuple[list[str], list[str]]:
        """Visible label texts of a control: (strong, weak). Strong: ``<label>``, aria, the
        row's label cell, a button's own text. Weak: title, placeholder, a drop-down's
        placeholder option, short text right next to the control."""
        index = _index(self.document)
        known = index.labels.get(id(el))
        if known is None:
            known = self._find_labels(el, index)
            index.labels[id(el)] = known
        return list(known[0]), list(known[1])

    def _find_labels(self, el: Tag, index: _FormIndex) -> tuple[list[str], list[str]]:
        strong: list[str] = []
        weak: list[str] = []
        ctype = control_type(el)
        if ctype == "hidden":
            return strong, weak
        ident = attr_of(el, "id")
        if ident:
            for lab in index.labels_for.get(ident, ()):
                strong.append(element_text(lab))
        wrapping = nearest(el, "label")
        if wrapping is not None and attr_of(wrapping, "for") in ("", ident):
            strong.append(self._text_outside(wrapping, el))
        aria = attr_of(el, "aria-label")
        if aria:
            strong.append(aria)
        for ref in attr_of(el, "aria-labelledby").split():
            target = index.by_id.get(ref)
            if isinstance(target, Tag):
                strong.append(element_text(target))
        if is_button(el):
            own = attr_of(el, "value") if el.name == "input" else element_text(el)
            if ctype == "image":
                own = attr_of(el, "alt")
            strong.append(own)
        else:
            row = self._row_label(el)
            if row:
                strong.append(row)
            prev_label = el.find_previous_sibling()
            if (
                isinstance(prev_label, Tag)
                and prev_label.name == "label"
                and not prev_label.has_attr("for")
                and prev_label.find(SUBMITTABLE) is None
            ):
                strong.append(element_text(prev_label))
            if el.name == "select":
                opts = select_options(el)
                if opts:
                    first = opts[0]
                    text = " ".join(first.get_text().split())
                    if option_value(first) == "" or normalize(text).startswith(
                        _PLACEHOLDER_PREFIXES
                    ):
                        for prefix in _PLACEHOLDER_PREFIXES[:2]:
                            text = text.removeprefix(prefix)
                        weak.append(text)
            for sibling in (el.next_sibling, el.previous_sibling):
                if isinstance(sibling, NavigableString) and not isinstance(sibling, Tag):
                    text = " ".join(str(sibling).split())
                    if text and len(text) <= _ADJACENT_TEXT_MAX:
                        weak.append(text)
        for attr in ("title", "placeholder"):
            if attr_of(el, attr):
                weak.append(attr_of(el, attr))
        return [s for s in strong if s], [w for w in weak if w]

    # -- lookup ------------------------------------------------------------------------
    def _group(self, el: Tag, pool: list[Tag]) -> list[Tag]:
        name = attr_of(el, "name")
        if name and control_type(el) in ("radio", "checkbox"):
            return [
                e
                for e in pool
                if attr_of(e, "name") == name and control_type(e) == control_type(el)
            ]
        return [el]

    def _by_label(self, label: str, pool: list[Tag]) -> list[Tag] | None:
        wanted = label_variants(label)
        if not wanted:
            return None
        labelled = [(el, *self._labels(el)) for el in pool]
        stages = (
            lambda strong, weak: any(wanted & label_variants(t) for t in strong),
            lambda strong, weak: any(wanted & label_variants(t) for t in weak),
            lambda strong, weak: (
                len(normalize_label(label)) >= 2
                and any(
                    normalize_label(label) in v for t in strong + weak for v in label_variants(t)
                )
            ),
        )
        for accept in stages:
            hits = [el for el, strong, weak in labelled if accept(strong, weak)]
            if not hits:
                continue
            groups: dict[int, list[Tag]] = {}
            for hit in hits:
                group = self._group(hit, pool)
                groups.setdefault(id(group[0]), group)
            if len(groups) > 1:
                described = [
                    attr_of(g[0], "name") or attr_of(g[0], "id") or control_type(g[0])
                    for g in groups.values()
                ]
                raise ControlAmbiguous(
                    T(
                        "頁面上有多個欄位符合「{label}」:{list}",
                        "several controls on the page match '{label}': {list}",
                    ).format(label=label, list=", ".join(described)),
                    hint=T(
                        "請在網站設定檔(profile)中指明欄位名稱。",
                        "Name the control in the site profile.",
                    ),
                )
            return next(iter(groups.values()))
        return None

    def find_all(self, key: Key, *, buttons: bool | None = None) -> list[Tag] | None:
        """The elements of the control ``key`` names (a radio/checkbox group has several),
        or None. ``buttons``: True → only buttons, False → no buttons, None → both."""
        pool = self.elements()
        if self.scope is not None:
            scope = self.scope
            pool = [el for el in pool if el is scope or inside(el, scope)]
        if buttons is not None:
            pool = [el for el in pool if is_button(el) == buttons]
        names, labels = _ref_names(key)
        for name in names:
            by_name = [el for el in pool if attr_of(el, "name") == name]
            if by_name:
                return self._group(by_name[0], pool) if len(by_name) == 1 else by_name
            by_id = [el for el in pool if attr_of(el, "id") == name]
            if by_id:
                return self._group(by_id[0], pool)
        for label in labels:
            found = self._by_label(label, pool)
            if found:
                return found
        return None

    def find(self, key: Key, *, buttons: bool | None = None) -> list[Tag]:
        """Like :meth:`find_all` but raises :class:`ControlNotFound` (exit 11)."""
        found = self.find_all(key, buttons=buttons)
        if not found:
            raise ControlNotFound(
                T(
                    "頁面上找不到欄位「{key}」(網站可能已改版)",
                    "no control '{key}' on the page (the site may have changed)",
                ).format(key=_describe(key)),
                hint=T(
                    "請以 --save-pages 保存頁面,並更新網站設定檔(profile)。",
                    "Save the pages with --save-pages and update the site profile.",
                ),
            )
        return found

    def options(self, key: Key) -> list[Option]:
        """The options of the drop-down ``key`` names, with their current selectedness."""
        el = self.find(key, buttons=False)[0]
        if el.name != "select":
            raise UnsupportedForm(
                T("「{key}」不是下拉選單", "'{key}' is not a drop-down").format(key=_describe(key))
            )
        return select_state(el)

    def has(self, key: Key) -> bool:
        """True if the form has the control (by name, id or label)."""
        try:
            return self.find_all(key) is not None
        except ControlAmbiguous:
            return True

    # -- values ------------------------------------------------------------------------
    def _display_value(self, el: Tag) -> str:
        if el.name == "select":
            return ",".join(o.value for o in select_state(el) if o.selected)
        if el.name == "textarea":
            return el.get_text()
        if control_type(el) == "password":
            return ""
        return attr_of(el, "value")

    def __getitem__(self, key: Key) -> str | list[str]:
        """The current value: a string; a list for multiple selects and checkbox groups."""
        els = self.find(key)
        first = els[0]
        kind = control_type(first)
        if first.name == "select":
            chosen = [o.value for o in select_state(first) if o.selected]
            return chosen if first.has_attr("multiple") else (chosen[0] if chosen else "")
        if kind == "checkbox":
            return [attr_of(e, "value") or "on" for e in els if e.has_attr("checked")]
        if kind == "radio":
            return next((attr_of(e, "value") or "on" for e in els if e.has_attr("checked")), "")
        if first.name == "textarea":
            return first.get_text()
        return attr_of(first, "value")

    def __setitem__(self, key: Key, value: str | bool | Sequence[str]) -> None:
        self.set(key, value)

    def set(self, key: Key, value: str | bool | Sequence[str]) -> None:
        """Set a control's value the way a user would (select an option, tick a box, type).

        A ``<select>`` accepts an option's value or its visible text; anything else raises
        :class:`ChoiceRejected` listing the options. Checkboxes accept True/False or values.
        """
        els = self.find(key, buttons=False)
        first = els[0]
        if any(is_disabled(e) for e in els):
            raise ControlNotFound(
                T("欄位「{key}」目前無法填寫(已停用)", "control '{key}' is disabled").format(
                    key=_describe(key)
                ),
                reason="control-disabled",
            )
        kind = control_type(first)
        if first.name == "select":
            self._set_select(first, key, value)
        elif kind in ("checkbox", "radio"):
            self._set_checkable(els, kind, key, value)
        elif kind == "file" or not isinstance(value, str):
            raise UnsupportedForm(
                T(
                    "欄位「{key}」無法設定為此值",
                    "control '{key}' cannot take this value",
                ).format(key=_describe(key))
            )
        elif first.name == "textarea":
            first.clear()
            first.append(value)
            _drop_index(self.document)  # its text may be part of a label
        else:
            if kind in LINE_INPUT_TYPES:
                value = value.replace("\r", "").replace("\n", "")
            first["value"] = value

    def _set_select(self, el: Tag, key: Key, value: str | bool | Sequence[str]) -> None:
        wanted = (
            [value]
            if isinstance(value, str)
            else list(value)
            if not isinstance(value, bool)
            else []
        )
        if not wanted or (len(wanted) > 1 and not el.has_attr("multiple")):
            raise UnsupportedForm(
                T(
                    "下拉選單「{key}」只能選一個值", "drop-down '{key}' takes exactly one value"
                ).format(key=_describe(key))
            )
        opts = select_options(el)
        chosen: list[Tag] = []
        for item in wanted:
            match = [o for o in opts if option_value(o) == item] or [
                o for o in opts if normalize(" ".join(o.get_text().split())) == normalize(item)
            ]
            if not match or option_disabled(match[0]):
                texts = [" ".join(o.get_text().split()) for o in opts if not option_disabled(o)]
                raise ChoiceRejected(
                    T(
                        "「{value}」不在「{key}」的選項中;可選:{options}",
                        "'{value}' is not an option of '{key}'; options: {options}",
                    ).format(value=item, key=_describe(key), options=", ".join(texts)),
                    candidates=texts,
                    reason="not-an-option",
                )
            chosen.append(match[0])
        chosen_ids = {id(o) for o in chosen}
        for o in opts:
            if id(o) in chosen_ids:
                o["selected"] = "selected"
            elif o.has_attr("selected"):
                del o["selected"]

    def _set_checkable(
        self, els: list[Tag], kind: str, key: Key, value: str | bool | Sequence[str]
    ) -> None:
        if isinstance(value, bool):
            if kind == "radio" and len(els) > 1:
                raise UnsupportedForm(
                    T("單選欄位「{key}」需指定值", "radio group '{key}' needs a value").format(
                        key=_describe(key)
                    )
                )
            on = {id(e) for e in els} if value else set()
        else:
            wanted = {value} if isinstance(value, str) else set(value)
            if kind == "radio" and len(wanted) != 1:
                raise UnsupportedForm(
                    T(
                        "單選欄位「{key}」只能選一個值", "radio group '{key}' takes one value"
                    ).format(key=_describe(key))
                )
            values = [attr_of(e, "value") or "on" for e in els]
            missing = wanted - set(values)
            if missing:
                raise ChoiceRejected(
                    T(
                        "「{value}」不在「{key}」的選項中;可選:{options}",
                        "'{value}' is not an option of '{key}'; options: {options}",
                    ).format(
                        value=", ".join(sorted(missing)),
                        key=_describe(key),
                        options=", ".join(values),
                    ),
                    candidates=values,
                    reason="not-an-option",
                )
            on = {id(e) for e, v in zip(els, values, strict=True) if v in wanted}
        for e in els:
            if id(e) in on:
                e["checked"] = "checked"
            elif e.has_attr("checked"):
                del e["checked"]

    def ensure_field(self, name: str, value: str) -> None:
        """Set a field by exact name, adding a hidden input at the end of the form if the page
        has none (as ``__doPostBack`` needs ``__EVENTTARGET``)."""
        for el in self.elements():
            if attr_of(el, "name") == name and el.name == "input":
                el["value"] = value
                return
        soup = BeautifulSoup("", "html.parser")
        field = soup.new_tag("input", attrs={"type": "hidden", "name": name, "value": value})
        self.element.append(field)
        _drop_index(self.document)

    # -- submission --------------------------------------------------------------------
    def _entries(self, submitter: Tag | None) -> Iterator[tuple[str, str]]:
        return entry_list(self.elements(), submitter)

    def submitter(self, key: Key) -> Tag:
        """The submit button ``key`` names (by name, id or its visible text)."""
        els = self.find(key, buttons=True)
        button = els[0]
        if not is_submit_button(button):
            raise UnsupportedForm(
                T(
                    "「{key}」不是送出按鈕(它執行網頁程式)",
                    "'{key}' is not a submit button (it runs page script)",
                ).format(key=_describe(key)),
                reason="not-a-submit-button",
            )
        return button

    def submission(self, submit: Key | Tag | None = None) -> Submission:
        """The request a browser sends when the form is submitted with button ``submit``
        (or with no button, as script's ``form.submit()`` does)."""
        button = (
            self.submitter(submit) if submit is not None and not isinstance(submit, Tag) else submit
        )
        method = attr_of(self.element, "method")
        action = attr_of(self.element, "action")
        enctype = attr_of(self.element, "enctype")
        if button is not None:
            if button.has_attr("formmethod"):
                method = attr_of(button, "formmethod")
            if button.has_attr("formaction"):
                action = attr_of(button, "formaction")
            if button.has_attr("formenctype"):
                enctype = attr_of(button, "formenctype")
        verb = "POST" if method.strip().lower() == "post" else "GET"
        url = self._resolve_url(action)
        enctype = enctype.strip().lower() or "application/x-www-form-urlencoded"
        if verb == "POST" and enctype != "application/x-www-form-urlencoded":
            raise UnsupportedForm(
                T("不支援此表單編碼:{enctype}", "unsupported form encoding: {enctype}").format(
                    enctype=enctype
                )
            )
        pairs = tuple(self._entries(button))
        secret = frozenset(
            attr_of(el, "name") for el in self.elements() if control_type(el) == "password"
        )
        if verb == "GET":
            parts = urlsplit(url)
            url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode_pairs(pairs), ""))
        return Submission(verb, url, pairs, secret, self.page_serial)


def forms_of(soup: Tag, *, page_url: str, page_serial: int | None = None) -> list[Form]:
    """Every ``<form>`` of a parsed page, in document order."""
    return [Form(el, page_url=page_url, page_serial=page_serial) for el in soup.find_all("form")]
